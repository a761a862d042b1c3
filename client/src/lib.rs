//! tanis reference client: the WebSocket protocol and end-to-end encryption.
//!
//! The server relays ciphertext it cannot read; [`e2e`] holds everything needed to produce and read it.

pub mod connection;
pub mod e2e;

pub use connection::{Chat, ClientError, Connection, TokenIn};

pub use e2e::{E2eError, E2eSession, Identity, Role, Sealed, safety_number};
