//! The time source. Everything that stamps or compares times asks a [`Clock`], so tests can move time
//! forward instead of sleeping, and so both stores see the same precision.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use tokio::sync::oneshot;

/// A wait on a [`Clock`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Waits until `duration` of this clock's time has passed. The wall clock sleeps; a test's manual clock
    /// wakes the waiter when the test moves it that far, so a bound the server keeps (how long readiness waits
    /// for the database) is proven exactly, not raced against a loaded machine.
    fn sleep(&self, duration: std::time::Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A shared clock handle, cheap to clone into every part of the server.
pub type SharedClock = Arc<dyn Clock>;

/// PostgreSQL keeps microseconds; truncating here makes a value read back from either store equal to
/// the one written, which the store conformance tests rely on.
fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        to_micros(Utc::now())
    }
}

/// A clock that only moves when told to: for tests of windows, expiry and schedules.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    /// Waiters of [`Clock::sleep`]: each is woken once the clock reaches its deadline.
    sleepers: Mutex<Vec<(DateTime<Utc>, oneshot::Sender<()>)>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self { now: Mutex::new(to_micros(start)), sleepers: Mutex::default() })
    }

    pub fn advance(&self, by: TimeDelta) {
        let now = {
            let mut now = self.now.lock().expect("clock lock poisoned");
            *now += by;
            *now
        };
        self.wake(now);
    }

    pub fn set(&self, to: DateTime<Utc>) {
        let to = to_micros(to);
        *self.now.lock().expect("clock lock poisoned") = to;
        self.wake(to);
    }

    /// How many waits on this clock are under way (their deadline not reached, their waiter still there).
    pub fn sleepers(&self) -> usize {
        let mut sleepers = self.sleepers.lock().expect("clock lock poisoned");
        sleepers.retain(|(_, waiter)| !waiter.is_closed());
        sleepers.len()
    }

    /// Wakes every waiter whose deadline `now` has reached.
    fn wake(&self, now: DateTime<Utc>) {
        let mut sleepers = self.sleepers.lock().expect("clock lock poisoned");
        for (_, waiter) in sleepers.extract_if(.., |(deadline, _)| *deadline <= now) {
            let _ = waiter.send(());
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock poisoned")
    }

    fn sleep(&self, duration: std::time::Duration) -> Sleep {
        let (waiter, woken) = oneshot::channel();
        {
            // Under the sleepers' lock, so an `advance` cannot pass the deadline between reading now and waiting.
            let mut sleepers = self.sleepers.lock().expect("clock lock poisoned");
            let now = self.now();
            match TimeDelta::from_std(duration).ok().and_then(|d| now.checked_add_signed(d)) {
                Some(deadline) if deadline <= now => return Box::pin(std::future::ready(())),
                Some(deadline) => sleepers.push((deadline, waiter)),
                // Past the end of time: never.
                None => return Box::pin(std::future::pending()),
            }
        }
        Box::pin(async move {
            // A clock dropped with its sleepers never wakes them: they wait for ever, as time that stopped would.
            if woken.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn a_manual_clocks_sleeper_wakes_when_the_clock_reaches_its_deadline_and_not_before() {
        let clock = ManualClock::new(Utc::now());
        let mut sleep = clock.sleep(Duration::from_secs(1));
        assert_eq!(clock.sleepers(), 1);
        clock.advance(TimeDelta::milliseconds(999));
        assert!((&mut sleep).now_or_never().is_none(), "999 ms is not a second");
        clock.advance(TimeDelta::milliseconds(1));
        assert!(sleep.now_or_never().is_some());
        assert_eq!(clock.sleepers(), 0);
        assert!(clock.sleep(Duration::ZERO).now_or_never().is_some(), "no wait is no wait");
    }

    #[test]
    fn a_dropped_sleep_is_no_longer_counted() {
        let clock = ManualClock::new(Utc::now());
        drop(clock.sleep(Duration::from_secs(1)));
        assert_eq!(clock.sleepers(), 0);
    }
}
