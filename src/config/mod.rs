//! Settings: defaults, then an optional TOML file, then `TANIS_*` environment variables (nested keys
//! with `__`, e.g. `TANIS_AUTH__BCRYPT_COST`). Everything is validated at load and an error names the key.
//!
//! One file per `[section]` holds that section's keys, their defaults and the checks that need only that section.
//! This file holds the top-level keys, the loading, and the checks that span sections: what production refuses,
//! and the secrets a node that may share its database or broker must be given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod ads;
mod age_assurance;
mod auth;
mod billing;
mod cluster;
mod hub;
mod jobs;
mod matching;
mod moderation;
mod phones;
mod push;
mod quotas;
mod sms;
mod trust;
mod video;

pub use ads::AdsConfig;
pub use age_assurance::{AgeAssuranceConfig, AgeProvider};
pub use auth::AuthConfig;
pub use billing::BillingConfig;
pub use cluster::ClusterConfig;
pub use hub::HubConfig;
pub use jobs::JobsConfig;
pub use matching::MatchingConfig;
pub use moderation::{Ground, ModerationConfig, ResolvedGround};
pub use phones::PhonesConfig;
pub use push::PushConfig;
pub use quotas::QuotaConfig;
pub use sms::{SmsConfig, SmsProvider};
pub use trust::TrustConfig;
pub use video::VideoConfig;

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
    /// The runtime's threads for sockets and requests; 0 (the default) chooses: one per core, less one on SQLite,
    /// whose group commit and connections run on threads of their own (crate::dedicated), so that they do not
    /// take turns with the sockets on a core. On a 2-core machine that is one: at one message in flight it cut the
    /// context switches per message by 40 % and the CPU by about 10 %, at ten in flight the CPU by 16 % at a 16 %
    /// higher rate (BENCHMARKS.md, issue 79). The embedded TURN relay runs on them too: at 200 sessions on 2 cores
    /// its round trip was 0.33–1.15 ms with one worker against 0.10–0.29 with two (issue 79 point 6), so a small
    /// SQLite node that relays much video may choose 2.
    pub worker_threads: usize,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`; a node in production refuses to start
    /// without one (at least 32 characters).
    pub metrics_token: Option<String>,
    /// `redis://…` (one Redis) or `redis+cluster://host:port,host:port` (a Redis Cluster by some of its nodes;
    /// `rediss://`, `rediss+cluster://` with TLS): when set, this node is one of several: frames, kicks and
    /// presence cross nodes through Redis, one elected node runs the matchmaker, per-user limits are counted
    /// there, and (with one Redis; on a cluster they stay in the database, see `jobs::storage`) the background
    /// jobs queue their runs there instead of the database. Unset: everything stays in this process.
    pub redis_url: Option<String>,
    /// Production refuses a `redis_url` without a password: whoever can write to Redis can hand any user a forged
    /// `match.found` or frame (docs/operations.md, "Threat model"). `true` accepts one anyway, for a Redis that
    /// nothing but tanis can reach.
    pub redis_allow_unauthenticated: bool,
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
    pub age_assurance: AgeAssuranceConfig,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
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
            worker_threads: 0,
            metrics_token: None,
            redis_url: None,
            redis_allow_unauthenticated: false,
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
            age_assurance: AgeAssuranceConfig::default(),
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

/// The process a configuration is checked for: each is given, and needs, only its own secrets (least privilege:
/// docs/operations.md, "Threat model").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `tanis serve`, and the operator's commands, which run with a node's configuration: every secret.
    Node,
    /// `tanis worker`: the database and Redis. It signs no token, relays no call, sends no code and reads no
    /// phone number (a purge keeps the blind index it already has).
    Worker,
    /// `tanis migrate`: the database and the phone keys, which it checks against the database and seals any
    /// number kept in clear with.
    Migration,
}

impl Process {
    /// Whether this process is a node, needing every node secret (token, TURN, SMS, metrics).
    fn is_node(self) -> bool {
        self == Process::Node
    }

    /// Whether it seals or finds phone numbers: every process but the worker.
    fn uses_phone_keys(self) -> bool {
        self != Process::Worker
    }
}

