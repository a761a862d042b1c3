//! Settings: defaults, then an optional TOML file, then `TANIS_*` environment variables (nested keys
//! with `__`, e.g. `TANIS_AUTH__BCRYPT_COST`). Everything is validated at load and an error names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod moderation;
mod trust;

pub use moderation::{Ground, ModerationConfig, ResolvedGround};
pub use trust::TrustConfig;

/// Passwords that ship in examples and tutorials; production refuses a database URL that uses one.
const DEFAULT_DB_PASSWORDS: &[&str] = &["postgres", "password", "tanis", "secret", "changeme", "change-me", "admin"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP and WebSocket listener binds to.
    pub listen: SocketAddr,
    /// Where the SQLite file and the generated secrets (JWT, TURN, phone keys) live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; unset means a SQLite file inside `data_dir`.
    pub database_url: Option<String>,
    /// Refuse generated secrets, default credentials and weak settings.
    pub production: bool,
    /// `text` for people, `json` for log shippers.
    pub log_format: LogFormat,
    /// The proxies in front of tanis (addresses or networks, e.g. `["172.28.0.10/32"]`). A request whose peer
    /// is one of them is taken to come from the rightmost `X-Forwarded-For` entry; from any other peer the
    /// header is ignored, so a client cannot choose the address its login attempts are counted under.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest accepted REST request body, in bytes.
    pub max_body_bytes: usize,
    /// A REST request (body included) not answered within this is cut off with `408 request_timeout`, so a
    /// client that stalls mid-body holds no task and shutdown never waits on it.
    pub request_timeout_ms: u64,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// `redis://…`: when set, this node is one of several: frames, kicks and presence cross nodes through
    /// Redis, one elected node runs the matchmaker, per-user limits are counted there, and the background jobs
    /// queue their runs there instead of the database. Unset: everything stays in this process.
    pub redis_url: Option<String>,
    pub cluster: ClusterConfig,
    pub auth: AuthConfig,
    pub quotas: QuotaConfig,
    pub hub: HubConfig,
    pub matching: MatchingConfig,
    pub jobs: JobsConfig,
    pub video: VideoConfig,
    pub billing: BillingConfig,
    pub ads: AdsConfig,
    pub push: PushConfig,
    pub phones: PhonesConfig,
    pub sms: SmsConfig,
    pub trust: TrustConfig,
    pub moderation: ModerationConfig,
}

/// One-time codes by SMS (phone verification, phone change, password reset; docs/operations.md "SMS"). A code is
/// 6 digits, lives 5 minutes and takes at most 5 guesses (fixed: the texts say so); the limits below bound how
/// often one is sent.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `log`: the code is written to the server log, for development (refused in production); `http`: sent
    /// through an HTTP API speaking Twilio's Messages format.
    pub provider: SmsProvider,
    /// The provider's send endpoint, e.g. `https://api.twilio.com/2010-04-01/Accounts/<sid>/Messages.json`.
    pub http_url: Option<String>,
    /// HTTP Basic user (Twilio: the account SID or an API key SID).
    #[serde(deserialize_with = "text")]
    pub account: Option<String>,
    /// HTTP Basic password (Twilio: the auth token or the API key secret). A secret: never logged.
    #[serde(deserialize_with = "text")]
    pub token: Option<String>,
    /// The sender: a number in E.164 or an alphanumeric sender id the provider has approved. From the
    /// environment, quote a number: `TANIS_SMS__FROM='"+908501234567"'`.
    #[serde(deserialize_with = "text")]
    pub from: Option<String>,
    /// A send not answered within this counts as failed.
    pub timeout_ms: u64,
    /// Least time between two codes to one phone.
    pub min_interval_secs: u64,
    /// Codes to one phone within an hour.
    pub max_per_phone_per_hour: u32,
    /// Codes asked for from one client address within an hour.
    pub max_per_ip_per_hour: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    Log,
    Http,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: SmsProvider::Log,
            http_url: None,
            account: None,
            token: None,
            from: None,
            timeout_ms: 10_000,
            min_interval_secs: 60,
            max_per_phone_per_hour: 5,
            max_per_ip_per_hour: 20,
        }
    }
}

/// A text setting that an unquoted environment value would turn into a number, losing a `+` or leading zeros
/// (`TANIS_SMS__FROM=+90…` reads as 90…): refused, saying how to quote it, rather than used mangled.
fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(serde::de::IgnoredAny),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Raw::Text(text)) => Ok(Some(text)),
        Some(Raw::Number(_)) => Err(serde::de::Error::custom(
            "read as a number, which would drop a leading + or 0: quote it (environment: '\"+90…\"')",
        )),
    }
}

/// The token never reaches a log or a panic message.
impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("provider", &self.provider)
            .field("http_url", &self.http_url)
            .field("account", &self.account)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout_ms", &self.timeout_ms)
            .field("min_interval_secs", &self.min_interval_secs)
            .field("max_per_phone_per_hour", &self.max_per_phone_per_hour)
            .field("max_per_ip_per_hour", &self.max_per_ip_per_hour)
            .finish()
    }
}

