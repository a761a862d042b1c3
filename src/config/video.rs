//! `[video]`: video calls: signalling limits, TURN credentials, the embedded TURN server and its listeners, and
//! relay-only calls that keep each peer's address from the other.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

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
    /// Video safety (`match.found`'s `video_safety`): seconds the viewer's app blurs a stranger's picture from
    /// when it first shows, and the longer blur when the stranger's account is new, unverified or under review.
    pub blur_secs: u32,
    pub caution_blur_secs: u32,
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
            blur_secs: 3,
            caution_blur_secs: 10,
        }
    }
}

impl VideoConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.turn_max_allocations == 0 {
            return Err(invalid("video.turn_max_allocations", "must be at least 1"));
        }
        if let Some((min, max)) = self.turn_relay_ports
            && (min < 1024 || min > max)
        {
            return Err(invalid("video.turn_relay_ports", "must be [min, max] with 1024 <= min <= max"));
        }
        if self.blur_secs > 60 || self.caution_blur_secs < self.blur_secs || self.caution_blur_secs > 60 {
            return Err(invalid("video.caution_blur_secs", "must be at least video.blur_secs; both at most 60"));
        }
        let files = (self.turn_tls_certificate.is_some(), self.turn_tls_private_key.is_some());
        match (self.turn_tls_listen.is_some(), files) {
            (true, (true, true)) | (false, (false, false)) => Ok(()),
            (true, _) => {
                Err(invalid("video.turn_tls_listen", "needs video.turn_tls_certificate and video.turn_tls_private_key"))
            }
            (false, _) => Err(invalid("video.turn_tls_certificate", "is only used with video.turn_tls_listen")),
        }
    }
}
