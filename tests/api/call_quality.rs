//! Call quality (docs/protocol.md §11 "Call quality", docs/operations.md "Call quality"): each side's `rtc.stats`
//! moves the Prometheus output of `/metrics` once per match, only from a member of the video match, and only with
//! believable figures; the embedded TURN relay's counters are exported beside them.

use chrono::TimeDelta;
use tanis::domain::MatchId;
use tanis_client::Connection;
use tanis_proto::{CallOutcome, ClientFrame, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{Backend, Scrape, TestApp, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    a_connected_and_a_failed_report_move_the_call_quality_metrics,
    only_the_first_report_of_each_side_counts_and_a_late_one_is_taken_for_two_minutes,
    strangers_text_matches_and_unbelievable_figures_are_refused_and_record_nothing,
    call_reports_share_the_signalling_rate_limit,
    the_embedded_turn_relays_counters_are_exported,
);

const CONNECTED: &str = "tanis_rtc_call_setups_total{outcome=\"connected\"}";
const FAILED: &str = "tanis_rtc_call_setups_total{outcome=\"failed\"}";
/// Every series a report moves.
const SERIES: &[&str] = &[
    CONNECTED,
    FAILED,
    "tanis_rtc_time_to_connect_seconds_count",
    "tanis_rtc_time_to_connect_seconds_sum",
    "tanis_rtc_relay_rtt_seconds_count",
    "tanis_rtc_packets_sent_total",
    "tanis_rtc_packets_lost_total",
];

fn stats(id: &str, match_id: MatchId, outcome: CallOutcome, setup_ms: i64) -> ClientFrame {
    ClientFrame::RtcStats {
        id: Some(id.into()),
        match_id,
        outcome,
        setup_ms,
        rtt_ms: None,
        packets_sent: None,
        packets_lost: None,
    }
}

/// Sends `frame` and returns its answer (`ok` or `error`), skipping whatever else arrives meanwhile.
async fn answer(socket: &mut Connection, frame: &ClientFrame) -> ServerFrame {
    socket.send(frame).await.unwrap();
    let id = frame.id().map(str::to_owned);
    socket
        .next_where(|f| match f {
            ServerFrame::Ok { id: answered } | ServerFrame::Error { id: answered, .. } => *answered == id,
            _ => false,
        })
        .await
        .unwrap()
}

fn assert_ok(answer: ServerFrame) {
    assert!(matches!(answer, ServerFrame::Ok { .. }), "{answer:?}");
}

fn assert_code(answer: ServerFrame, expected: ErrorCode) {
    let ServerFrame::Error { code, .. } = answer else { panic!("an error, not {answer:?}") };
    assert_eq!(code, expected);
}

/// How much each series of [`SERIES`] moved between two scrapes.
fn moved(before: &Scrape, after: &Scrape) -> Vec<(&'static str, f64)> {
    SERIES.iter().map(|s| (*s, after.value(s) - before.value(s))).filter(|(_, d)| *d != 0.0).collect()
}

async fn video_match(app: &TestApp, a: &str, b: &str) -> (Connection, Connection, MatchId) {
    let (a, b) = (app.user(a).await, app.user(b).await);
    let (sa, chat, sb, _) = app.pair(&a, &b, MatchKind::Video).await;
    (sa, sb, chat.info.match_id)
}

async fn a_connected_and_a_failed_report_move_the_call_quality_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut sa, mut sb, match_id) = video_match(&app, "kamera_a", "kamera_b").await;
    let before = app.scrape().await;

    let connected = ClientFrame::RtcStats {
        id: Some("s1".into()),
        match_id,
        outcome: CallOutcome::Connected,
        setup_ms: 1500,
        rtt_ms: Some(40),
        packets_sent: Some(1000),
        packets_lost: Some(10),
    };
    assert_ok(answer(&mut sa, &connected).await);
    assert_ok(answer(&mut sb, &stats("s2", match_id, CallOutcome::Failed, 30_000)).await);

    let after = app.scrape().await;
    assert_eq!(
        moved(&before, &after),
        [
            (CONNECTED, 1.0),
            (FAILED, 1.0),
            ("tanis_rtc_time_to_connect_seconds_count", 1.0),
            ("tanis_rtc_time_to_connect_seconds_sum", 1.5),
            ("tanis_rtc_relay_rtt_seconds_count", 1.0),
            ("tanis_rtc_packets_sent_total", 1000.0),
            ("tanis_rtc_packets_lost_total", 10.0),
        ],
        "a failure's setup time is not a time to connect"
    );
    assert!(after.has("tanis_rtc_time_to_connect_seconds_bucket"), "exported as a histogram, for percentiles");
}

