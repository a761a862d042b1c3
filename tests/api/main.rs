//! The one integration-test binary: the real application on port 0 over real sockets, with a fresh
//! SQLite file or a fresh PostgreSQL database per test. Every scenario runs on both stores.

mod helpers;

mod admin;
mod ads;
mod billing;
mod binary;
mod cluster;
mod consent;
mod deletion;
mod errors;
mod export;
mod forwarded_for;
mod hub_connect;
mod hub_matching;
mod hub_moderation;
mod hub_relay;
mod job_restarts;
mod jobs;
mod login;
mod me;
mod migrations;
mod moderation;
mod nginx_cluster;
mod notifications;
mod ops;
mod password_reset;
mod pg_sockets;
mod phone_codes;
mod phones;
mod poison;
mod protocol_connect_promises;
mod protocol_message_promises;
mod purge;
mod push;
mod recent_partners;
mod register;
mod sessions;
mod shutdown;
mod store_batches;
mod store_conformance;
mod tokens;
mod twilio;
mod video;
mod video_limits;
mod web;
