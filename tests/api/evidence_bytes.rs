//! Every message a client shows can be revealed in a report (issue 47, point 1): a reveal carries the exact bytes
//! the sender committed to (`text_utf8`, base64), so a leading U+FEFF, a U+0000, thousands of control characters
//! and a maximum-length text of quotes each verify, are stored on both stores, and reach the moderator exactly as
//! sent. The sender writes through the Rust client, the receiver reads and reports through it, and the moderator
//! reads `GET /v1/admin/reports`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tanis_proto::franking::KEY_LEN;
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ReportReason, Reveal, ServerFrame};

use crate::evidence::{answer, queued_reports, said};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_bom_a_nul_control_characters_and_a_longest_text_of_quotes_each_reveal_and_reach_the_moderator_exactly,
    a_reveal_whose_bytes_are_not_base64_or_not_utf8_or_too_long_is_refused_and_stores_nothing,
    twenty_reveals_of_maximum_length_messages_fit_one_report_under_the_default_frame_limit,
    the_25th_newest_message_still_reveals_and_verifies,
);

/// The XChaCha20-Poly1305 tag the E2E scheme appends (docs/protocol.md, section 9).
const TAG_LEN: usize = 16;

/// The longest text a message can carry: a ciphertext of `max_message_bytes` holds the franking key, the text and
/// the tag.
fn longest_text(app: &TestApp) -> usize {
    app.config.hub.max_message_bytes - KEY_LEN - TAG_LEN
}

/// The texts of the issue: each shown by both clients, each once impossible to reveal.
fn hard_texts(app: &TestApp) -> Vec<String> {
    vec![
        "\u{feff}merhaba, ben buradayım".to_owned(),
        "önce\0sonra\0".to_owned(),
        "\u{1}".repeat(5000),
        "\"".repeat(longest_text(app)),
    ]
}

/// The evidence texts the moderator sees for the reports about `user`, by seq.
async fn evidence_texts(app: &TestApp, user: &crate::helpers::TestUser) -> Vec<(i64, String)> {
    let mut texts: Vec<(i64, String)> = queued_reports(app, user)
        .await
        .iter()
        .flat_map(|r| r["evidence"].as_array().unwrap().clone())
        .map(|e| {
            assert_eq!(e["verdict"], "verified");
            (e["seq"].as_i64().unwrap(), e["text"].as_str().unwrap().to_owned())
        })
        .collect();
    texts.sort();
    texts
}

async fn a_bom_a_nul_control_characters_and_a_longest_text_of_quotes_each_reveal_and_reach_the_moderator_exactly(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("gosteren").await, app.user("gizleyen").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let texts = hard_texts(&app);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // `said` checks that the receiving client shows each exactly as sent.
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &refs).await;

    // One report each (evidence follows a report), so that each stands on its own.
    for seq in &seqs {
        let frame = chat_a.report(ReportReason::Harassment, None, &[*seq]).unwrap();
        sa.send(&frame).await.unwrap();
        assert_eq!(answer(&mut sa).await, ServerFrame::Ok { id: Some("report".into()) }, "seq {seq:?}");
    }

    let shown = evidence_texts(&app, &b).await;
    let expected: Vec<(i64, String)> = seqs.iter().map(|s| s.0).zip(texts).collect();
    assert_eq!(shown.len(), expected.len());
    for ((seq, got), (want_seq, want)) in shown.iter().zip(&expected) {
        assert_eq!(seq, want_seq);
        assert!(got == want, "seq {seq}: the moderator sees {} bytes, not the {} sent", got.len(), want.len());
    }
}

async fn a_reveal_whose_bytes_are_not_base64_or_not_utf8_or_too_long_is_refused_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("sinayan").await, app.user("sinanan").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let seq = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["düz metin"]).await[0];
    let ClientFrame::Report { evidence, .. } = chat_a.report(ReportReason::Spam, None, &[seq]).unwrap() else {
        unreachable!()
    };
    let true_reveal = evidence[0].clone();
    let with_text = |text_utf8: String| Reveal { text_utf8, ..true_reveal.clone() };
    let too_long = vec![b'a'; app.config.hub.max_message_bytes + 1];
    let cases = [
        // The text itself, unencoded: not base64.
        (with_text("düz metin".into()), ErrorCode::InvalidBase64),
        (with_text(STANDARD.encode(b"d\xfcz metin")), ErrorCode::InvalidField),
        (with_text(STANDARD.encode(too_long)), ErrorCode::InvalidField),
        // What a client that re-encodes what it showed without the first character would reveal.
        (with_text(STANDARD.encode("üz metin")), ErrorCode::EvidenceForged),
    ];
    for (reveal, code) in cases {
        let ClientFrame::Report { id, match_id, reason_code, details, .. } =
            chat_a.report(ReportReason::Spam, None, &[]).unwrap()
        else {
            unreachable!()
        };
        let frame = ClientFrame::Report { id, match_id, reason_code, details, evidence: vec![reveal] };
        sa.send(&frame).await.unwrap();
        match answer(&mut sa).await {
            ServerFrame::Error { code: got, .. } => assert_eq!(got, code),
            other => panic!("expected {code:?}, got {other:?}"),
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 0, "no refused report is stored");
    assert_eq!(app.count("SELECT COUNT(*) FROM report_evidence").await, 0);
    sa.send(&chat_a.report(ReportReason::Spam, None, &[seq]).unwrap()).await.unwrap();
    assert_eq!(answer(&mut sa).await, ServerFrame::Ok { id: Some("report".into()) }, "the true reveal still passes");
}

/// The documented cap (20 reveals) of the longest messages makes a `report` frame of ~440 KB; the default
/// `hub.max_frame_bytes` must hold it. Depends on the frame limit for reports (issue 47, point 1, the `limits`
/// change): under a 32 KiB limit for every frame this fails.
async fn twenty_reveals_of_maximum_length_messages_fit_one_report_under_the_default_frame_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("yirmi_kanit").await, app.user("uzun_yazan").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let longest = longest_text(&app);
    // Twenty different texts, each the longest a message carries.
    let texts: Vec<String> = (0..20).map(|i| format!("{i:02}{}", "\"".repeat(longest - 2))).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &refs).await;

    let frame = chat_a.report(ReportReason::Spam, None, &seqs).unwrap();
    assert!(serde_json::to_string(&frame).unwrap().len() > 400_000, "the largest report a client may send");
    sa.send(&frame).await.unwrap();
    assert_eq!(answer(&mut sa).await, ServerFrame::Ok { id: Some("report".into()) });
    let shown = evidence_texts(&app, &b).await;
    assert_eq!(shown.into_iter().map(|(_, text)| text).collect::<Vec<_>>(), texts);
}

/// A client keeps every message it was shown for a report, not only the newest ones (the web client's picker once
/// offered the 20 newest): the Rust client reveals the 25th-newest of 25 and the server verifies it.
async fn the_25th_newest_message_still_reveals_and_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("eskiyi_soran").await, app.user("cok_yazan").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let texts: Vec<String> = (1..=25).map(|i| format!("ileti {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &refs).await;

    let frame = chat_a.report(ReportReason::Harassment, None, &[seqs[0]]).unwrap();
    sa.send(&frame).await.unwrap();
    assert_eq!(answer(&mut sa).await, ServerFrame::Ok { id: Some("report".into()) });
    assert_eq!(evidence_texts(&app, &b).await, vec![(seqs[0].0, "ileti 1".to_owned())]);
}
