//! The matchmaker's queue entries as serde reads and writes them, and what one batch of its commands opens.

use tanis_proto::InterestMatching;

use super::*;
use engine::Order;

/// User 7 asking for a text match with no wish beyond it.
fn plain_candidate() -> Candidate {
    candidate_of(7)
}

/// `user` asking for a text match with no wish beyond it.
fn candidate_of(user: i64) -> Candidate {
    Candidate {
        user_id: UserId(user),
        kind: tanis_proto::MatchKind::Text,
        excluded: Default::default(),
        nearby: None,
        queued_at: chrono::DateTime::UNIX_EPOCH,
        interests: Default::default(),
        interest_matching: InterestMatching::Off,
        languages: Default::default(),
        region: Default::default(),
        country: None,
        location: None,
        quarantined: false,
        gender: None,
        seeking: None,
    }
}

#[test]
fn a_queue_entry_names_its_socket_as_before_the_rename() {
    let candidate = plain_candidate();
    let seeker = Seeker::new(candidate, 9, None, String::new(), 0);
    let entry = serde_json::to_value(&seeker).unwrap();
    assert_eq!(entry["session_id"], 9, "{entry}");
}

#[test]
fn a_queue_entry_of_an_older_node_reads_as_matching_on_nothing_but_kind_anywhere_from_nowhere_known() {
    let entry = r#"{"candidate":{"user_id":7,"kind":"text","excluded":[],"nearby":null,
        "queued_at":"2026-11-24T10:00:00Z"},"session_id":9,"request_id":null,"public_key":""}"#;
    let seeker: Seeker = serde_json::from_str(entry).unwrap();
    assert_eq!(seeker.candidate.interest_matching, InterestMatching::Off);
    assert!(seeker.candidate.interests.is_empty() && seeker.candidate.languages.is_empty());
    let c = &seeker.candidate;
    assert_eq!((c.region, c.country, c.location), (tanis_proto::Region::Anywhere, None, None));
    assert!(!c.quarantined, "an older node queues no one in quarantine");
}

#[test]
fn a_queue_entry_carries_the_region_and_what_the_other_side_checks() {
    let candidate = Candidate {
        region: tanis_proto::Region::RadiusKm(50),
        country: crate::domain::Country::parse("TR"),
        location: Some((41.0, 29.0)),
        ..plain_candidate()
    };
    let seeker = Seeker::new(candidate, 9, None, String::new(), 0);
    let entry = serde_json::to_string(&seeker).unwrap();
    let back: Seeker = serde_json::from_str(&entry).unwrap();
    let c = &back.candidate;
    assert_eq!(
        (c.region, c.country, c.location),
        (seeker.candidate.region, seeker.candidate.country, Some((41.0, 29.0)))
    );
}

/// The matchmaker's side of the server as a recording: who was told what, and each batch opened, as (user,
/// socket) pairs; every pair opens.
#[derive(Default)]
struct Recording {
    opened: std::sync::Mutex<Vec<Vec<((i64, u64), (i64, u64))>>>,
    served: std::sync::Mutex<Vec<(i64, u64)>>,
    batch: tokio::sync::Notify,
}

impl Pairing for Recording {
    fn queued(&self, _: &Seeker, _: bool) {}

    fn served(&self, seeker: Seeker) {
        self.served.lock().unwrap().push((seeker.user_id().0, seeker.socket_id));
    }

