//! Franked messages and verifiable reports (issue 30, points 1, 2 and 5): every message carries the sender's
//! commitment, which the server binds to it and relays; the receiving client refuses one whose commitment does not
//! open; a report may reveal messages the reported user sent, and the server stores only those that verify, for
//! moderators, never in an export, until the report's retention or either account's purge. Forged, altered,
//! misattributed and replayed reveals are refused with their codes and store nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{Chat, ClientError, Connection, E2eError};
use tanis_proto::franking::{self, KEY_LEN};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ReportReason, Reveal, Seq, ServerFrame};
use tanis_workers::schedule::Job;

use crate::deletion::{account, delete_me};
use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, spawn_app};
use crate::on_both_stores;
use crate::reporters::report_with;

on_both_stores!(
    a_true_reveal_is_verified_and_moderators_see_it_marked_verified,
    forged_altered_and_misattributed_reveals_are_refused_and_store_nothing,
    a_replayed_reveal_is_refused_and_evidence_can_follow_a_report,
    a_receiving_client_refuses_a_message_whose_commitment_does_not_open,
    evidence_outlives_the_content_deletion_and_goes_with_the_reports_retention,
    no_export_holds_evidence_and_a_purged_account_takes_it_along,
    an_appeal_against_a_ban_on_a_franked_report_is_decided_with_the_evidence_in_view,
);

/// `b` sends `texts` to `a`, who reads each (its commitment opening); their seqs.
pub(crate) async fn said(
    (sa, chat_a): (&mut Connection, &mut Chat),
    (sb, chat_b): (&mut Connection, &mut Chat),
    texts: &[&str],
) -> Vec<Seq> {
    let mut seqs = Vec::new();
    for text in texts {
        sb.send(&chat_b.message(text)).await.unwrap();
        let frame = sa.next_where(|f| matches!(f, ServerFrame::Msg { mine: false, .. })).await.unwrap();
        assert_eq!(chat_a.read(&frame).unwrap(), *text);
        let ServerFrame::Msg { seq, .. } = frame else { unreachable!() };
        seqs.push(seq);
    }
    seqs
}

pub(crate) async fn answer(socket: &mut Connection) -> ServerFrame {
    socket.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await.unwrap()
}

