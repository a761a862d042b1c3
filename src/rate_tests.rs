//! The tests of `rate`, in a file of their own so that the module reads alone.

use super::*;
use crate::clock::Clock;

#[test]
fn a_lease_is_half_a_second_of_the_rate_at_most_a_quarter_of_the_burst_at_least_one() {
    assert_eq!(lease_size(10.0, 30), 5, "the production message limit");
    assert_eq!(lease_size(1.0, 3), 1, "a slow limit shares the bucket token by token");
    assert_eq!(lease_size(100.0, 7), 1, "a small burst too");
    assert_eq!(lease_size(100.0, 40), 10);
    assert_eq!(lease_size(1.0 / 60.0, 5), 1, "a per-minute limit");
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T09:30:00Z").unwrap().with_timezone(&Utc)
}

#[test]
fn a_burst_is_allowed_then_the_sustained_rate() {
    let start = start();
    let mut bucket = Bucket::full(3, start);
    assert!((0..3).all(|_| bucket.take(10.0, 3, start).is_ok()));
    assert!(bucket.take(10.0, 3, start).is_err(), "the burst is spent");
    assert!(bucket.take(10.0, 3, start + TimeDelta::milliseconds(100)).is_ok(), "one token per 100 ms at 10/s");
    assert!(bucket.take(10.0, 3, start + TimeDelta::milliseconds(150)).is_err());
}

#[test]
fn an_empty_bucket_tells_how_long_until_its_next_token() {
    let start = start();
    let mut bucket = Bucket::full(1, start);
    assert_eq!(bucket.take(10.0, 1, start), Ok(()));
    let wait = bucket.take(10.0, 1, start + TimeDelta::milliseconds(30)).unwrap_err();
    assert_eq!(retry_after_ms(wait), 70, "a token every 100 ms, 30 of them already passed");
    let later = start + TimeDelta::milliseconds(30 + retry_after_ms(wait) as i64);
    assert_eq!(bucket.take(10.0, 1, later), Ok(()), "waiting exactly as told is enough");
}

#[test]
fn a_wait_is_rounded_up_to_whole_milliseconds_and_never_zero() {
    assert_eq!(retry_after_ms(Duration::from_micros(100_001)), 101);
    assert_eq!(retry_after_ms(Duration::from_millis(100)), 100);
    assert_eq!(retry_after_ms(Duration::ZERO), 1);
}

#[test]
fn an_idle_bucket_refills_only_up_to_the_burst() {
    let start = start();
    let mut bucket = Bucket::full(2, start);
    assert!(bucket.take(10.0, 2, start).is_ok());
    let later = start + TimeDelta::seconds(60);
    assert!(bucket.take(10.0, 2, later).is_ok() && bucket.take(10.0, 2, later).is_ok());
    assert!(bucket.take(10.0, 2, later).is_err());
}

#[tokio::test]
async fn a_bucket_outlives_its_users_last_socket_until_it_is_full_again() {
    let clock = crate::clock::ManualClock::new(start());
    let limiter = Limiter::local(clock.clone());
    let (user, other) = (UserId(1), UserId(2));
    assert!(limiter.take(user, 1.0, 2).await.is_ok() && limiter.take(user, 1.0, 2).await.is_ok());
    assert!(limiter.take(other, 1.0, 2).await.is_ok());
    limiter.forget(user);
    limiter.forget(other);
    assert!(limiter.take(user, 1.0, 2).await.is_err(), "a new socket finds the bucket as it was");
    limiter.forget(user);
    assert_eq!(limiter.kept(), 2, "neither is full yet");
    clock.advance(TimeDelta::seconds(2));
    limiter.forget(UserId(3));
    assert_eq!(limiter.kept(), 0, "full again, both go at the next socket to close");
}

/// One seeded walk of three users taking tokens (a burst of 3, one a second) while their last sockets close and
/// open again and time passes; the first user who got more in some stretch of time than the burst and the rate
/// allow, with the seed.
async fn walk(seed: u64) -> Result<(), String> {
    let (rate, burst) = (1.0, 3);
    let mut rng = crate::rng::Rng::new(seed);
    let clock = crate::clock::ManualClock::new(start());
    let limiter = Limiter::local(clock.clone());
    let mut granted: Vec<Vec<DateTime<Utc>>> = vec![Vec::new(); 3];
    for _ in 0..200 {
        let user = rng.below(3) as usize;
        match rng.below(10) {
            0..5 => {
                if limiter.take(UserId(user as i64 + 1), rate, burst).await.is_ok() {
                    let now = clock.now();
                    granted[user].push(now);
                    // Every stretch from an earlier grant to now.
                    for (i, &from) in granted[user].iter().enumerate() {
                        let allowed = f64::from(burst) + rate * (now - from).num_milliseconds() as f64 / 1000.0 + 1e-6;
                        let got = granted[user].len() - i;
                        if got as f64 > allowed {
                            return Err(format!(
                                "seed {seed}: user {user} got {got} since {from}, {allowed:.2} allowed"
                            ));
                        }
                    }
                }
            }
            5..7 => limiter.forget(UserId(user as i64 + 1)),
            _ => clock.advance(TimeDelta::milliseconds(rng.below(1500) as i64)),
        }
    }
    Ok(())
}

async fn walks(seeds: u64) -> Option<String> {
    for seed in 0..seeds {
        if let Err(broken) = walk(seed).await {
            return Some(broken);
        }
    }
    None
}

/// The limits are per user, not per socket (issue 75): whatever the user's sockets do on this node, what they
/// are allowed in any stretch of time stays within the burst and the rate.
#[tokio::test]
async fn no_walk_of_sockets_closing_and_opening_gets_a_user_past_the_burst_and_the_rate() {
    if let Some(broken) = walks(500).await {
        panic!("{broken}");
    }
}

#[tokio::test]
async fn a_bucket_dropped_with_its_users_last_socket_is_caught_by_the_walk() {
    FORGET_DROPS_BUCKET.with(|m| m.set(true));
    let broken = walks(500).await;
    FORGET_DROPS_BUCKET.with(|m| m.set(false));
    assert!(broken.is_some(), "no walk got past the limit with buckets dropped at the last socket");
}

#[test]
fn a_clock_set_back_refills_nothing_until_it_passes_the_last_refill() {
    let start = start();
    let mut bucket = Bucket::full(1, start);
    assert!(bucket.take(1.0, 1, start).is_ok());
    assert!(bucket.take(1.0, 1, start - TimeDelta::seconds(5)).is_err(), "going back gains no token");
    assert!(bucket.take(1.0, 1, start + TimeDelta::milliseconds(500)).is_err(), "half a token since the last refill");
    assert!(bucket.take(1.0, 1, start + TimeDelta::seconds(1)).is_ok(), "a full second after the last refill");
}
