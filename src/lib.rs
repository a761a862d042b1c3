//! tanis — an anonymous text and video matching chat server.
//!
//! # Layout
//! - [`config`]: the settings, read from a TOML file and `TANIS_*` variables and validated at load.
//! - [`startup`]: builds the whole server from a [`config::Config`] and runs it under one shutdown token.
//! - [`cli`]: the `tanis` command line (`serve`, `migrate`).
//! - [`api`]: the REST surface (routers, the JSON error shape, OpenAPI, health and metrics).
//! - [`hub`]: the WebSocket hub: sockets, frame dispatch, conversations, matches, video signalling.
//! - [`moderation`]: banning, the same way from the API, the hub's server and the jobs.
//! - [`delivery`]: the one way to reach a user (frames, answers to one socket, kicks) and presence.
//! - [`matching`]: the matchmaker task and the pure pairing rules.
//! - [`group_commit`]: the single writer that commits messages, receipts, match ends and openings in shared
//!   transactions, and answers and delivers only after the commit.
//! - [`claims`]: filing a claim (the job in tanis-workers decides it).
//! - [`jobs`]: the server's side of the background jobs (tanis-workers) over the store and the hub.
//! - [`quota`]: daily quota policy (reset time, who can pay).
//! - [`accounts`]: registration, login, token rotation and profile rules; the only code that touches passwords.
//! - [`auth`]: bcrypt on a bounded blocking pool, access JWTs, the authenticated-user extractor.
//! - [`domain`]: parsed newtypes (`Phone`, `Password`, `Alias`, `Tag`) built once at the edge.
//! - [`phones`]: phone numbers at rest: sealed (XChaCha20-Poly1305) beside a blind index (HMAC), the keys outside
//!   the database, and the rewrites that seal old plaintext and reseal under new keys.
//! - [`sms`]: one-time codes by text message: the provider's HTTP API (Twilio's format) or, in development, the log.
//! - [`store`]: persistence behind one `Store` with a SQLite and a PostgreSQL backend sharing their SQL.
//! - [`dedicated`]: hot database loops on a thread of their own (SQLite), and why.
//! - [`clock`]: the time source, injected so tests control time instead of waiting for it.
//! - [`secrets`]: the JWT, TURN and phone secrets, generated on first start and kept owner-only in the data directory.
//! - [`telemetry`]: structured logs and the Prometheus recorder.

pub mod accounts;
pub mod ads;
pub mod api;
pub mod auth;
pub mod billing;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dedicated;
pub mod delivery;
pub mod domain;
pub mod group_commit;
pub mod hub;
pub mod jobs;
pub mod matching;
pub mod moderation;
pub mod notices;
pub mod phones;
pub mod push;
pub mod quota;
pub mod secrets;
pub mod sms;
pub mod startup;
pub mod store;
pub mod telemetry;