fn refused(frame: &ServerFrame, code: ErrorCode) {
    match frame {
        ServerFrame::Error { code: got, .. } => assert_eq!(*got, code, "{frame:?}"),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

fn report(chat: &Chat, evidence: Vec<Reveal>) -> ClientFrame {
    let ClientFrame::Report { id, match_id, reason_code, details, .. } =
        chat.report(ReportReason::Harassment, None, &[]).unwrap()
    else {
        unreachable!()
    };
    ClientFrame::Report { id, match_id, reason_code, details, evidence }
}

/// The reveal `chat` would send for `seq`.
fn reveal(chat: &Chat, seq: Seq) -> Reveal {
    let ClientFrame::Report { evidence, .. } = chat.report(ReportReason::Harassment, None, &[seq]).unwrap() else {
        unreachable!()
    };
    evidence.into_iter().next().unwrap()
}

/// The open reports about `user` as moderators see them.
pub(crate) async fn queued_reports(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let moderator = app.staff(&format!("bekci{}", user.id.get()), "moderator").await;
    let (_, queue) = app.get_json("/v1/admin/reports", &app.access_token(&moderator).await).await;
    let users = queue["users"].as_array().unwrap();
    users
        .iter()
        .filter(|u| u["user_id"] == user.id.get())
        .flat_map(|u| u["reports"].as_array().unwrap().clone())
        .collect()
}

async fn stored_evidence(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM report_evidence").await
}

async fn a_true_reveal_is_verified_and_moderators_see_it_marked_verified(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("sabirli").await, app.user("kaba").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["merhaba", "sen kimsin ki", "defol"]).await;

    // The commitment travels with the message and is bound to its metadata.
    let bound = app.count(format!(
        "SELECT COUNT(*) FROM message_logs WHERE match_id = {} AND commitment IS NOT NULL",
        chat_a.info.match_id.get()
    ));
    assert_eq!(bound.await, 3);

    sa.send(&chat_a.report(ReportReason::Harassment, Some("hakaret"), &seqs[1..]).unwrap()).await.unwrap();
    assert_eq!(answer(&mut sa).await, ServerFrame::Ok { id: Some("report".into()) });

    let reports = queued_reports(&app, &b).await;
    assert_eq!(reports.len(), 1);
    let evidence = reports[0]["evidence"].as_array().unwrap();
    let shown: Vec<(i64, &str, &str)> = evidence
        .iter()
        .map(|e| (e["seq"].as_i64().unwrap(), e["text"].as_str().unwrap(), e["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, [(seqs[1].0, "sen kimsin ki", "verified"), (seqs[2].0, "defol", "verified")]);
    assert_eq!(evidence[0]["match_id"], chat_a.info.match_id.get());

    // A resume replays the commitment with the message.
    sb.send(&ClientFrame::Resume { id: Some("r".into()), match_id: chat_b.info.match_id, after_seq: Seq(0) })
        .await
        .unwrap();
    let replayed = sb.next_where(|f| matches!(f, ServerFrame::Msg { .. })).await.unwrap();
    let ServerFrame::Msg { commitment, mine: true, .. } = replayed else { panic!("{replayed:?}") };
    assert_eq!(commitment.map(|c| STANDARD.decode(c).unwrap().len()), Some(32));
}

async fn forged_altered_and_misattributed_reveals_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("dogrucu").await, app.user("yalanci").await);
    let (c, d) = (app.user("baska").await, app.user("diger").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let (mut sc, mut chat_c, mut sd, mut chat_d) = app.pair(&c, &d, MatchKind::Text).await;
    let [theirs, next] = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["kaba söz", "daha kaba"]).await[..]
    else {
        unreachable!()
    };
    // a's own message to b, read by b.
    let own = said((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), &["kibar cevap"]).await[0];
    // d's message to c, in another match.
    let elsewhere = said((&mut sc, &mut chat_c), (&mut sd, &mut chat_d), &["başka eşleşme"]).await[0];

    let true_reveal = reveal(&chat_a, theirs);
    let altered = Reveal { text_utf8: STANDARD.encode("çok daha kaba söz"), ..true_reveal.clone() };
    let wrong_key = Reveal { franking_key: STANDARD.encode([5u8; 32]), ..true_reveal.clone() };
    // A real key the reporter holds, of the sender's next message: a key opens only its own message.
    let borrowed_key = Reveal { franking_key: reveal(&chat_a, next).franking_key, ..true_reveal.clone() };
    let short_key = Reveal { franking_key: STANDARD.encode([5u8; 31]), ..true_reveal.clone() };
    let own_message = reveal(&chat_b, own);
    let moved = Reveal { seq: own, ..true_reveal.clone() };
    let nonexistent = Reveal { seq: Seq(99), ..true_reveal.clone() };
    // c's true reveal of d's message, claimed in a's report: the seq in a's match is someone else's message.
    let foreign = Reveal { seq: theirs, ..reveal(&chat_c, elsewhere) };
    let cases = [
        (vec![altered], ErrorCode::EvidenceForged),
        (vec![wrong_key], ErrorCode::EvidenceForged),
        (vec![borrowed_key], ErrorCode::EvidenceForged),
        (vec![foreign], ErrorCode::EvidenceForged),
        (vec![true_reveal.clone(), moved], ErrorCode::EvidenceNotTheirs),
        (vec![own_message], ErrorCode::EvidenceNotTheirs),
        (vec![nonexistent], ErrorCode::EvidenceNotTheirs),
        (vec![short_key], ErrorCode::InvalidBase64),
        (vec![true_reveal.clone(); 21], ErrorCode::InvalidField),
    ];
    for (evidence, code) in cases {
        sa.send(&report(&chat_a, evidence)).await.unwrap();
        refused(&answer(&mut sa).await, code);
    }
    // Someone else's match: c cannot report b through a's match, with or without a true reveal.
    let ClientFrame::Report { reason_code, .. } = report(&chat_c, Vec::new()) else { unreachable!() };
    let intruder = ClientFrame::Report {
        id: Some("x".into()),
        match_id: chat_a.info.match_id,
        reason_code,
        details: None,
        evidence: vec![true_reveal],
    };
    sc.send(&intruder).await.unwrap();
    refused(&answer(&mut sc).await, ErrorCode::NotMatched);

    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 0, "no refused report is stored");
    assert_eq!(stored_evidence(&app).await, 0);
    // The socket is still usable: none of these is a protocol error.
    sa.send(&chat_a.message("hâlâ buradayım")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
}

async fn a_replayed_reveal_is_refused_and_evidence_can_follow_a_report(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("tekrarci").await, app.user("hedef").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["bir", "iki"]).await;

    // Named twice in one report.
    sa.send(&report(&chat_a, vec![reveal(&chat_a, seqs[0]), reveal(&chat_a, seqs[0])])).await.unwrap();
    refused(&answer(&mut sa).await, ErrorCode::EvidenceReplayed);
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 0);

    // A bare report first, then evidence for it.
    sa.send(&report(&chat_a, Vec::new())).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    sa.send(&report(&chat_a, vec![reveal(&chat_a, seqs[0])])).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    // The same message again, with a new one: refused as a whole.
    sa.send(&report(&chat_a, vec![reveal(&chat_a, seqs[1]), reveal(&chat_a, seqs[0])])).await.unwrap();
    refused(&answer(&mut sa).await, ErrorCode::EvidenceReplayed);
    assert_eq!(stored_evidence(&app).await, 1, "the refused report added nothing");
    sa.send(&report(&chat_a, vec![reveal(&chat_a, seqs[1])])).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));

    let reports = queued_reports(&app, &b).await;
    assert_eq!(reports.len(), 1, "one report per reporter");
    let texts: Vec<&str> =
        reports[0]["evidence"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["bir", "iki"]);
}