async fn only_the_first_report_of_each_side_counts_and_a_late_one_is_taken_for_two_minutes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut sa, mut sb, match_id) = video_match(&app, "kamera_a", "kamera_b").await;
    let before = app.scrape().await;

    assert_ok(answer(&mut sa, &stats("first", match_id, CallOutcome::Connected, 900)).await);
    // A retry, or the next call of the same match: answered, not counted.
    assert_ok(answer(&mut sa, &stats("again", match_id, CallOutcome::Failed, 900)).await);
    assert_eq!(
        moved(&before, &app.scrape().await)[..2],
        [(CONNECTED, 1.0), ("tanis_rtc_time_to_connect_seconds_count", 1.0)]
    );

    // The peer gave up and left while this side's call was still failing: its report comes after the match.
    assert_ok(answer(&mut sa, &ClientFrame::MatchLeave { id: Some("leave".into()), match_id }).await);
    app.clock.advance(TimeDelta::seconds(119));
    assert_ok(answer(&mut sb, &stats("late", match_id, CallOutcome::Failed, 30_000)).await);
    assert_ok(answer(&mut sb, &stats("late-again", match_id, CallOutcome::Failed, 30_000)).await);
    let after = app.scrape().await;
    assert_eq!(after.value(FAILED) - before.value(FAILED), 1.0);
    assert_eq!(after.value(CONNECTED) - before.value(CONNECTED), 1.0);

    // Past two minutes after the end, the match takes no more reports.
    let (mut sc, _sd, late_match) = video_match(&app, "kamera_c", "kamera_d").await;
    assert_ok(answer(&mut sc, &ClientFrame::MatchLeave { id: Some("leave".into()), match_id: late_match }).await);
    app.clock.advance(TimeDelta::seconds(121));
    assert_code(
        answer(&mut sc, &stats("too-late", late_match, CallOutcome::Failed, 30_000)).await,
        ErrorCode::NotInMatch,
    );
    assert_eq!(moved(&after, &app.scrape().await), []);
}

async fn strangers_text_matches_and_unbelievable_figures_are_refused_and_record_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut sa, _sb, match_id) = video_match(&app, "kamera_a", "kamera_b").await;
    let (mut sc, _sd, _) = video_match(&app, "kamera_c", "kamera_d").await;
    let (e, f) = (app.user("yazi_e").await, app.user("yazi_f").await);
    let (mut se, chat, _sf, _) = app.pair(&e, &f, MatchKind::Text).await;
    let before = app.scrape().await;

    let stranger = answer(&mut sc, &stats("stranger", match_id, CallOutcome::Connected, 800)).await;
    assert_code(stranger, ErrorCode::NotInMatch);
    let text = answer(&mut se, &stats("text", chat.info.match_id, CallOutcome::Connected, 800)).await;
    assert_code(text, ErrorCode::NotInMatch);

    let figures = |id: &str, setup_ms, rtt_ms, packets_sent, packets_lost| ClientFrame::RtcStats {
        id: Some(id.into()),
        match_id,
        outcome: CallOutcome::Connected,
        setup_ms,
        rtt_ms,
        packets_sent,
        packets_lost,
    };
    for bad in [
        figures("negative setup", -1, None, None, None),
        figures("setup over 10 minutes", 600_001, None, None, None),
        figures("negative rtt", 800, Some(-3), None, None),
        figures("rtt over a minute", 800, Some(60_001), None, None),
        figures("more lost than sent", 800, None, Some(10), Some(11)),
        figures("negative packets", 800, None, Some(-10), Some(0)),
        figures("sent without lost", 800, None, Some(10), None),
    ] {
        let what = bad.id().unwrap().to_owned();
        let refused = answer(&mut sa, &bad).await;
        assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::InvalidField, .. }), "{what}: {refused:?}");
    }
    let outcome_not_in_the_enum = serde_json::json!({
        "type": "rtc.stats", "id": "maybe", "match_id": match_id, "outcome": "maybe", "setup_ms": 800
    });
    sa.send_raw(outcome_not_in_the_enum.to_string().into()).await.unwrap();
    let refused = sa.next_where(|f| matches!(f, ServerFrame::Error { .. })).await.unwrap();
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::InvalidFrame, .. }), "{refused:?}");
    assert_eq!(moved(&before, &app.scrape().await), [], "nothing refused is counted");

    // Nor marked: this side's one counted report is still to come.
    assert_ok(answer(&mut sa, &stats("good", match_id, CallOutcome::Connected, 800)).await);
    assert_eq!(app.scrape().await.value(CONNECTED) - before.value(CONNECTED), 1.0);
}

async fn call_reports_share_the_signalling_rate_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| (c.video.signals_per_second, c.video.signal_burst) = (1, 2)).await;
    let (mut sa, _sb, match_id) = video_match(&app, "kamera_a", "kamera_b").await;
    let before = app.scrape().await;
    // A burst of 2, refilled at one a second of the server's clock (which stands still until the test moves
    // it): the third frame is refused.
    for _ in 0..2 {
        sa.send(&ClientFrame::RtcOffer { id: None, match_id, sdp: "v=0\r\n".into() }).await.unwrap();
    }
    let limited = answer(&mut sa, &stats("s", match_id, CallOutcome::Connected, 700)).await;
    assert_code(limited, ErrorCode::RateLimited);
    assert_eq!(moved(&before, &app.scrape().await), []);
    // A second later the report goes through, and is counted.
    app.clock.advance(TimeDelta::seconds(1));
    assert_ok(answer(&mut sa, &stats("s2", match_id, CallOutcome::Connected, 700)).await);
    assert_eq!(app.scrape().await.value(CONNECTED) - before.value(CONNECTED), 1.0);
}

async fn the_embedded_turn_relays_counters_are_exported(backend: Backend) {
    let app = spawn_app(backend).await;
    let scrape = app.scrape().await;
    for name in [
        "tanis_turn_allocations",
        "tanis_turn_allocations_total",
        "tanis_turn_allocations_failed_total",
        "tanis_turn_permissions_total",
        "tanis_turn_channel_binds_total",
        "tanis_turn_packets_relayed_total",
        "tanis_turn_bytes_relayed_total",
        "tanis_turn_packets_dropped_total",
    ] {
        assert!(scrape.has(name), "{name} is exported:\n{}", scrape.0);
    }
}
