//! tanis — an anonymous text and video matching chat server.
//!
//! # Layout
//! Every module of this crate, by what it is for. The other crates of the workspace: `tanis-proto` (the
//! WebSocket frames and the ids both sides share), `tanis-workers` (the background jobs, over traits [`jobs`]
//! implements), `tanis-signaling` (the SDP filter and the embedded TURN relay), `tanis-client` and `bench`.
//!
//! Starting and configuring
//! - [`config`]: the settings, read from a TOML file and `TANIS_*` variables and validated at load.
//! - [`startup`]: builds the whole server from a [`config::Config`] and runs it under one shutdown token.
//! - [`cli`]: the `tanis` command line (`serve`, `migrate`, `worker`, `dev`, `phones`, `statements`, `set-role`).
//! - [`secrets`]: the JWT, TURN and phone secrets, generated on first start and kept owner-only in the data directory.
//! - [`telemetry`]: structured logs and the Prometheus recorder.
//! - [`clock`]: the time source, injected so tests control time instead of waiting for it.
//! - `rng` (tests only): SplitMix64, the seeded source of chance of the simulations and the seeded walks.
//! - [`video`]: the ICE servers a video match is given, with fresh TURN credentials.
//!
//! The doors
//! - [`api`]: the REST surface: routers, the extractors (`api::extract`: the signed-in user, the client's
//!   address; staff and admin in `api::admin`), the JSON error shape, OpenAPI, health and metrics.
//! - [`hub`]: the WebSocket hub: sockets, one dispatch per frame, conversations, matches, video signalling.
//!
//! Rules (no HTTP, no sockets, no SQL)
//! - [`domain`]: values parsed once at the edge and the rules that need nothing but them: `Phone`, `Password`,
//!   `Alias`, `Tag`, `Role`, `Interests` (the topic vocabulary), `Languages`; the stored kinds (`MatchStatus`,
//!   `EndCause`, `AuditAction`, `NotificationKind`, `BanReason`); the bounded words and ranges of requests
//!   (`ModeratorNote`, `BanDuration`, `AppealText`, `AdTitle`, `AdContent`, `BroadcastText`, `TypedHandle`); the
//!   trust rules (`domain::trust`: who counts toward the automatic ban, bursts sent to review, quarantine, limits on
//!   new accounts); the ids `UserId`, `MatchId`, `Seq` and `MatchKind` come from tanis-proto.
//! - [`accounts`]: registration, login, token rotation, profile, deletion and export rules; the only code that
//!   touches passwords.
//! - [`auth`]: bcrypt on a bounded blocking pool, access JWTs and refresh tokens (the HTTP side is in [`api`]).
//! - [`quota`]: daily quota policy (reset time, who can pay).
//! - [`claims`]: filing a claim (the job in tanis-workers decides it).
//! - [`moderation`]: banning, the same way from the API, the hub's server and the jobs (it takes the store, delivery
//!   and queue a ban reaches, never the hub); the `[trust]` settings turned into the trust rules.
//! - [`statements`]: the operator's JSON Lines export of statements of reasons (the EU Transparency Database's
//!   fields; the statements themselves are written by `store` with each decision).
//! - [`billing`]: the billing provider's webhook as data: its signature and its events.
//! - [`ads`]: who an ad is for and when a free user may be shown one.
//! - [`notices`]: every notification's text, stored as a template and rendered in the user's language.
//! - [`reports`]: a report from its parsed request (the socket's `report`, `not_as_declared`, a call report) to its
//!   stored rows and its trust effects; the call reports' snapshot vault.
//!
//! Moving things
//! - [`redis_link`]: the link to Redis: one server or a Redis Cluster behind one connection type, where it is
//!   (`redis_url`), and the timeouts; delivery, matching, the rate limits and the jobs each take it from here.
//! - [`live`]: a connected user's live state beside their sockets: their current match and their cached
//!   standing, with the rules of how events change them.
//! - [`rate`]: per-user token buckets, in memory on one node, in Redis across nodes.
//! - [`delivery`]: the one way to reach a user (frames, answers to one socket, kicks) and presence, on one
//!   node or across nodes through Redis.
//! - [`matching`]: a `match.find` from its parsed frame to `match.found` (`matching::find`: the standing, the
//!   admission, the queue, the opening through the group commit); the matchmaker task, the pure admission rule
//!   (`matching::admission`) and the pure pairing rules.
//! - [`group_commit`]: the single writer that commits messages, receipts, match ends and openings in shared
//!   transactions, and answers and delivers only after the commit.
//! - [`jobs`]: the server's side of the background jobs (tanis-workers) over the store and the hub.
//! - [`push`]: push notifications to users with no open socket, queued per device and sent through FCM.
//! - [`sms`]: one-time codes by text message: the provider's HTTP API (Twilio's format) or, in development, the log.
//! - [`age`]: age assurance by an outside provider (Yoti's Age Verification API): start a session, read and
//!   keep its result; what a find needs an assured age for is `domain::age`'s rule, applied by matching.
//!
//! Keeping things
//! - [`store`]: persistence behind one `Store` with a SQLite and a PostgreSQL backend sharing their SQL; the
//!   group commit's batch is `store::batch`.
//! - [`phones`]: phone numbers at rest: sealed (XChaCha20-Poly1305) beside a blind index (HMAC), the keys outside
//!   the database.
//! - [`reseal`]: the rewrites of stored phones, over both: sealing old plaintext, checking the keys fit the rows,
//!   resealing under new keys (`tanis phones rotate-key`).
//! - [`dedicated`]: hot database loops on a thread of their own (the group commit on both stores), and why.
//! - [`descriptors`]: the open-file limit, raised to the hard one at start, and the sockets it leaves room for.

pub mod accounts;
pub mod ads;
pub mod age;
pub mod api;
pub mod auth;
pub mod backup;
pub mod billing;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dedicated;
pub mod delivery;
pub mod descriptors;
pub mod domain;
pub mod group_commit;
pub mod hub;
pub mod jobs;
pub mod live;
pub mod matching;
pub mod moderation;
pub mod notices;
pub mod phones;
pub mod push;
pub mod quota;
pub mod rate;
pub mod redis_link;
pub mod reports;
pub mod reseal;
#[cfg(test)]
pub(crate) mod rng;
pub mod secrets;
pub mod sms;
pub mod startup;
pub mod statements;
pub mod store;
pub mod telemetry;
pub mod video;
