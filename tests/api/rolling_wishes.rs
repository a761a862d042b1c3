//! Issue 74 point 4 against the previous release's matchmaker itself: while a node of that release holds the
//! matchmaker lease, played by what it did in Redis in the capture (tests/api/fixtures/wire/, as
//! `cluster_wire` plays it), a node of this release refuses a find asking `only` (`seeking_unavailable`) and
//! queues one asking `prefer` without the wish. Nothing of a wish reaches a matchmaker that would pair without
//! it. Once that release's lease and liveness run out, `only` is queued with its wish.

use std::time::Duration;

use tanis_client::{Connection, Find, Identity};
use tanis_proto::{ClientFrame, ErrorCode, Gender, MatchKind, PreferenceMode, Seeking, ServerFrame};

use crate::cluster_wire::previous_release::{self, Capture, Holding, Run, this_version_in};
use crate::helpers::{eventually, matchmaking_key, redis_at, test_redis_url};
use crate::region::premium;

const WITHIN: Duration = Duration::from_secs(20);

fn wish(mode: PreferenceMode) -> Find {
    Find::new(MatchKind::Text).seeking(Seeking { genders: vec![Gender::Woman], mode })
}

/// The answer to `find` sent on `socket`; a find queued is cancelled again, to be asked once more.
async fn answer_to(socket: &mut Connection, find: Find, key: &str) -> ServerFrame {
    socket.send(&find.frame(Some("f".into()), key.to_owned())).await.unwrap();
    socket.next().await.unwrap()
}

/// The user's place in the cluster's queue, as Redis holds it.
async fn entry(redis: &mut tanis::redis_link::Conn, queue: &str, user: i64) -> Option<String> {
    redis::cmd("HGET").arg(queue).arg(user).query_async(redis).await.unwrap()
}

async fn cancel(socket: &mut Connection) {
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    let answer = socket.next_where(|f| !matches!(f, ServerFrame::Ad { .. })).await.unwrap();
    assert!(matches!(answer, ServerFrame::MatchCancelled { .. }), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_previous_releases_matchmaker_holds_the_lease_no_only_wish_is_queued() {
    let capture = Capture::load();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let run = Run { namespace: namespace.clone(), sender: previous_release::node_name(), ..Run::default() };
    let lease = Holding::take(&capture, &run).await;
    let node = this_version_in(&namespace).await;
    let seeker = premium(&node, "arayan").await;
    let (url, key) = (test_redis_url(), Identity::generate().public_key_b64());
    let queue = matchmaking_key(&url, &namespace, "queue");
    let mut redis = redis_at(&url).await;
    let user = seeker.id.get();
    let mut socket = node.socket(&seeker).await;

    // A node starts with wishes not understood, and its election finds the previous release holding the lease:
    // `only` is refused, `prefer` waits without its wish.
    let refused = answer_to(&mut socket, wish(PreferenceMode::Only), &key).await;
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::SeekingUnavailable, .. }), "{refused:?}");
    // That release's matchmaker, played by its captured scripts, answers nobody: the place in the queue shows it.
    let prefer = wish(PreferenceMode::Prefer).frame(Some("f".into()), key.clone());
    socket.send(&prefer).await.unwrap();
    eventually(WITHIN, "the `prefer` find waits in the queue", || {
        let (mut redis, queue) = (redis.clone(), queue.clone());
        async move { entry(&mut redis, &queue, user).await.is_some() }
    })
    .await;
    let waiting = entry(&mut redis, &queue, user).await;
    assert!(waiting.as_deref().is_some_and(|e| !e.contains("seeking")), "queued without the wish: {waiting:?}");
    cancel(&mut socket).await;

    // That release's node goes: its lease and its liveness run out, this node takes the lease, and `only` is
    // queued with its wish from its next tick on.
    drop(lease);
    let mut every = tokio::time::interval(Duration::from_millis(250));
    let accepted = tokio::time::timeout(WITHIN, async {
        loop {
            every.tick().await;
            match answer_to(&mut socket, wish(PreferenceMode::Only), &key).await {
                ServerFrame::Error { code: ErrorCode::SeekingUnavailable, .. } => continue,
                ServerFrame::MatchQueued { .. } => return,
                other => panic!("{other:?}"),
            }
        }
    });
    accepted.await.expect("`only` queued once the previous release is gone");
    let waiting = entry(&mut redis, &queue, user).await;
    assert!(waiting.as_deref().is_some_and(|e| e.contains("seeking")), "queued with the wish: {waiting:?}");
}
