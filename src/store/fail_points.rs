//! Fail points: named places in a transaction where a test can make the next pass fail, to prove that a
//! crash there leaves nothing half-done (the transaction rolls back).
//!
//! Only with the `fail-points` cargo feature, which the test suite turns on (the package's dev-dependency on
//! itself) and no other build does: without it [`FailPoints`] has no state and no way to arm it, and every check
//! is an inlined `Ok(())` that compiles to nothing.

use super::StoreError;

#[cfg(feature = "fail-points")]
#[derive(Debug, Default)]
pub struct FailPoints {
    armed: std::sync::Mutex<std::collections::HashSet<&'static str>>,
    /// Named meeting points: the next `parties` callers of [`FailPoints::rendezvous`] there wait for each other.
    meetings: std::sync::Mutex<std::collections::HashMap<&'static str, std::sync::Arc<tokio::sync::Barrier>>>,
    /// Named holds: the next caller of [`FailPoints::rendezvous`] there says it arrived and waits to be released.
    holds: std::sync::Mutex<std::collections::HashMap<&'static str, (Signal, tokio::sync::oneshot::Receiver<()>)>>,
}

#[cfg(feature = "fail-points")]
type Signal = tokio::sync::oneshot::Sender<()>;

/// A pass stopped at a fail point by [`FailPoints::hold`]: the test learns that it got there, does what must
/// happen meanwhile, then lets it go on.
#[cfg(feature = "fail-points")]
pub struct Held {
    reached: tokio::sync::oneshot::Receiver<()>,
    release: Signal,
}

#[cfg(feature = "fail-points")]
impl Held {
    /// Waits until a pass has arrived at the point.
    pub async fn reached(&mut self) {
        let _ = (&mut self.reached).await;
    }

    /// Lets the held pass go on.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

#[cfg(feature = "fail-points")]
impl FailPoints {
    /// Makes the next [`FailPoints::check`] of `name` fail (once).
    pub fn arm(&self, name: &'static str) {
        self.armed.lock().expect("fail points lock").insert(name);
    }

    pub(crate) fn check(&self, name: &'static str) -> Result<(), StoreError> {
        match self.armed.lock().expect("fail points lock").remove(name) {
            true => Err(StoreError::Injected(name)),
            false => Ok(()),
        }
    }

    /// Makes the next `parties` passes through [`FailPoints::rendezvous`] of `name` wait until all have arrived:
    /// a test forces concurrent requests to interleave exactly there, instead of hoping they do.
    pub fn meet(&self, name: &'static str, parties: usize) {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(parties));
        self.meetings.lock().expect("fail points lock").insert(name, barrier);
    }

    /// Makes the next pass through [`FailPoints::rendezvous`] of `name` stop there until the test releases it.
    pub fn hold(&self, name: &'static str) -> Held {
        let (arrived, reached) = tokio::sync::oneshot::channel();
        let (release, released) = tokio::sync::oneshot::channel();
        self.holds.lock().expect("fail points lock").insert(name, (arrived, released));
        Held { reached, release }
    }

    pub(crate) async fn rendezvous(&self, name: &'static str) {
        let held = self.holds.lock().expect("fail points lock").remove(name);
        if let Some((arrived, released)) = held {
            let _ = arrived.send(());
            let _ = released.await;
        }
        let barrier = self.meetings.lock().expect("fail points lock").get(name).cloned();
        if let Some(barrier) = barrier
            && barrier.wait().await.is_leader()
        {
            self.meetings.lock().expect("fail points lock").remove(name);
        }
    }
}

#[cfg(not(feature = "fail-points"))]
#[derive(Debug, Default)]
pub struct FailPoints;

#[cfg(not(feature = "fail-points"))]
impl FailPoints {
    #[inline(always)]
    pub(crate) fn check(&self, _name: &'static str) -> Result<(), StoreError> {
        Ok(())
    }

    /// A ready future rather than an `async fn`: an async body keeps its argument in its state, which left the
    /// point's name in release binaries.
    #[inline(always)]
    pub(crate) fn rendezvous(&self, _name: &'static str) -> std::future::Ready<()> {
        std::future::ready(())
    }
}