impl Config {
    /// Defaults, then `file` (when given, it must exist), then the environment; checked for a node.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_for(file, Process::Node)
    }

    /// As [`Config::load`], checked for `process`.
    pub fn load_for(file: Option<&Path>, process: Process) -> Result<Self, ConfigError> {
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
        config.validate_for(process)?;
        Ok(config)
    }

    /// Checks what types alone cannot, for a node; anything building a Config by hand should call it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_for(Process::Node)
    }

    /// Checks what types alone cannot, for `process`. Only the first problem found is named, so the order below
    /// is the one errors have always come in: the sections' own checks, the top-level keys, `[cluster]`, what
    /// spans sections, `[moderation]`.
    pub fn validate_for(&self, process: Process) -> Result<(), ConfigError> {
        self.auth.validate()?;
        self.video.validate()?;
        self.trust.validate()?;
        self.phones.validate()?;
        // Only a node sends codes: the worker and the migration are not given the provider's credentials.
        if process.is_node() {
            self.sms.validate()?;
            // Only a node asks the provider; the worker and the migration are not given its key.
            self.age_assurance.validate(self.production)?;
        }
        self.billing.validate()?;
        self.quotas.validate()?;
        self.hub.validate()?;
        self.matching.validate()?;
        self.jobs.validate()?;
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
        if let Some(url) = &self.redis_url {
            let target = crate::redis_link::Target::parse(url).map_err(|why| invalid("redis_url", why))?;
            if target.is_cluster() && !self.cluster.batch_envelope {
                // The previous version's routing publishes from a script, to channels on any shard.
                return Err(invalid("cluster.batch_envelope", "must be true on a Redis Cluster"));
            }
        }
        self.cluster.validate()?;
        if self.production {
            self.validate_production(process)?;
        }
        self.validate_shared_secrets(process)?;
        self.moderation.validate()?;
        Ok(())
    }

    /// The runtime's worker threads for `cores` cores (see `worker_threads`).
    pub fn runtime_workers(&self, cores: usize) -> usize {
        match self.worker_threads {
            0 if self.database_url.as_deref().is_none_or(|url| url.starts_with("sqlite:")) => {
                cores.saturating_sub(1).max(1)
            }
            0 => cores.max(1),
            chosen => chosen,
        }
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
    fn validate_shared_secrets(&self, process: Process) -> Result<(), ConfigError> {
        if !self.may_be_shared() {
            return Ok(());
        }
        let why = "is required on PostgreSQL or with redis_url: other nodes may share the database, and each \
                   would generate a secret of its own; configure the same value (at least 32 characters) on every node";
        let (node, phones) = (process.is_node(), process.uses_phone_keys());
        let needed = [
            ("auth.jwt_secret", node && self.auth.jwt_secret.is_none()),
            ("phones.encryption_key", phones && self.phones.encryption_key.is_none()),
            ("phones.index_key", phones && self.phones.index_key.is_none()),
            ("video.turn_secret", node && self.video.turn_secret.is_none()),
        ];
        match needed.into_iter().find(|(_, missing)| *missing) {
            Some((key, _)) => Err(invalid(key, why)),
            None => Ok(()),
        }
    }

    fn validate_production(&self, process: Process) -> Result<(), ConfigError> {
        let (node, phones) = (process.is_node(), process.uses_phone_keys());
        if node && self.auth.jwt_secret.is_none() {
            return Err(invalid("auth.jwt_secret", "production needs an explicit secret, not a generated one"));
        }
        if node && self.auth.bcrypt_cost < 10 {
            return Err(invalid("auth.bcrypt_cost", "production needs a cost of at least 10"));
        }
        if node && self.video.turn_secret.is_none() {
            return Err(invalid("video.turn_secret", "production needs an explicit TURN secret, not a generated one"));
        }
        // A generated key lives in one node's data directory: lose it and every phone number is unreadable,
        // and another node would seal and index with a different one.
        if phones && self.phones.encryption_key.is_none() {
            return Err(invalid("phones.encryption_key", "production needs an explicit key, not a generated one"));
        }
        if phones && self.phones.index_key.is_none() {
            return Err(invalid("phones.index_key", "production needs an explicit key, not a generated one"));
        }
        if let Some(password) = self.database_url.as_deref().and_then(url_password)
            && DEFAULT_DB_PASSWORDS.contains(&password)
        {
            return Err(invalid("database_url", "production refuses a default database password"));
        }
        // The migration never connects to Redis; the others trust what they read there.
        if process != Process::Migration
            && !self.redis_allow_unauthenticated
            && let Some(url) = &self.redis_url
            && url_password(url).is_none_or(str::is_empty)
        {
            return Err(invalid(
                "redis_url",
                "production needs a password in the URL (rediss://:password@host:port): whoever can write to Redis \
                 can send any user a forged match or frame; set redis_allow_unauthenticated = true only for a Redis \
                 nothing else can reach",
            ));
        }
        if !node {
            return Ok(());
        }
        // /metrics names the cluster's size and load; with host networking anyone on the machines' network reaches it.
        if self.metrics_token.as_deref().is_none_or(|t| t.trim().chars().count() < 32) {
            return Err(invalid("metrics_token", "production needs a token of at least 32 characters for /metrics"));
        }
        // The log sender writes every code to the log: whoever reads it could take over any account.
        if self.sms.provider == SmsProvider::Log {
            return Err(invalid("sms.provider", "production needs a real SMS provider (\"http\"), not \"log\""));
        }
        // Basic auth with the provider's token: never over plain HTTP.
        if !self.sms.http_url.as_deref().is_some_and(|u| u.starts_with("https://")) {
            return Err(invalid("sms.http_url", "production needs an https:// URL"));
        }
        self.age_assurance.validate_production()
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
mod tests;