    async fn open(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<UserId>>> {
        let side = |s: &Seeker| (s.user_id().0, s.socket_id);
        self.opened.lock().unwrap().push(pairs.iter().map(|(a, b)| (side(a), side(b))).collect());
        self.batch.notify_one();
        pairs.iter().map(|_| Ok(())).collect()
    }
}

fn seeker(user: i64, socket_id: u64) -> Box<Seeker> {
    let candidate = candidate_of(user);
    let key = format!("key of socket {socket_id}");
    Box::new(Seeker::new(candidate, socket_id, None, key, 0))
}

/// Runs a single node's matchmaker on `commands`, all taken in its first batch; the pairs it opened.
async fn first_batch(orders: Vec<Order>) -> Vec<((i64, u64), (i64, u64))> {
    let recording = Arc::new(Recording::default());
    let clock: SharedClock = crate::clock::ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    let policy = Policy::of_tests();
    let task = Task::new(recording.clone(), clock, policy, Sweeps::default(), None);
    let (tx, rx) = mpsc::channel(16);
    for order in orders {
        tx.send(Command { order, reply: Reply::None }).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(task.run(rx, shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(10), recording.batch.notified()).await.expect("a batch opened");
    shutdown.cancel();
    running.await.unwrap();
    recording.opened.lock().unwrap().concat()
}

#[tokio::test]
async fn a_find_sent_again_while_its_older_request_is_paired_in_the_same_batch_opens_the_newer_one() {
    let opened = first_batch(vec![
        Order::Find { seeker: seeker(1, 11), again: false },
        Order::Find { seeker: seeker(2, 21), again: false },
        // User 1 again, from the socket their app reconnected with: the pair is theirs, not the old socket's.
        Order::Find { seeker: seeker(1, 12), again: false },
    ])
    .await;
    assert_eq!(opened, vec![((2, 21), (1, 12))]);
}

#[tokio::test]
async fn a_refresh_in_the_batch_that_paired_its_user_undoes_the_pair_made_on_what_they_were() {
    let opened = first_batch(vec![
        Order::Find { seeker: seeker(1, 11), again: false },
        Order::Find { seeker: seeker(2, 21), again: false },
        // User 1 blocked user 2 after asking; the change reaches the matchmaker before the pair is opened.
        Order::Refresh {
            user: UserId(1),
            fresh: Box::new(Fresh { excluded: [UserId(2)].into(), ..Fresh::of(&candidate_of(1)) }),
        },
        Order::Find { seeker: seeker(3, 31), again: false },
    ])
    .await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let [(a, b)] = [opened[0]];
    assert!(a.0 == 3 || b.0 == 3, "the pair of 1 and 2 was undone, and one of them met 3: {opened:?}");
}

#[tokio::test]
async fn a_seeker_handed_over_renews_an_older_copy_still_queued() {
    let opened = first_batch(vec![
        Order::Find { seeker: seeker(1, 11), again: false },
        // Their newer request, handed over by the node that held it, while the older copy waits here.
        Order::TakeOver(seeker(1, 15)),
        Order::Find { seeker: seeker(2, 21), again: false },
    ])
    .await;
    assert_eq!(opened, vec![((1, 15), (2, 21))]);
}

/// One find per person (docs/testing.md row 31): user 1's second device asks while the pair 1–2 is being opened; the
/// match served that request too, so it takes no place once the match is open (its entry in the cluster's queue is
/// the pairing's to take away), and a newcomer is not paired with a user already in a match.
#[tokio::test]
async fn a_find_that_reaches_the_matchmaker_after_the_match_that_served_it_opened_takes_no_place() {
    let recording = Arc::new(Recording::default());
    let clock: SharedClock = crate::clock::ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    let task = Task::new(recording.clone(), clock, Policy::of_tests(), Sweeps::default(), None);
    let (tx, rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(task.run(rx, shutdown.clone()));
    let send = |orders: Vec<Order>| {
        let tx = tx.clone();
        async move {
            for order in orders {
                tx.send(Command { order, reply: Reply::None }).await.unwrap();
            }
        }
    };
    let opened = || tokio::time::timeout(Duration::from_secs(10), recording.batch.notified());
    send(vec![
        Order::Find { seeker: seeker(1, 11), again: false },
        Order::Find { seeker: seeker(2, 21), again: false },
    ])
    .await;
    opened().await.expect("the pair 1-2 opened");
    // Asked after as many matches as the request the match opened on: sent before it opened.
    send(vec![
        Order::Find { seeker: seeker(1, 12), again: false },
        Order::Find { seeker: seeker(3, 31), again: false },
        Order::Find { seeker: seeker(4, 41), again: false },
    ])
    .await;
    opened().await.expect("a second batch opened");
    shutdown.cancel();
    running.await.unwrap();
    let batches = recording.opened.lock().unwrap().clone();
    assert_eq!(batches, vec![vec![((1, 11), (2, 21))], vec![((3, 31), (4, 41))]]);
    assert_eq!(*recording.served.lock().unwrap(), vec![(1, 12)]);
}

/// A cancel that holds (issue 75): user 1 cancels in the batch that paired them with 2; the pair is undone and 2
/// meets 3 instead, where the pair used to be opened on the cancelled request.
#[tokio::test]
async fn a_cancel_in_the_batch_that_paired_its_user_undoes_the_pair() {
    let opened = first_batch(vec![
        Order::Find { seeker: seeker(1, 11), again: false },
        Order::Find { seeker: seeker(2, 21), again: false },
        Order::Cancel { user: UserId(1), socket: None },
        Order::Find { seeker: seeker(3, 31), again: false },
    ])
    .await;
    assert_eq!(opened, vec![((2, 21), (3, 31))]);
}
