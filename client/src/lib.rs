//! tanis reference client: WebSocket protocol (coming) and end-to-end encryption.
//!
//! The server relays ciphertext it cannot read; [`e2e`] holds everything needed to produce and read it.

pub mod e2e;

pub use e2e::{E2eError, E2eSession, Identity, Role, Sealed, safety_number};
