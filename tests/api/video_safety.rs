//! The video safety policy (docs/protocol.md "Video safety"): `match.found` of a video match tells each side how long
//! to blur the stranger's picture, longer when the stranger's account is new or unverified, as one coarse flag and
//! nothing more; a reconnect is told the same; a text match is told nothing.

use chrono::TimeDelta;
use tanis_proto::{MatchKind, ServerFrame, VideoSafety};

use crate::helpers::Backend;
use crate::on_both_stores;
use crate::reporters::verified_user;
use crate::twilio::spawn_with_sms;

on_both_stores!(a_video_match_blurs_longer_for_a_new_or_unverified_stranger_and_says_nothing_more);

const SETTLED: VideoSafety = VideoSafety { blur_secs: 3, caution: false };
const CAUTION: VideoSafety = VideoSafety { blur_secs: 10, caution: true };

async fn a_video_match_blurs_longer_for_a_new_or_unverified_stranger_and_says_nothing_more(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let (old_a, old_b) = (verified_user(&app, &twilio, "eski_a").await, verified_user(&app, &twilio, "eski_b").await);
    let (senior, elder) = (verified_user(&app, &twilio, "kidemli").await, verified_user(&app, &twilio, "yasli").await);
    let unverified = app.user("dogrulanmamis").await;
    app.clock.advance(TimeDelta::hours(25));
    let newcomer = verified_user(&app, &twilio, "yeni").await;

    // Two settled accounts: the short blur both ways.
    let (_sa, a, _sb, b) = app.pair(&old_a, &old_b, MatchKind::Video).await;
    assert_eq!((a.info.video_safety, b.info.video_safety), (Some(SETTLED), Some(SETTLED)));

    // An old account whose phone is not verified, and a verified one made a minute ago: each is met with caution,
    // while they themselves see their settled stranger as settled.
    let (_s1, by_unverified, _s2, by_senior) = app.pair(&unverified, &senior, MatchKind::Video).await;
    assert_eq!(by_senior.info.video_safety, Some(CAUTION), "the stranger's phone is not verified");
    assert_eq!(by_unverified.info.video_safety, Some(SETTLED));
    let (_s3, by_newcomer, _s4, by_elder) = app.pair(&newcomer, &elder, MatchKind::Video).await;
    assert_eq!(by_elder.info.video_safety, Some(CAUTION), "the stranger's account is new");
    assert_eq!(by_newcomer.info.video_safety, Some(SETTLED));

    // A reconnect hears its match's policy again in `hello`.
    let (_again, hello) = app.connect(&elder).await;
    let ServerFrame::Hello { active_match: Some(info), .. } = hello else { panic!("hello with the match: {hello:?}") };
    assert_eq!(info.video_safety, Some(CAUTION));

    // A text match carries none.
    let (x, y) = (app.user("yazi_x").await, app.user("yazi_y").await);
    let (_sx, text_x, _sy, text_y) = app.pair(&x, &y, MatchKind::Text).await;
    assert_eq!((text_x.info.video_safety, text_y.info.video_safety), (None, None));
}
