//! bcrypt is deliberately slow (~250 ms at cost 12). It runs on tokio's blocking pool behind a
//! semaphore, so a login storm queues here instead of occupying every core the hub needs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot stayed busy for the whole queue timeout.
    #[error("password hashing is saturated")]
    Busy,
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("bcrypt task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    /// Bounds how many hashes run at once.
    slots: Arc<Semaphore>,
    /// How long a caller waits for a slot before giving up with [`HashError::Busy`].
    queue_timeout: Duration,
    /// A hash of a random password at the configured cost: verifying against it when the phone number
    /// is unknown makes that answer cost the same time as a wrong password (no account enumeration).
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(cost: u32, concurrency: usize, queue_timeout: Duration) -> Result<Self, HashError> {
        let random: [u8; 16] = rand::random();
        let dummy_hash = bcrypt::hash(random, cost)?.into();
        Ok(Self { cost, slots: Arc::new(Semaphore::new(concurrency)), queue_timeout, dummy_hash })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        let cost = self.cost;
        self.run(move || bcrypt::hash(password, cost)).await
    }

    /// Verifies against `hash`, or against the dummy hash when there is no account, in the same time.
    pub async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, HashError> {
        let password = password.expose().to_owned();
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let matched = self.run(move || bcrypt::verify(password, &hash)).await?;
        Ok(matched && known)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, HashError> {
        let waited = Instant::now();
        let permit = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .expect("the semaphore is never closed");
        metrics::histogram!("tanis_bcrypt_queue_seconds").record(waited.elapsed().as_secs_f64());
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await??;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hasher = PasswordHasher::new(4, 2, Duration::from_secs(5)).unwrap();
        let right = Password::parse("dogru-parola-42".into()).unwrap();
        let wrong = Password::parse("yanlis-parola-42".into()).unwrap();
        let hash = hasher.hash(&right).await.unwrap();
        assert!(hasher.verify(&right, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&right, None).await.unwrap(), "no account never verifies");
    }

    #[tokio::test]
    async fn a_caller_that_cannot_get_a_slot_in_time_is_told_busy() {
        let hasher = PasswordHasher::new(4, 1, Duration::from_millis(50)).unwrap();
        let held = hasher.slots.clone().acquire_owned().await.unwrap();
        let password = Password::parse("dogru-parola-42".into()).unwrap();
        assert!(matches!(hasher.hash(&password).await, Err(HashError::Busy)));
        drop(held);
        assert!(hasher.hash(&password).await.is_ok());
    }
}
