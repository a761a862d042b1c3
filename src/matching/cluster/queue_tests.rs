//! The queue's scripts against a real Redis (`TANIS_TEST_REDIS_URL`, which scripts/test starts), one test per
//! finding of issue 60's simulation that lived in them: each plays the interleaving the simulation found, and
//! fails on the scripts as they were. And the opening's removal of settled entries after a fence refused it.

use redis::AsyncCommands;

use super::queue::{ClusterQueue, Hold};
use super::scripts::HeldAgain;
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::redis_link::{Conn, Target, Timeouts};

/// Two nodes' sides of a fresh namespace's queue, both alive for the test's length, and a connection of its own.
struct Queues {
    n1: ClusterQueue,
    n2: ClusterQueue,
    conn: Conn,
    queue: String,
    input: String,
    claimed: String,
}

async fn queues() -> Queues {
    let url = std::env::var("TANIS_TEST_REDIS_URL")
        .expect("TANIS_TEST_REDIS_URL is not set: run the suite with scripts/test, which starts a throwaway Redis");
    let target = Target::parse(&url).unwrap();
    let timeouts = Timeouts { connect: std::time::Duration::from_secs(5), response: std::time::Duration::from_secs(5) };
    let mut conn = target.connect(timeouts).await.unwrap();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let n1 = ClusterQueue::of(conn.clone(), &target, &namespace, "n1", 60_000);
    let n2 = ClusterQueue::of(conn.clone(), &target, &namespace, "n2", 60_000);
    // Liveness lapses in the year 2286: neither node is taken for dead.
    let _: () = conn.zadd_multiple(&n1.keys().alive, &[(1e13, "n1"), (1e13, "n2")]).await.unwrap();
    let (queue, input, claimed) = (n1.keys().queue.clone(), n1.keys().input.clone(), n1.keys().claimed.clone());
    Queues { n1, n2, conn, queue, input, claimed }
}

impl Queues {
    async fn entry(&self, user: i64) -> Option<String> {
        self.conn.clone().hget(&self.queue, user).await.unwrap()
    }

    /// Users 1 (socket 5) and 2 (socket 6), held by n1 and then claimed by it as a pair it opens.
    async fn claimed_pair(&self) -> (Seeker, Seeker) {
        let (a, b) = (seeker(1, 5), seeker(2, 6));
        for s in [&a, &b] {
            assert_eq!(self.n1.hold(s).await.unwrap(), Hold::New);
        }
        assert_eq!(self.n1.claim(&[(a.clone(), b.clone())]).await.unwrap(), vec![Ok(())]);
        (a, b)
    }

    /// The last record of the matchmaker's input stream.
    async fn last_input(&self) -> String {
        let last: Vec<(String, Vec<String>)> = redis::cmd("XREVRANGE")
            .arg(&self.input)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn.clone())
            .await
            .unwrap();
        let (_, fields) = last.into_iter().next().expect("a record");
        fields.into_iter().nth(1).expect("its change")
    }
}

/// A new request of `user` from `socket`.
fn seeker(user: i64, socket: u64) -> Seeker {
    let json = format!(
        r#"{{"candidate":{{"user_id":{user},"kind":"text","excluded":[],"nearby":null,
            "queued_at":"2026-11-24T10:00:00Z"}},"session_id":{socket},"request_id":"f","public_key":"k"}}"#
    );
    let read: Seeker = serde_json::from_str(&json).unwrap();
    Seeker::new(read.candidate, socket, Some("f".into()), "k".into(), 0)
}