/// Push notifications through FCM HTTP v1 (docs/operations.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// The Firebase service account key (JSON). Unset: no pushes are queued or sent.
    pub fcm_service_account_file: Option<PathBuf>,
    /// FCM's base URL (a stand-in in tests).
    pub fcm_base_url: String,
    /// Overrides the key file's `token_uri` (a stand-in in tests).
    pub fcm_token_uri: Option<String>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self { fcm_service_account_file: None, fcm_base_url: "https://fcm.googleapis.com".into(), fcm_token_uri: None }
    }
}

/// Phone numbers at rest (src/phones, docs/operations.md "Phone numbers"): the database holds them sealed
/// (XChaCha20-Poly1305) beside a blind index (HMAC-SHA256) that lookups and uniqueness use. Every key is a string
/// of at least 32 characters (e.g. `openssl rand -hex 32`), the same on every process of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PhonesConfig {
    /// Seals every phone number written from now on. Unset: generated once into `data_dir/phone_encryption_key`;
    /// required in production. Its id (derived from it) is written into everything it seals.
    pub encryption_key: Option<String>,
    /// Keys that sealed phone numbers before the current one: they still open them, never seal. Keep them until
    /// `tanis phones rotate-key` has resealed everything under `encryption_key`.
    pub previous_encryption_keys: Vec<String>,
    /// Keys the blind index. Unset: generated once into `data_dir/phone_index_key`; required in production.
    /// Changing it makes every stored index stale: move the old one to `previous_index_key` and run
    /// `tanis phones rotate-key`.
    pub index_key: Option<String>,
    /// The index key being replaced: lookups match its indexes too until `tanis phones rotate-key` has rebuilt
    /// them all under `index_key`.
    pub previous_index_key: Option<String>,
}

/// Ads between matches for free users (docs/admin.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdsConfig {
    /// Show ads at all.
    pub enabled: bool,
    /// At most one ad per user in this many seconds (counted on the node holding their socket).
    pub min_interval_secs: u64,
    /// How often a node reads the active ads again (at once on the node where an admin changed them).
    pub refresh_secs: u64,
}

impl Default for AdsConfig {
    fn default() -> Self {
        Self { enabled: true, min_interval_secs: 600, refresh_secs: 30 }
    }
}

/// The billing provider's webhook (`POST /v1/billing/events`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// The shared secret the provider signs events with (at least 32 characters). Unset: the webhook answers
    /// 503 and premium is granted only by admins.
    pub webhook_secret: Option<String>,
    /// How far a signed time may be from now, either way.
    pub replay_window_secs: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self { webhook_secret: None, replay_window_secs: 300 }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 signing secret for access tokens. Unset: generated once into `data_dir/jwt_secret`.
    pub jwt_secret: Option<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// bcrypt work factor (4–31); every step doubles the cost of a login.
    pub bcrypt_cost: u32,
    /// How many bcrypt computations may run at once; the rest wait, so a login storm cannot take every core.
    pub bcrypt_concurrency: usize,
    /// How long a login waits for a bcrypt slot before the server answers `server_busy`.
    pub bcrypt_queue_timeout_ms: u64,
    /// The window in which failed logins are counted.
    pub login_window_secs: u64,
    /// Failed logins for one phone number within the window before further attempts get 429.
    pub max_failures_per_phone: u32,
    /// Failed logins from one IP address within the window before further attempts get 429.
    pub max_failures_per_ip: u32,
    /// The current privacy notice version. A registering user consents to it; when it changes, everyone must
    /// accept the new version (`POST /v1/me/consent`) before they can be matched again.
    pub privacy_notice_version: String,
    /// Registration refuses a birth year that makes the person younger than this (self-attested, by year:
    /// this year minus the birth year).
    pub minimum_age: u16,
    /// Days between a deletion request and the purge of the account; signing in before then undoes it. 0 purges
    /// at the purge job's next run.
    pub deletion_grace_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    pub free_text_daily: u32,
    pub free_video_daily: u32,
    pub premium_text_daily: u32,
    pub premium_video_daily: u32,
    /// Daily units come back at midnight in this IANA zone.
    pub timezone: String,
}