async fn a_receiving_client_refuses_a_message_whose_commitment_does_not_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("alici").await, app.user("hileli").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    // b seals one text under one franking key but commits to another text under another key: the
    // invisible-salamander move franking rules out.
    let (sealed_key, innocent_key) = ([1u8; KEY_LEN], [2u8; KEY_LEN]);
    let sealed = chat_b.e2e.seal(&franking::payload(&sealed_key, "kaba söz".as_bytes()));
    let lying = ClientFrame::MsgSend {
        id: Some("lie".into()),
        match_id: chat_b.info.match_id,
        client_msg_id: "lie".into(),
        ciphertext: sealed.ciphertext,
        nonce: sealed.nonce,
        commitment: STANDARD.encode(franking::commit(&innocent_key, "masum söz".as_bytes())),
        ack: None,
    };
    sb.send(&lying).await.unwrap();
    let frame = sa.next_where(|f| matches!(f, ServerFrame::Msg { mine: false, .. })).await.unwrap();
    assert!(matches!(chat_a.read(&frame), Err(ClientError::E2e(E2eError::Franking))), "never shown as text");

    // Nor can the receiver reveal what was sealed, the text with the very key sealed beside it (what a client
    // that skipped the check would keep): the commitment bound at send time is to the other text, under the other
    // key; nor does the committed text with the key the receiver was given.
    let ServerFrame::Msg { seq, .. } = frame else { unreachable!() };
    let sealed_pair =
        Reveal { seq, text_utf8: STANDARD.encode("kaba söz"), franking_key: STANDARD.encode(sealed_key) };
    let committed_text = Reveal { text_utf8: STANDARD.encode("masum söz"), ..sealed_pair.clone() };
    for reveal in [sealed_pair, committed_text] {
        sa.send(&report(&chat_a, vec![reveal])).await.unwrap();
        refused(&answer(&mut sa).await, ErrorCode::EvidenceForged);
    }
    assert_eq!(stored_evidence(&app).await, 0);
}

async fn evidence_outlives_the_content_deletion_and_goes_with_the_reports_retention(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("saklayan").await, app.user("silinen").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["kanıt"]).await;

    // The content goes after 24 h (on PostgreSQL with its day, once the day's last possible message is 24 h old:
    // the clock starts at 09:30); the commitment stays with the metadata, so a later report still verifies.
    app.clock.advance(TimeDelta::hours(39));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
    sa.send(&chat_a.report(ReportReason::Harassment, None, &seqs).unwrap()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    assert_eq!(stored_evidence(&app).await, 1);

    let retention = TimeDelta::days(app.config.jobs.evidence_retention_days.into());
    app.clock.advance(retention - TimeDelta::minutes(1));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(stored_evidence(&app).await, 1, "kept until its retention");
    app.clock.advance(TimeDelta::minutes(2));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(stored_evidence(&app).await, 0, "deleted with the report's retention");
    let reports = queued_reports(&app, &b).await;
    assert_eq!(reports.len(), 1, "the report itself stays");
    assert_eq!(reports[0]["evidence"], Value::Array(Vec::new()));
}

