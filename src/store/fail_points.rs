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
}