/// Video calls: signalling limits, TURN credentials, the embedded TURN server, IP privacy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VideoConfig {
    /// Start the embedded TURN server (turn it off when an external coturn is used: see docs/operations.md).
    pub turn_enabled: bool,
    /// UDP address the embedded TURN server listens on.
    pub turn_listen: SocketAddr,
    /// Also listen for TURN over TCP (`turn:…?transport=tcp`) at `turn_listen`'s address, as coturn does: the
    /// fallback of networks that pass no UDP.
    pub turn_tcp: bool,
    /// TLS address for TURN over TLS (`turns:`), usually port 443 where only HTTPS gets through. Needs
    /// `turn_tls_certificate` and `turn_tls_private_key`. Unset: no TLS listener.
    pub turn_tls_listen: Option<SocketAddr>,
    /// PEM files: the certificate chain (leaf first) and its private key.
    pub turn_tls_certificate: Option<std::path::PathBuf>,
    pub turn_tls_private_key: Option<std::path::PathBuf>,
    /// The name `turns:` URLs carry, which the certificate must be valid for. Unset: `turn_public_ip`.
    pub turn_tls_name: Option<String>,
    /// Allocations the embedded server holds at once (each a UDP socket); TCP/TLS connections count too.
    pub turn_max_allocations: usize,
    /// The address clients reach the embedded TURN server at, and that its relay candidates carry.
    pub turn_public_ip: std::net::IpAddr,
    /// `[min, max]`: the UDP ports relay sockets take (coturn's min-port/max-port), so a firewall opens just these.
    /// Unset: the kernel's ephemeral ports.
    pub turn_relay_ports: Option<(u16, u16)>,
    pub turn_realm: String,
    /// The TURN REST shared secret (coturn's `static-auth-secret`). Unset: generated into `data_dir/turn_secret`.
    pub turn_secret: Option<String>,
    /// External TURN URLs (coturn), offered in addition to (or, with the embedded server off, instead of) ours.
    pub turn_urls: Vec<String>,
    /// Lifetime of the ephemeral TURN credentials.
    pub credential_ttl_secs: u64,
    /// Relay-only calls: clients are told to use only relay candidates, and every other candidate is removed
    /// from relayed signalling, so no peer learns the other's IP address.
    pub relay_only: bool,
    pub max_sdp_bytes: usize,
    pub max_candidate_bytes: usize,
    /// Signalling frames per second per user, and the burst above it.
    pub signals_per_second: u32,
    pub signal_burst: u32,
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            turn_enabled: true,
            turn_listen: "127.0.0.1:3478".parse().expect("static address"),
            turn_tcp: true,
            turn_relay_ports: None,
            turn_tls_listen: None,
            turn_tls_certificate: None,
            turn_tls_private_key: None,
            turn_tls_name: None,
            turn_max_allocations: 5000,
            turn_public_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            turn_realm: "tanis".into(),
            turn_secret: None,
            turn_urls: Vec::new(),
            credential_ttl_secs: 600,
            relay_only: true,
            max_sdp_bytes: 16 * 1024,
            max_candidate_bytes: 1024,
            signals_per_second: 20,
            signal_burst: 60,
        }
    }
}

/// Background jobs (tanis-workers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Run the jobs inside `tanis serve`. Turn off when a separate `tanis worker` runs them.
    pub enabled: bool,
    /// Distinct reporters (each matched with the user) that ban a user automatically.
    pub report_threshold: u32,
    /// Bonus text matches for the invited user, and for the inviter (0: none), granted once the invited user's
    /// phone is verified.
    pub referral_invited_bonus: i32,
    pub referral_inviter_bonus: i32,
    /// Message content older than this is deleted (metadata logs stay).
    pub message_retention_hours: u32,
    /// A report's verified evidence (messages the reporter revealed) is deleted this long after it was verified.
    pub evidence_retention_days: u32,
    /// How long after it was sent a message can be revealed in a report: its franking commitment is kept this long
    /// and then cleared, and older reveals are refused (`evidence_expired`). At least `message_retention_hours`,
    /// so a message whose content is still stored always carries its commitment.
    pub report_window_days: u32,
    /// Prefix of the job queues' names (lets deployments share one Redis).
    pub queue_namespace: String,
    /// How often workers look for runs queued elsewhere (by another node or `tanis worker`).
    pub poll_interval_ms: u64,
    /// A job with no success for its period (a minute; a day for the quota reset) plus this is reported stalled
    /// by `/healthz/jobs`.
    pub stall_grace_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            report_threshold: 10,
            referral_invited_bonus: 10,
            referral_inviter_bonus: 0,
            message_retention_hours: 24,
            evidence_retention_days: 90,
            report_window_days: 30,
            queue_namespace: "tanis".into(),
            poll_interval_ms: 1000,
            stall_grace_secs: 240,
        }
    }
}

/// The WebSocket hub: per-connection limits and the node's connection cap.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// Sockets this node accepts at once; one more is closed with 4013.
    pub max_connections: usize,
    /// Largest WebSocket message read (a frame with a 16 KiB ciphertext in base64 fits with room).
    pub max_frame_bytes: usize,
    /// Largest decoded ciphertext of one message.
    pub max_message_bytes: usize,
    /// Frames waiting to be written to one socket; a client that lets it fill is disconnected (4008).
    pub outbound_queue: usize,
    /// Messages of one socket waiting for their durable write; when full, that socket's reading pauses.
    pub max_in_flight: usize,
    /// Sustained messages per second per user, and the burst allowed above it.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// Invalid frames tolerated per minute before the socket is closed (4004).
    pub max_protocol_errors: u32,
    /// How often the server pings, and how long a silent socket lives.
    pub heartbeat_interval_ms: u64,
    pub heartbeat_timeout_ms: u64,
    /// Per-socket WebSocket buffers: the most read at once, and how much is gathered before a write. Held only
    /// while reading or writing (the patched tungstenite in vendor/ gives them back when the socket waits).
    pub read_buffer_bytes: usize,
    pub write_buffer_bytes: usize,
}

impl HubConfig {
    /// The hard limit on a frame read: the larger of `max_frame_bytes` and the largest `report` (20 reveals of
    /// `max_message_bytes`, [`crate::domain::evidence::max_report_frame_bytes`]; 453 184 bytes by default). A frame
    /// above it is never read and closes the socket with 1009; below it, only a `report` may exceed
    /// `max_frame_bytes`. Derived, not configured, so it always holds a maximal report.
    pub fn hard_frame_bytes(&self) -> usize {
        crate::domain::evidence::max_report_frame_bytes(self.max_message_bytes).max(self.max_frame_bytes)
    }
}