async fn no_export_holds_evidence_and_a_purged_account_takes_it_along(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (account(&app, "ihbarci").await, account(&app, "ihbar_edilen").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a.user, &b.user, MatchKind::Text).await;
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["GIZLI-KANIT-metni"]).await;
    sa.send(&chat_a.report(ReportReason::Hate, None, &seqs).unwrap()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    assert_eq!(stored_evidence(&app).await, 1);

    for user in [&a.user, &b.user] {
        let export = app.client.get(app.url("/v1/me/export")).bearer_auth(&user.access).send().await.unwrap();
        assert_eq!(export.status(), StatusCode::OK);
        let text = export.text().await.unwrap();
        assert!(!text.contains("GIZLI-KANIT"), "{}'s export holds the evidence: {text}", user.handle);
    }

    drop((sa, sb));
    assert_eq!(delete_me(&app, &b.user.access, PASSWORD).await.status(), StatusCode::ACCEPTED);
    app.clock.advance(TimeDelta::days(app.config.auth.deletion_grace_days.into()) + TimeDelta::minutes(1));
    app.run_job(Job::Purge).await.unwrap();
    assert_eq!(stored_evidence(&app).await, 0, "the reported user's words go with their account");
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 1, "the report stays, re-keyed, for the statistics");
}

async fn ban_status(app: &TestApp, user: &TestUser) -> Value {
    let answer = app.post_json("/v1/ban/status", &json!({ "phone": user.phone, "password": PASSWORD })).await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

async fn an_appeal_against_a_ban_on_a_franked_report_is_decided_with_the_evidence_in_view(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("inceleyen", "moderator").await;
    let (a, b) = (app.user("magdur").await, app.user("itiraz_eden").await);
    report_with(&app, &a, &b, ReportReason::Harassment, true).await;
    let reports = queued_reports(&app, &b).await;
    assert_eq!(reports[0]["evidence"][0]["verdict"], "verified");

    app.ban(&moderator, b.id, "harassment").await;
    let status = ban_status(&app, &b).await;
    let facts = status["statement"]["facts"].as_str().unwrap();
    assert!(facts.contains("Reported by 1 person; 1 report carried verified evidence"), "{facts}");
    assert!(!facts.contains("kaba söz"), "the statement states that there is proof, not the proof: {facts}");
    let appeal = json!({ "phone": b.phone, "password": PASSWORD, "text": "o mesajı ben yazmadım" });
    assert_eq!(app.post_json("/v1/ban/appeal", &appeal).await.status(), StatusCode::CREATED);

    // The moderator deciding the appeal still has the verified message: the report stays open with it.
    let reports = queued_reports(&app, &b).await;
    let text = reports[0]["evidence"][0]["text"].as_str().unwrap();
    assert_eq!(text, format!("kaba söz {}", a.handle));
    let appeal_id = app.count(format!("SELECT id FROM appeals WHERE user_id = {}", b.id.get())).await;
    let path = format!("/v1/admin/appeals/{appeal_id}/decision");
    let body = json!({ "decision": "reject", "note": "doğrulanmış mesaj" });
    let decided =
        app.client.post(app.url(&path)).bearer_auth(app.access_token(&moderator).await).json(&body).send().await;
    assert_eq!(decided.unwrap().status(), StatusCode::NO_CONTENT);

    let status = ban_status(&app, &b).await;
    assert_eq!(status["appeal"]["status"], "rejected");
    let rejection = &app.store.statements_of(b.id, 1).await.unwrap()[0];
    assert_eq!(rejection.decision.as_str(), "appeal_rejected");
    // The banned user's own export: their statements, never the evidence against them.
    let export = app.post_json("/v1/ban/export", &json!({ "phone": b.phone, "password": PASSWORD })).await;
    let export = export.text().await.unwrap();
    assert!(export.contains("appeal_rejected") && !export.contains("kaba söz"), "{export}");
}
