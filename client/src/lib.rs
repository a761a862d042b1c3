//! tanis reference client: the WebSocket protocol, end-to-end encryption and call-quality reports ([`call`]).
//!
//! The server relays ciphertext it cannot read; [`e2e`] holds everything needed to produce and read it, and
//! [`franking`] what makes a received message provable in a report.

pub mod acks;
pub mod call;
#[cfg(feature = "net")]
pub mod connection;
pub mod core;
pub mod e2e;
pub mod franking;
pub mod outbox;

pub use acks::{ACK_DELAY, Acks};
pub use call::{CallReporter, Measured, Packets};
#[cfg(feature = "net")]
pub use connection::{Chat, ClientError, Connection, Direction, Find, TokenIn, observe_frames, reconnect_delay};

pub use e2e::{E2eError, E2eSession, Identity, RECEIVE_WINDOW, Role, Sealed, counter_of, safety_number};
pub use outbox::{Outbox, Refusal, SEND_AHEAD};