/// How nodes share work through Redis (only with `redis_url`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Prefix of every Redis key and channel: several clusters (or test runs) can share one Redis.
    pub namespace: String,
    /// A node's claim that a user's socket is on it lives this long unless renewed (every third of it while
    /// the socket lives): a node killed with -9 stops receiving that user's frames after at most this.
    pub presence_ttl_secs: u64,
    /// The matchmaker's lease: renewed every third of it; when its holder dies another node takes over
    /// within about this plus one renewal period.
    pub matchmaker_lease_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { namespace: "tanis".into(), presence_ttl_secs: 30, matchmaker_lease_ms: 3000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MatchingConfig {
    /// Two people matched within this many hours are not paired again.
    pub recent_partner_hours: u32,
    /// A match expires this long after it was made.
    pub match_ttl_hours: u32,
    /// "Nearby" starts with this radius…
    pub nearby_start_km: f64,
    /// …and doubles every this many seconds of waiting, until anyone qualifies.
    pub nearby_doubling_secs: u64,
    /// A `match.find` with `interests: "prefer"` waits this long for someone sharing an interest, then takes
    /// anyone.
    pub interest_fallback_secs: u64,
    /// Never pair two people who both chose their languages and share none. Off: languages are only named.
    pub require_common_language: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("static address"),
            data_dir: PathBuf::from("data"),
            database_url: None,
            production: false,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 30_000,
            metrics_token: None,
            redis_url: None,
            cluster: ClusterConfig::default(),
            auth: AuthConfig::default(),
            quotas: QuotaConfig::default(),
            hub: HubConfig::default(),
            matching: MatchingConfig::default(),
            jobs: JobsConfig::default(),
            video: VideoConfig::default(),
            billing: BillingConfig::default(),
            ads: AdsConfig::default(),
            push: PushConfig::default(),
            phones: PhonesConfig::default(),
            sms: SmsConfig::default(),
            trust: TrustConfig::default(),
            moderation: ModerationConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            bcrypt_cost: 12,
            // Half the cores: a login storm then leaves the other half to the sockets (BENCHMARKS.md, login-storm).
            bcrypt_concurrency: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            bcrypt_queue_timeout_ms: 10_000,
            login_window_secs: 15 * 60,
            max_failures_per_phone: 5,
            max_failures_per_ip: 50,
            privacy_notice_version: "2026-11-01".into(),
            minimum_age: 18,
            deletion_grace_days: 30,
        }
    }
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            free_text_daily: 10,
            free_video_daily: 3,
            premium_text_daily: 50,
            premium_video_daily: 15,
            timezone: "Europe/Istanbul".into(),
        }
    }
}

impl QuotaConfig {
    /// The configured zone; `validate` has checked that it parses.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Istanbul)
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            max_connections: 100_000,
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 16 * 1024,
            outbound_queue: 256,
            max_in_flight: 64,
            messages_per_second: 10,
            message_burst: 30,
            max_protocol_errors: 20,
            heartbeat_interval_ms: 20_000,
            heartbeat_timeout_ms: 60_000,
            // 1 KiB: a chat frame fits, and longer ones take a few reads.
            read_buffer_bytes: 1024,
            write_buffer_bytes: 4 * 1024,
        }
    }
}

impl Default for MatchingConfig {
    fn default() -> Self {
        Self {
            recent_partner_hours: 24,
            match_ttl_hours: 24,
            nearby_start_km: 5.0,
            nearby_doubling_secs: 10,
            interest_fallback_secs: 10,
            require_common_language: true,
        }
    }
}

/// A configuration that could not be loaded or is not acceptable; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, problem: problem.into() }
}