/// Whether `entry` is the one `seeker`'s request made.
fn made_by(entry: &Option<String>, seeker: &Seeker) -> bool {
    entry.as_deref().is_some_and(|e| e.ends_with(&format!(r#""ask":"{}"}}"#, seeker.ask.as_str())))
}

/// `RemoveWhateverTheEntry`: the elected matchmaker removes the entry of a request it paired; the user asked again
/// from that socket meanwhile (the older request was being opened), and the newer request keeps its place.
#[tokio::test]
async fn the_matchmaker_removes_the_entry_of_the_request_it_paired_not_a_newer_one_from_that_socket() {
    let q = queues().await;
    let (older, newer) = (seeker(1, 5), seeker(1, 5));
    assert_eq!(q.n1.find(&older).await.unwrap(), Hold::New);
    assert_eq!(q.n1.find(&newer).await.unwrap(), Hold::Elsewhere, "asked again: the place is the newer request's");

    q.n1.remove(&[&older], &[]).await.unwrap();
    assert!(made_by(&q.entry(1).await, &newer), "the newer request keeps its place: {:?}", q.entry(1).await);
    q.n1.remove(&[&newer], &[]).await.unwrap();
    assert_eq!(q.entry(1).await, None);
}

/// `RemoveSparesNodesHold` (issue 74's simulation, once it ran this script): a Redis failover lost n1's FORWARD
/// after the elected matchmaker had read it, so the entry is n1's hold again while the matchmaker pairs that very
/// request. Removing the request's entry takes the hold too, or it would wait for nobody, wish and all; a claim of it
/// is left to its node's settle.
#[tokio::test]
async fn the_matchmaker_removes_a_nodes_hold_of_the_request_it_paired_but_not_a_claim() {
    let q = queues().await;
    let held = seeker(1, 5);
    assert_eq!(q.n1.hold(&held).await.unwrap(), Hold::New);
    q.n2.remove(&[&held], &[]).await.unwrap();
    assert_eq!(q.entry(1).await, None, "the hold of the paired request is gone");

    let (claimed, _) = q.claimed_pair().await;
    q.n2.remove(&[&claimed], &[]).await.unwrap();
    assert!(q.entry(1).await.is_some_and(|e| e.contains("|!n1|")), "a claim stays for its node to settle");
}

/// Holds a node's sockets send together go to Redis in one script, each answered as a script of its own would
/// have answered it, in the order they were sent (src/matching/cluster/holds.rs).
#[tokio::test]
async fn holds_sent_together_go_in_one_script_and_are_answered_in_order() {
    let q = queues().await;
    assert_eq!(q.n2.hold(&seeker(3, 7)).await.unwrap(), Hold::New);
    let before = q.n1.hold_scripts();
    let (first, again, other, elsewhere) = (seeker(1, 5), seeker(1, 5), seeker(2, 6), seeker(3, 8));
    // The test's runtime has one thread: every hold is sent before the node's hold task reads any.
    let holds = [&first, &again, &other, &elsewhere].map(|s| q.n1.hold(s));
    let answers: Vec<Hold> = futures_util::future::join_all(holds).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers, [Hold::New, Hold::Again, Hold::New, Hold::Elsewhere]);
    assert_eq!(q.n1.hold_scripts() - before, 1, "one script for the four");
    assert!(made_by(&q.entry(1).await, &again), "the later request has the place: {:?}", q.entry(1).await);
    let moved = q.entry(3).await.unwrap();
    assert!(moved.starts_with("8|{"), "the place is the asking socket's, at the matchmaker: {moved}");
}

/// `ForgetBySocketNotRequest`: a node lets go of a request it told to ask again (a claim Redis did not take), or
/// hands a request over; the user sent a newer one from that socket meanwhile, which neither takes away or
/// overwrites with the older.
#[tokio::test]
async fn a_node_lets_go_of_and_hands_over_the_request_it_holds_not_a_newer_one_from_that_socket() {
    let q = queues().await;
    let (older, newer) = (seeker(1, 5), seeker(1, 5));
    assert_eq!(q.n1.hold(&older).await.unwrap(), Hold::New);
    assert_eq!(q.n1.hold(&newer).await.unwrap(), Hold::Again);

    assert!(!q.n1.leave_request(&older).await.unwrap(), "the older request's entry is gone already");
    assert!(made_by(&q.entry(1).await, &newer), "{:?}", q.entry(1).await);
    assert_eq!(q.n1.forward(std::slice::from_ref(&older)).await.unwrap(), 0, "not the older request's to hand over");
    let entry = q.entry(1).await;
    assert!(made_by(&entry, &newer) && entry.as_deref().unwrap().starts_with("5|@n1|"), "{entry:?}");

    assert_eq!(q.n1.forward(std::slice::from_ref(&newer)).await.unwrap(), 1);
    let entry = q.entry(1).await;
    assert!(made_by(&entry, &newer) && entry.as_deref().unwrap().starts_with("5|{"), "the matchmaker's: {entry:?}");
    assert!(q.n1.leave_request(&newer).await.unwrap());
    assert_eq!(q.entry(1).await, None);
}

/// `ForgetBySocketNotRequest`, SETTLE's side: a Redis failover lost a node's claim (the entries are held again,
/// as before it), the user asked again from that socket, and the node then settles the matched pair: the newer
/// request keeps its place, the partner's entry goes.
#[tokio::test]
async fn a_settle_after_a_failover_lost_the_claim_deletes_the_matched_request_not_a_newer_one() {
    let mut q = queues().await;
    let (a, b) = q.claimed_pair().await;
    // What the promoted replica holds: the entries before the claim.
    for user in [1, 2] {
        let claimed = q.entry(user).await.unwrap();
        let _: () = q.conn.hset(&q.queue, user, claimed.replacen("|!n1|", "|@n1|", 1)).await.unwrap();
    }
    let _: () = q.conn.del(&q.claimed).await.unwrap();
    // Sent once the match had opened (its node counts it): not a request that match served.
    let newer = Seeker { asked_after: Some(1), ..seeker(1, 5) };
    assert_eq!(q.n1.hold(&newer).await.unwrap(), Hold::Again);

    assert_eq!(
        q.n1.settle(&[&a, &b], &[], HeldAgain::Here, &[UserId(1), UserId(2)]).await.unwrap(),
        Vec::<UserId>::new()
    );
    assert!(made_by(&q.entry(1).await, &newer), "{:?}", q.entry(1).await);
    assert_eq!(q.entry(2).await, None, "the matched partner's hold goes");
}

/// `ClaimIgnoresReask`: a user asks again on another node while their pair is being opened; the opening then
/// refuses the partner. The claim named the newer request from the moment it came, so that request outlives the
/// claim at the elected matchmaker (as handed over: its socket was answered), rather than the older request being
/// held again on the old socket, whose closing would take it away.
#[tokio::test]
async fn a_find_sent_while_the_users_pair_is_being_opened_outlives_the_claim() {
    let q = queues().await;
    let (a, b) = q.claimed_pair().await;
    let again = seeker(1, 9);
    assert_eq!(q.n2.hold(&again).await.unwrap(), Hold::Opening);
    assert!(!q.n1.leave(UserId(1), Some(5)).await.unwrap(), "the old socket's closing takes nothing away");

    // b could not pay: a was to wait again, on n1; the request a sent since is the cluster's instead.
    assert_eq!(q.n1.settle(&[&b], &[&a], HeldAgain::Here, &[]).await.unwrap(), vec![UserId(1)], "n1 no longer holds a");
    let entry = q.entry(1).await;
    assert!(made_by(&entry, &again) && entry.as_deref().unwrap().starts_with("9|{"), "the matchmaker's: {entry:?}");
    let handed = q.last_input().await;
    assert!(handed.starts_with(r#"{"HandedOver":"#) && handed.contains(again.ask.as_str()), "{handed}");
    assert_eq!(q.entry(2).await, None);
}

/// One find per person (docs/testing.md row 31): a find sent from another device while the user's pair is being
/// opened is served by that match (both devices are told `match.found`), so the claim's settle takes its place with
/// the match's, gender and wish included; a find sent after the match opened (a higher count) keeps its place.
#[tokio::test]
async fn a_find_sent_while_the_users_pair_is_being_opened_goes_with_the_match_that_served_it() {
    let q = queues().await;
    let (a, b) = q.claimed_pair().await;
    assert_eq!(q.n2.hold(&seeker(1, 9)).await.unwrap(), Hold::Opening);
    assert_eq!(
        q.n1.settle(&[&a, &b], &[], HeldAgain::Here, &[UserId(1), UserId(2)]).await.unwrap(),
        Vec::<UserId>::new()
    );
    assert_eq!((q.entry(1).await, q.entry(2).await), (None, None), "the served request's place went with the match");

    let (a, b) = (seeker(3, 5), seeker(4, 6));
    for s in [&a, &b] {
        assert_eq!(q.n1.hold(s).await.unwrap(), Hold::New);
    }
    assert_eq!(q.n1.claim(&[(a.clone(), b.clone())]).await.unwrap(), vec![Ok(())]);
    let later = Seeker { asked_after: Some(1), ..seeker(3, 9) };
    assert_eq!(q.n2.hold(&later).await.unwrap(), Hold::Opening);
    q.n1.settle(&[&a, &b], &[], HeldAgain::Here, &[UserId(3), UserId(4)]).await.unwrap();
    assert!(made_by(&q.entry(3).await, &later), "a request after the match keeps its place: {:?}", q.entry(3).await);
}

/// The elected matchmaker's side of row 31: a request sent again while the user's pair was being opened took the
/// matchmaker's entry over; the removal of the matched request takes it too, but not one sent after the match.
#[tokio::test]
async fn the_matchmaker_removes_a_request_its_match_served_with_the_matched_one() {
    let q = queues().await;
    let (matched, again) = (seeker(1, 5), seeker(1, 9));
    assert_eq!(q.n1.find(&matched).await.unwrap(), Hold::New);
    assert_eq!(q.n2.find(&again).await.unwrap(), Hold::Elsewhere);
    q.n1.remove(&[&matched], &[UserId(1)]).await.unwrap();
    assert_eq!(q.entry(1).await, None, "served by the match");
    // Whichever matchmaker took that request in (maybe a newer one than the one that opened the match) lets it go.
    assert_eq!(q.last_input().await, r#"{"Leave":{"user_id":1,"socket_id":9}}"#);

    let later = Seeker { asked_after: Some(1), ..seeker(2, 9) };
    let paired = seeker(2, 5);
    assert_eq!(q.n1.find(&paired).await.unwrap(), Hold::New);
    assert_eq!(q.n2.find(&later).await.unwrap(), Hold::Elsewhere);
    q.n1.remove(&[&paired], &[UserId(2)]).await.unwrap();
    assert!(made_by(&q.entry(2).await, &later), "{:?}", q.entry(2).await);
}

/// A claim nobody will settle (its settle lost in a failover) goes to the elected matchmaker, request and all,
/// rather than being deleted: the store refuses it if its match was opened (`Refusal::Spent`), and pairs it if not.
#[tokio::test]
async fn a_stale_claim_is_adopted_by_the_matchmaker() {
    let mut q = queues().await;
    let (a, b) = q.claimed_pair().await;
    let _: () = q.conn.hset_multiple(&q.claimed, &[(1, 0), (2, 0)]).await.unwrap();

    assert_eq!(q.n1.doomed().await.unwrap(), ["n1"], "the claim's holder: its fence goes up first");
    assert!(q.n1.adopt(&[]).await.unwrap().is_empty(), "nothing of a node whose fence was not raised");
    let adopted = adopt_doomed(&q.n1).await;
    let mut asks: Vec<&str> = adopted.iter().map(|s| s.ask.as_str()).collect();
    asks.sort_unstable();
    let mut expected = vec![a.ask.as_str(), b.ask.as_str()];
    expected.sort_unstable();
    assert_eq!(asks, expected);
    for (user, seeker) in [(1, &a), (2, &b)] {
        let entry = q.entry(user).await;
        assert!(made_by(&entry, seeker) && !entry.as_deref().unwrap().contains("|!"), "{entry:?}");
    }
}

/// Row 17 (issue 75): the elected matchmaker claims its pair before opening it. A cancel meanwhile, from any node,
/// is refused (the match may open: "not queued") and marks the request: should the pair fail for the partner, the
/// cancelled request goes instead of waiting again, while the partner's is given back to the matchmaker. Before,
/// the cancel deleted the entry and was answered `match.cancelled`, and the match opened all the same.
#[tokio::test]
async fn a_cancel_while_the_matchmaker_opens_a_pair_is_refused_and_its_request_goes_if_the_pair_fails() {
    let q = queues().await;
    let (a, b) = (seeker(1, 5), seeker(2, 6));
    for s in [&a, &b] {
        assert_eq!(q.n1.find(s).await.unwrap(), Hold::New);
    }
    assert_eq!(q.n1.claim_held(&[(a.clone(), b.clone())]).await.unwrap(), vec![Ok(())]);
    assert!(q.entry(1).await.is_some_and(|e| e.starts_with("5|!n1|")), "{:?}", q.entry(1).await);
    assert!(!q.n2.leave(UserId(1), None).await.unwrap(), "refused while the pair is opened");
    assert!(!q.n2.leave(UserId(2), Some(7)).await.unwrap(), "another socket's close marks nothing");

    // b was refused by the store; a's partner gone, a's request would wait again: it was cancelled, so it goes.
    let lost = q.n1.settle(&[&b], &[&a], HeldAgain::ByMatchmaker, &[]).await.unwrap();
    assert_eq!(lost, vec![UserId(1)], "the matchmaker drops the cancelled request");
    assert_eq!((q.entry(1).await, q.entry(2).await), (None, None));
    let marks: Vec<(String, String)> = q.conn.clone().hgetall(&q.n1.keys().cancelled).await.unwrap();
    assert!(marks.is_empty(), "the settle clears the mark: {marks:?}");
}

/// The other ends of the elected matchmaker's claim: a partner refused gives the request back to the elected
/// matchmaker with a record (the one that claimed it renews its place; a newer one that took the lease meanwhile,
/// having seeded its queue without the claimed entry, takes it over); a node claims only what it holds, and only the
/// requests its pair was made of.
#[tokio::test]
async fn the_matchmakers_claim_gives_a_request_back_to_the_matchmaker() {
    let q = queues().await;
    let (a, b) = (seeker(1, 5), seeker(2, 6));
    for s in [&a, &b] {
        assert_eq!(q.n1.find(s).await.unwrap(), Hold::New);
    }
    assert_eq!(q.n1.claim_held(&[(a.clone(), b.clone())]).await.unwrap(), vec![Ok(())]);
    assert_eq!(q.n1.settle(&[&b], &[&a], HeldAgain::ByMatchmaker, &[]).await.unwrap(), Vec::<UserId>::new());
    assert!(made_by(&q.entry(1).await, &a) && q.entry(1).await.unwrap().starts_with("5|{"), "the matchmaker's again");
    assert!(q.last_input().await.starts_with(r#"{"HandedOver":"#), "told by a record");
    assert_eq!(q.entry(2).await, None);

    let (c, d) = (seeker(3, 7), seeker(4, 8));
    for s in [&c, &d] {
        assert_eq!(q.n2.hold(s).await.unwrap(), Hold::New);
    }
    assert_eq!(q.n1.claim_held(&[(a.clone(), c.clone())]).await.unwrap(), vec![Err(vec![UserId(3)])], "n2's hold");
    let again = seeker(4, 8);
    assert_eq!(q.n2.hold(&again).await.unwrap(), Hold::Again);
    assert_eq!(q.n2.claim(&[(c.clone(), d.clone())]).await.unwrap(), vec![Err(vec![UserId(4)])], "d asked again");
}

/// User `user` from `socket`, declaring a gender and asking only for non-binary partners: what must never reach a
/// record of the input stream.
fn wishing(user: i64, socket: u64) -> Seeker {
    let mut s = seeker(user, socket);
    s.candidate.gender = Some(tanis_proto::Gender::Woman);
    let only = tanis_proto::Seeking { genders: vec![tanis_proto::Gender::NonBinary], mode: Default::default() };
    s.candidate.seeking = crate::matching::rules::GenderWish::parse(&only);
    s
}

/// Every record the input stream holds.
async fn records(q: &Queues) -> Vec<String> {
    let all: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg(&q.input).arg("-").arg("+").query_async(&mut q.conn.clone()).await.unwrap();
    all.into_iter().flat_map(|(_, fields)| fields.into_iter().skip(1)).collect()
}

/// Issue 74: the input stream keeps what `XDEL` flags until its node is freed, so no record may carry the declared
/// gender or the wish; the entry, which a delete erases, does. Every script that writes a record (JOIN, HOLD sent
/// to the matchmaker, FORWARD, SETTLE handing a re-ask over, REWRITE) writes the seeker bare, as serde reads it.
#[tokio::test]
async fn no_record_of_the_input_stream_carries_a_gender_or_a_wish() {
    let q = queues().await;
    // JOIN, then JOIN again (a re-find): two Find records.
    let (a, a2) = (wishing(1, 5), wishing(1, 7));
    q.n1.find(&a).await.unwrap();
    q.n1.find(&a2).await.unwrap();
    // HOLD on n2 of a user n1 holds, then FORWARD: HandedOver records.
    let b = wishing(2, 6);
    assert_eq!(q.n1.hold(&b).await.unwrap(), Hold::New);
    assert_eq!(q.n2.hold(&wishing(2, 8)).await.unwrap(), Hold::Elsewhere);
    let c = wishing(3, 9);
    assert_eq!(q.n1.hold(&c).await.unwrap(), Hold::New);
    assert_eq!(q.n1.forward(std::slice::from_ref(&c)).await.unwrap(), 1);
    // A re-ask during a claim, settled: SETTLE hands the new request over.
    let (d, e) = (wishing(4, 10), wishing(5, 11));
    for s in [&d, &e] {
        assert_eq!(q.n1.hold(s).await.unwrap(), Hold::New);
    }
    assert_eq!(q.n1.claim(&[(d.clone(), e.clone())]).await.unwrap(), vec![Ok(())]);
    assert_eq!(q.n2.hold(&wishing(4, 12)).await.unwrap(), Hold::Opening);
    q.n1.settle(&[&d, &e], &[], HeldAgain::Here, &[]).await.unwrap();

    let records = records(&q).await;
    assert!(records.len() >= 5, "{records:?}");
    for record in &records {
        assert!(!record.contains("gender") && !record.contains("seeking"), "{record}");
        let input: super::entries::Input = serde_json::from_str(record).expect("serde reads what the scripts write");
        let seeker = match input {
            super::entries::Input::Find(s) | super::entries::Input::HandedOver(s) => s,
            super::entries::Input::Leave { .. } => continue,
        };
        let json = serde_json::to_string(&*seeker).unwrap();
        assert!(record.ends_with(&format!("{json}}}")), "{record} is not serde's {json}");
    }
    // The entries keep both: the matchmaker reads them there.
    let entry = q.entry(1).await.expect("waiting");
    assert!(entry.contains(r#""gender":"woman""#) && entry.contains(r#""seeking":"#), "{entry}");
}

/// Row 29 of docs/testing.md (the simulation's long search): n2, taken for dead during a cut from Redis, came back
/// and held a find before its tick renewed its liveness, then died. ADOPT takes that place too, at its next run,
/// for as long as n2's liveness stays lapsed; once n2 renews it, its places are its own again.
#[tokio::test]
async fn a_node_that_lapsed_has_its_places_adopted_at_every_run_until_it_renews() {
    let mut q = queues().await;
    let alive = q.n1.keys().alive.clone();
    // n2's liveness lapsed a second ago (a score in the past, not the hour ACQUIRE waits before dropping it).
    let lapsed = (chrono::Utc::now().timestamp_millis() - 1_000) as f64;
    let _: () = q.conn.zadd(&alive, "n2", lapsed).await.unwrap();
    let first = seeker(3, 9);
    assert_eq!(q.n2.hold(&first).await.unwrap(), Hold::New);
    let adopted = adopt_doomed(&q.n1).await;
    assert_eq!(adopted.iter().map(|s| s.ask.as_str()).collect::<Vec<_>>(), vec![first.ask.as_str()]);

    // Back from the cut, n2 holds a new find before renewing its liveness, and dies.
    let second = seeker(4, 10);
    assert_eq!(q.n2.hold(&second).await.unwrap(), Hold::New);
    let adopted = adopt_doomed(&q.n1).await;
    assert_eq!(adopted.iter().map(|s| s.ask.as_str()).collect::<Vec<_>>(), vec![second.ask.as_str()], "taken too");
    assert!(!q.entry(4).await.unwrap().contains("@n2"), "{:?}", q.entry(4).await);

    // A node that renews keeps what it holds.
    let _: () = q.conn.zadd(&alive, "n2", 1e13).await.unwrap();
    assert_eq!(q.n2.hold(&seeker(5, 11)).await.unwrap(), Hold::New);
    assert!(q.n1.doomed().await.unwrap().is_empty());
    assert!(adopt_doomed(&q.n1).await.is_empty());
    assert!(q.entry(5).await.unwrap().contains("@n2"), "{:?}", q.entry(5).await);
}

/// What DOOMED names and ADOPT is given, as the elected matchmaker does between them.
async fn adopt_doomed(queue: &ClusterQueue) -> Vec<Seeker> {
    let doomed = queue.doomed().await.unwrap();
    queue.adopt(&doomed).await.unwrap()
}

/// Row 38 of docs/testing.md: ADOPT takes only the places of the nodes it is given, those whose fences the elected
/// matchmaker raised in the database first. A node that lapsed after DOOMED named the others keeps its claimed pair
/// until the next tick has raised its fence too.
#[tokio::test]
async fn adopt_takes_only_the_places_of_nodes_whose_fences_were_raised() {
    let mut q = queues().await;
    let alive = q.n1.keys().alive.clone();
    let (a, b) = q.claimed_pair().await;
    let held = seeker(3, 9);
    assert_eq!(q.n2.hold(&held).await.unwrap(), Hold::New);
    let lapsed = (chrono::Utc::now().timestamp_millis() - 1_000) as f64;
    for node in ["n1", "n2"] {
        let _: () = q.conn.zadd(&alive, node, lapsed).await.unwrap();
    }
    let mut doomed = q.n1.doomed().await.unwrap();
    doomed.sort_unstable();
    assert_eq!(doomed, ["n1", "n2"], "the holders of the claim and of the hold");

    let adopted = q.n1.adopt(&["n2".to_owned()]).await.unwrap();
    assert_eq!(adopted.iter().map(|s| s.ask.as_str()).collect::<Vec<_>>(), vec![held.ask.as_str()]);
    for (user, seeker) in [(1, &a), (2, &b)] {
        let entry = q.entry(user).await.unwrap();
        assert!(made_by(&Some(entry.clone()), seeker) && entry.contains("|!n1|"), "still n1's claim: {entry}");
    }
    let adopted = q.n1.adopt(&["n1".to_owned()]).await.unwrap();
    assert_eq!(adopted.len(), 2, "n1's claimed pair, once its fence is up");
}

/// Row 27: a refresh (a withdrawn gender) of a place claimed by an opening is not done, for its caller to try
/// again (the claim's end may hand the request over as the claim holds it); once the claim is settled and the user
/// held again, it is done, and the place no longer holds the gender.
#[tokio::test]
async fn a_refresh_of_a_claimed_place_says_it_is_not_done_and_is_done_once_the_claim_ends() {
    let q = queues().await;
    let (a, b) = (wishing(1, 5), wishing(2, 6));
    for s in [&a, &b] {
        assert_eq!(q.n1.hold(s).await.unwrap(), Hold::New);
    }
    assert_eq!(q.n1.claim(&[(a.clone(), b.clone())]).await.unwrap(), vec![Ok(())]);
    let withdrawn = crate::matching::Fresh { gender: None, ..crate::matching::Fresh::of(&a.candidate) };

    assert!(!q.n1.refresh(UserId(1), &withdrawn).await.unwrap(), "claimed: not done");
    assert!(q.entry(1).await.unwrap().contains(r#""gender":"woman""#));

    // The partner was refused: user 1 is held here again, and the refresh tried again takes.
    q.n1.settle(&[&b], &[&a], HeldAgain::Here, &[]).await.unwrap();
    assert!(q.n1.refresh(UserId(1), &withdrawn).await.unwrap());
    let entry = q.entry(1).await.unwrap();
    assert!(!entry.contains(r#""gender":"#) && made_by(&Some(entry.clone()), &a), "{entry}");
}
