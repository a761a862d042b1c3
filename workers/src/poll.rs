//! How a worker looks for runs queued by another process: a timer that wakes it every `poll_interval`.
//!
//! apalis's own `IntervalStrategy` (`poll_with_interval`) replaces its timer when it fires without polling the
//! new one, so for that turn no wake-up is registered; when the storage then answers without waiting on I/O the
//! worker is never woken again. Seen under CPU load: the jobs tests' queued run waited 20 s in vain, with the
//! worker's trace (`TANIS_LOG=apalis_core=trace`, three busy loops beside the test) showing fetches every 100 ms
//! that simply stopped. This strategy polls each new timer before it returns, so a wake-up is always armed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};

pub struct Every {
    interval: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Every {
    pub fn new(interval: Duration) -> Self {
        Self { interval, timer: None }
    }
}

impl PollStrategy for Every {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        loop {
            let interval = self.interval;
            let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
            match timer.as_mut().poll(cx) {
                // Start the next period at once and poll it too: that registers this task's waker with it.
                Poll::Ready(()) => {
                    fired = true;
                    self.timer = None;
                }
                Poll::Pending if fired => return Poll::Ready(Some(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// After every tick a new wake-up is armed: the task is woken again one interval later, and again.
    #[tokio::test(start_paused = true)]
    async fn every_tick_arms_the_next_wake_up() {
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut every = Every::new(Duration::from_millis(100));
        let snapshot = PollSnapshot::default();
        assert!(every.poll_drive(&mut cx, &snapshot).is_pending());
        for round in 1..=3 {
            tokio::time::advance(Duration::from_millis(100)).await;
            assert_eq!(wakes.0.load(Ordering::SeqCst), round, "woken by tick {round}");
            assert_eq!(every.poll_drive(&mut cx, &snapshot), Poll::Ready(Some(())));
        }
    }
}