impl Config {
    /// Defaults, then `file` (when given, it must exist), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(invalid("--config", format!("file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        // TANIS_CONFIG names the file, TANIS_LOG the log filter and TANIS_TEST_* belongs to the test
        // harness: none of them are settings. Keys are lower-cased so errors name them as the TOML does.
        let env = Env::prefixed("TANIS_").filter_map(|key| {
            let key = key.as_str().to_ascii_lowercase();
            let ignored = key == "config" || key == "log" || key.starts_with("test_");
            (!ignored).then(|| key.replace("__", ".").into())
        });
        let config: Config = figment.merge(env).extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot; `load` calls it, and so should anything building a Config by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let a = &self.auth;
        if !(4..=31).contains(&a.bcrypt_cost) {
            return Err(invalid("auth.bcrypt_cost", "must be between 4 and 31"));
        }
        if a.bcrypt_concurrency == 0 {
            return Err(invalid("auth.bcrypt_concurrency", "must be at least 1"));
        }
        if a.access_token_ttl_secs == 0 || a.access_token_ttl_secs > 24 * 3600 {
            return Err(invalid("auth.access_token_ttl_secs", "must be between 1 and 86400"));
        }
        if !(13..=120).contains(&a.minimum_age) {
            return Err(invalid("auth.minimum_age", "must be between 13 and 120"));
        }
        if a.deletion_grace_days > 3650 {
            return Err(invalid("auth.deletion_grace_days", "must be at most 3650"));
        }
        if a.privacy_notice_version.trim().is_empty() || a.privacy_notice_version.len() > 64 {
            return Err(invalid("auth.privacy_notice_version", "must be 1 to 64 characters"));
        }
        if a.refresh_token_ttl_secs < a.access_token_ttl_secs {
            return Err(invalid("auth.refresh_token_ttl_secs", "must not be shorter than the access token's"));
        }
        if a.login_window_secs == 0 || a.max_failures_per_phone == 0 || a.max_failures_per_ip == 0 {
            return Err(invalid("auth.login_window_secs", "the login window and failure limits must be positive"));
        }
        if let Some(secret) = &a.jwt_secret
            && secret.len() < 32
        {
            return Err(invalid("auth.jwt_secret", "must be at least 32 characters"));
        }
        self.validate_video()?;
        self.trust.validate()?;
        self.validate_phone_keys()?;
        self.validate_sms()?;
        if self.billing.webhook_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(invalid("billing.webhook_secret", "must be at least 32 characters"));
        }
        if self.quotas.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid("quotas.timezone", "not an IANA time zone (e.g. Europe/Istanbul)"));
        }
        let h = &self.hub;
        if h.max_connections == 0 || h.outbound_queue == 0 || h.max_in_flight == 0 || h.messages_per_second == 0 {
            return Err(invalid(
                "hub",
                "max_connections, outbound_queue, max_in_flight and messages_per_second must be positive",
            ));
        }
        // A burst of acknowledgements (up to max_in_flight at once) must fit in a socket's queue.
        if h.outbound_queue <= h.max_in_flight {
            return Err(invalid("hub.outbound_queue", "must be larger than hub.max_in_flight"));
        }
        // base64 grows data by 4/3; the frame must hold the largest ciphertext plus the JSON around it.
        if h.max_frame_bytes < h.max_message_bytes * 4 / 3 + 512 {
            return Err(invalid("hub.max_frame_bytes", "must hold max_message_bytes in base64 plus 512 bytes"));
        }
        if h.heartbeat_interval_ms == 0 || h.heartbeat_timeout_ms <= h.heartbeat_interval_ms {
            return Err(invalid("hub.heartbeat_timeout_ms", "must be longer than hub.heartbeat_interval_ms"));
        }
        if self.matching.match_ttl_hours == 0
            || self.matching.nearby_start_km.is_nan()
            || self.matching.nearby_start_km <= 0.0
        {
            return Err(invalid("matching", "match_ttl_hours and nearby_start_km must be positive"));
        }
        if self.jobs.report_threshold == 0
            || self.jobs.message_retention_hours == 0
            || self.jobs.evidence_retention_days == 0
            || self.jobs.report_window_days == 0
            || self.jobs.referral_invited_bonus < 0
            || self.jobs.referral_inviter_bonus < 0
        {
            return Err(invalid(
                "jobs",
                "report_threshold, message_retention_hours, evidence_retention_days and report_window_days must be positive, bonuses not negative",
            ));
        }
        // A resumed message whose commitment was cleared would be refused by every client (docs/protocol.md §9).
        if u64::from(self.jobs.report_window_days) * 24 < u64::from(self.jobs.message_retention_hours) {
            return Err(invalid("jobs.report_window_days", "must be at least jobs.message_retention_hours"));
        }
        if self.request_timeout_ms < 100 {
            return Err(invalid("request_timeout_ms", "must be at least 100"));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid("database_url", "must start with sqlite:, postgres:// or postgresql://"));
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid("redis_url", "must start with redis:// or rediss://"));
        }
        let c = &self.cluster;
        if c.namespace.is_empty() || !c.namespace.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            return Err(invalid("cluster.namespace", "must be non-empty ASCII letters, digits, '-', '_' or '.'"));
        }
        if c.presence_ttl_secs < 3 {
            return Err(invalid("cluster.presence_ttl_secs", "must be at least 3"));
        }
        if !(300..=60_000).contains(&c.matchmaker_lease_ms) {
            return Err(invalid("cluster.matchmaker_lease_ms", "must be between 300 and 60000"));
        }
        if self.production {
            self.validate_production()?;
        }
        self.validate_shared_secrets()?;
        self.moderation.validate()?;
        Ok(())
    }

    /// Whether this process may share its database or its broker with other nodes: PostgreSQL is the store of a
    /// cluster (SQLite is one machine's file), and `redis_url` joins one.
    pub fn may_be_shared(&self) -> bool {
        self.redis_url.is_some() || self.database_url.as_deref().is_some_and(|url| !url.starts_with("sqlite:"))
    }

    /// A generated secret lives in one node's data directory: two nodes of a cluster would each generate their
    /// own, tokens signed by one would be refused by the other, and phone numbers sealed by one unreadable to the
    /// other — which used to surface only at the next restart, as a refusal to start. So a node that may be
    /// shared refuses to start on any generated secret.
    fn validate_shared_secrets(&self) -> Result<(), ConfigError> {
        if !self.may_be_shared() {
            return Ok(());
        }
        let why = "is required on PostgreSQL or with redis_url: other nodes may share the database, and each \
                   would generate a secret of its own; configure the same value (at least 32 characters) on every node";
        let needed = [
            ("auth.jwt_secret", self.auth.jwt_secret.is_none()),
            ("phones.encryption_key", self.phones.encryption_key.is_none()),
            ("phones.index_key", self.phones.index_key.is_none()),
            ("video.turn_secret", self.video.turn_secret.is_none()),
        ];
        match needed.into_iter().find(|(_, missing)| *missing) {
            Some((key, _)) => Err(invalid(key, why)),
            None => Ok(()),
        }
    }

    fn validate_video(&self) -> Result<(), ConfigError> {
        let v = &self.video;
        if v.turn_max_allocations == 0 {
            return Err(invalid("video.turn_max_allocations", "must be at least 1"));
        }
        if let Some((min, max)) = v.turn_relay_ports
            && (min < 1024 || min > max)
        {
            return Err(invalid("video.turn_relay_ports", "must be [min, max] with 1024 <= min <= max"));
        }
        let files = (v.turn_tls_certificate.is_some(), v.turn_tls_private_key.is_some());
        match (v.turn_tls_listen.is_some(), files) {
            (true, (true, true)) | (false, (false, false)) => Ok(()),
            (true, _) => {
                Err(invalid("video.turn_tls_listen", "needs video.turn_tls_certificate and video.turn_tls_private_key"))
            }
            (false, _) => Err(invalid("video.turn_tls_certificate", "is only used with video.turn_tls_listen")),
        }
    }

    fn validate_phone_keys(&self) -> Result<(), ConfigError> {
        let p = &self.phones;
        let short = |key: &Option<String>| key.as_ref().is_some_and(|k| k.len() < 32);
        if short(&p.encryption_key) {
            return Err(invalid("phones.encryption_key", "must be at least 32 characters"));
        }
        if short(&p.index_key) {
            return Err(invalid("phones.index_key", "must be at least 32 characters"));
        }
        if short(&p.previous_index_key) {
            return Err(invalid("phones.previous_index_key", "must be at least 32 characters"));
        }
        if p.previous_encryption_keys.iter().any(|k| k.len() < 32) {
            return Err(invalid("phones.previous_encryption_keys", "every key must be at least 32 characters"));
        }
        // One secret in two roles would make the index computable by whoever holds only the encryption key.
        if p.encryption_key.is_some() && p.encryption_key == p.index_key {
            return Err(invalid("phones.index_key", "must differ from phones.encryption_key"));
        }
        if p.previous_index_key.is_some() && p.previous_index_key == p.index_key {
            return Err(invalid("phones.previous_index_key", "is the same as phones.index_key: nothing to rotate"));
        }
        if p.encryption_key.as_ref().is_some_and(|k| p.previous_encryption_keys.contains(k)) {
            return Err(invalid("phones.previous_encryption_keys", "holds the current phones.encryption_key"));
        }
        Ok(())
    }

    fn validate_sms(&self) -> Result<(), ConfigError> {
        let s = &self.sms;
        if s.timeout_ms < 100 {
            return Err(invalid("sms.timeout_ms", "must be at least 100"));
        }
        if s.max_per_phone_per_hour == 0 || s.max_per_ip_per_hour == 0 {
            return Err(invalid("sms.max_per_phone_per_hour", "the hourly code limits must be positive"));
        }
        if s.provider == SmsProvider::Http {
            let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
            let needed = [
                ("sms.http_url", &s.http_url),
                ("sms.account", &s.account),
                ("sms.token", &s.token),
                ("sms.from", &s.from),
            ];
            for (key, value) in needed {
                if blank(value) {
                    return Err(invalid(key, "the http SMS provider needs sms.http_url, account, token and from"));
                }
            }
            let url = s.http_url.as_deref().unwrap_or_default();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid("sms.http_url", "must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }

    fn validate_production(&self) -> Result<(), ConfigError> {
        if self.auth.jwt_secret.is_none() {
            return Err(invalid("auth.jwt_secret", "production needs an explicit secret, not a generated one"));
        }
        if self.auth.bcrypt_cost < 10 {
            return Err(invalid("auth.bcrypt_cost", "production needs a cost of at least 10"));
        }
        if self.video.turn_secret.is_none() {
            return Err(invalid("video.turn_secret", "production needs an explicit TURN secret, not a generated one"));
        }
        // A generated key lives in one node's data directory: lose it and every phone number is unreadable,
        // and another node would seal and index with a different one.
        if self.phones.encryption_key.is_none() {
            return Err(invalid("phones.encryption_key", "production needs an explicit key, not a generated one"));
        }
        if self.phones.index_key.is_none() {
            return Err(invalid("phones.index_key", "production needs an explicit key, not a generated one"));
        }
        if let Some(password) = self.database_url.as_deref().and_then(url_password)
            && DEFAULT_DB_PASSWORDS.contains(&password)
        {
            return Err(invalid("database_url", "production refuses a default database password"));
        }
        // The log sender writes every code to the log: whoever reads it could take over any account.
        if self.sms.provider == SmsProvider::Log {
            return Err(invalid("sms.provider", "production needs a real SMS provider (\"http\"), not \"log\""));
        }
        // Basic auth with the provider's token: never over plain HTTP.
        if !self.sms.http_url.as_deref().is_some_and(|u| u.starts_with("https://")) {
            return Err(invalid("sms.http_url", "production needs an https:// URL"));
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or the SQLite file in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("tanis.db").display()),
        }
    }
}

/// The password part of `scheme://user:password@host/…`, if any.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

/// Networks, each written as a network (`10.0.0.0/8`) or a bare address (`127.0.0.1`, one host: /32 or /128), as the
/// README promises "addresses or networks".
fn networks<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let written: Vec<String> = Vec::deserialize(deserializer)?;
    written
        .iter()
        .map(|w| {
            let w = w.trim();
            w.parse::<ipnet::IpNet>()
                .or_else(|_| w.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("{w:?} is neither an address nor a network")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_listen_on_loopback() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(config.effective_database_url().starts_with("sqlite://data"));
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let mut config = Config::default();
        config.auth.bcrypt_cost = 3;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("auth.bcrypt_cost"), "{err}");
    }

    #[test]
    fn the_report_window_covers_the_message_retention() {
        let mut config = Config::default();
        config.jobs.message_retention_hours = 48;
        config.jobs.report_window_days = 2;
        config.validate().unwrap();
        config.jobs.message_retention_hours = 49;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("jobs.report_window_days"), "{err}");
    }

    #[test]
    fn production_refuses_a_generated_secret_and_default_passwords() {
        let mut config = Config { production: true, ..Config::default() };
        assert!(config.validate().unwrap_err().to_string().contains("auth.jwt_secret"));
        config.auth.jwt_secret = Some("x".repeat(40));
        assert!(config.validate().unwrap_err().to_string().contains("video.turn_secret"));
        config.video.turn_secret = Some("t".repeat(40));
        assert!(config.validate().unwrap_err().to_string().contains("phones.encryption_key"));
        config.phones.encryption_key = Some("e".repeat(40));
        assert!(config.validate().unwrap_err().to_string().contains("phones.index_key"));
        config.phones.index_key = Some("i".repeat(40));
        config.database_url = Some("postgres://tanis:postgres@db/tanis".into());
        assert!(config.validate().unwrap_err().to_string().contains("database_url"));
        config.database_url = Some("postgres://tanis:9f2c7e1a@db/tanis".into());
        assert!(config.validate().unwrap_err().to_string().contains("sms.provider"));
        config.sms = sms_provider();
        config.validate().unwrap();
    }

    #[test]
    fn a_node_that_may_join_a_cluster_refuses_every_generated_secret() {
        let shared = [
            Config { redis_url: Some("redis://127.0.0.1:6379".into()), ..Config::default() },
            Config { database_url: Some("postgres://tanis:9f2c7e1a@db/tanis".into()), ..Config::default() },
        ];
        for mut config in shared {
            assert!(config.may_be_shared());
            let mut refused = Vec::new();
            while let Err(err) = config.validate() {
                let err = err.to_string();
                assert!(err.contains("the same value (at least 32 characters) on every node"), "{err}");
                let key = ["auth.jwt_secret", "phones.encryption_key", "phones.index_key", "video.turn_secret"]
                    .into_iter()
                    .find(|key| err.contains(key))
                    .unwrap_or_else(|| panic!("names one of the secrets: {err}"));
                refused.push(key);
                match key {
                    "auth.jwt_secret" => config.auth.jwt_secret = Some("x".repeat(40)),
                    "phones.encryption_key" => config.phones.encryption_key = Some("e".repeat(40)),
                    "phones.index_key" => config.phones.index_key = Some("i".repeat(40)),
                    _ => config.video.turn_secret = Some("t".repeat(40)),
                }
            }
            assert_eq!(refused.len(), 4, "each generated secret is refused: {refused:?}");
        }
        let alone = Config { database_url: Some("sqlite://data/tanis.db".into()), ..Config::default() };
        assert!(!alone.may_be_shared());
        alone.validate().expect("one machine's SQLite file keeps generating its secrets");
    }

    /// An HTTP SMS provider with every setting it needs.
    fn sms_provider() -> SmsConfig {
        SmsConfig {
            provider: SmsProvider::Http,
            http_url: Some("https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages.json".into()),
            account: Some("AC0123".into()),
            token: Some("a-provider-token".into()),
            from: Some("TANIS".into()),
            ..SmsConfig::default()
        }
    }

    #[test]
    fn production_refuses_the_log_sender_and_an_incomplete_or_plain_http_provider() {
        let mut config = Config { production: true, ..Config::default() };
        config.auth.jwt_secret = Some("x".repeat(40));
        config.video.turn_secret = Some("t".repeat(40));
        config.phones.encryption_key = Some("e".repeat(40));
        config.phones.index_key = Some("i".repeat(40));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("sms.provider"), "{err}");
        for (key, unset) in [
            ("sms.http_url", (|s: &mut SmsConfig| s.http_url = None) as fn(&mut SmsConfig)),
            ("sms.account", |s| s.account = None),
            ("sms.token", |s| s.token = Some(" ".into())),
            ("sms.from", |s| s.from = None),
        ] {
            config.sms = sms_provider();
            unset(&mut config.sms);
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
            config.production = false;
            assert!(config.validate().is_err(), "{key}: an http provider cannot send without it, in any mode");
            config.production = true;
        }
        config.sms = sms_provider();
        config.sms.http_url = Some("http://sms.example/send".into());
        assert!(config.validate().unwrap_err().to_string().contains("https"));
        config.production = false;
        config.validate().expect("plain http is for a local stand-in, outside production");
        config.sms.provider = SmsProvider::Log;
        config.validate().expect("the zero-setup server logs its codes");
    }

    #[test]
    fn an_sms_sender_number_from_the_environment_is_text_or_refused() {
        #[allow(clippy::result_large_err)] // figment's own test harness signature
        figment::Jail::expect_with(|jail| {
            jail.set_env("TANIS_SMS__FROM", "+905321234567");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("sms.from") && err.contains("quote it"), "{err}");
            jail.set_env("TANIS_SMS__FROM", "\"+905321234567\"");
            jail.set_env("TANIS_SMS__TOKEN", "\"0123456789\"");
            jail.set_env("TANIS_SMS__ACCOUNT", "AC0123");
            let config = Config::load(None).unwrap();
            assert_eq!(config.sms.from.as_deref(), Some("+905321234567"));
            assert_eq!(config.sms.token.as_deref(), Some("0123456789"));
            assert_eq!(config.sms.account.as_deref(), Some("AC0123"));
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_take_bare_addresses_and_networks_and_refuse_anything_else() {
        #[allow(clippy::result_large_err)] // figment's own test harness signature
        figment::Jail::expect_with(|jail| {
            jail.create_file("proxies.toml", "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n")?;
            let config = Config::load(Some(Path::new("proxies.toml"))).unwrap();
            let shown: Vec<String> = config.trusted_proxies.iter().map(|n| n.to_string()).collect();
            assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
            jail.create_file("bad.toml", "trusted_proxies = [\"proxy.example\"]\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err().to_string();
            assert!(err.contains("neither an address nor a network"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_sms_token_is_never_shown() {
        let config = Config { sms: sms_provider(), ..Config::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("a-provider-token") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn toml_file_and_environment_are_layered_and_typos_are_refused() {
        #[allow(clippy::result_large_err)] // figment's own test harness signature
        figment::Jail::expect_with(|jail| {
            jail.create_file("tanis.toml", "listen = \"127.0.0.1:9000\"\n[auth]\nbcrypt_cost = 10\n")?;
            jail.set_env("TANIS_AUTH__BCRYPT_COST", "11");
            let config = Config::load(Some(Path::new("tanis.toml"))).unwrap();
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.auth.bcrypt_cost, 11);

            jail.create_file("typo.toml", "[auth]\nbcrypt_kost = 10\n")?;
            let err = Config::load(Some(Path::new("typo.toml"))).unwrap_err().to_string();
            assert!(err.contains("bcrypt_kost"), "{err}");

            jail.set_env("TANIS_LISTEN", "not-an-address");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("listen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_removed_trust_weights_are_refused_at_load() {
        // Evidence proves who wrote a message, not that it broke the rules: it no longer weighs toward the
        // automatic ban, and a file that still sets a weight says so instead of being silently obeyed.
        #[allow(clippy::result_large_err)] // figment's own test harness signature
        figment::Jail::expect_with(|jail| {
            for key in ["evidence_weight", "claim_weight"] {
                jail.create_file("old.toml", &format!("[trust]\n{key} = 3\n"))?;
                let err = Config::load(Some(Path::new("old.toml"))).unwrap_err().to_string();
                assert!(err.contains(key), "{err}");
            }
            Ok(())
        });
    }

    #[test]
    fn phone_keys_are_long_and_each_used_in_one_role() {
        let mut config = Config::default();
        config.phones.encryption_key = Some("short".into());
        assert!(config.validate().unwrap_err().to_string().contains("phones.encryption_key"));
        config.phones.encryption_key = Some("k".repeat(40));
        config.phones.index_key = Some("k".repeat(40));
        assert!(config.validate().unwrap_err().to_string().contains("must differ"));
        config.phones.index_key = Some("i".repeat(40));
        config.phones.previous_encryption_keys = vec!["k".repeat(40)];
        assert!(config.validate().unwrap_err().to_string().contains("phones.previous_encryption_keys"));
        config.phones.previous_encryption_keys = vec!["o".repeat(40)];
        config.phones.previous_index_key = Some("i".repeat(40));
        assert!(config.validate().unwrap_err().to_string().contains("phones.previous_index_key"));
        config.phones.previous_index_key = Some("p".repeat(40));
        config.validate().unwrap();
    }

    #[test]
    fn production_refuses_a_bcrypt_cost_under_10() {
        let mut config = Config { production: true, ..Config::default() };
        config.auth.jwt_secret = Some("x".repeat(40));
        config.video.turn_secret = Some("t".repeat(40));
        config.phones.encryption_key = Some("e".repeat(40));
        config.phones.index_key = Some("i".repeat(40));
        config.sms = sms_provider();
        config.auth.bcrypt_cost = 9;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("auth.bcrypt_cost"), "{err}");
        config.auth.bcrypt_cost = 10;
        config.validate().unwrap();
        // Outside production a low cost is fine (tests use 4).
        config.production = false;
        config.auth.bcrypt_cost = 4;
        config.validate().unwrap();
    }
}
