//! Fail points: named places in a transaction where a test can make the next pass fail, to prove that a
//! crash there leaves nothing half-done (the transaction rolls back). Disarmed, a check is one mutex read.

use std::collections::HashSet;
use std::sync::Mutex;

use super::StoreError;

#[derive(Debug, Default)]
pub struct FailPoints {
    armed: Mutex<HashSet<&'static str>>,
}

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
