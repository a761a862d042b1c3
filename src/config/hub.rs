//! `[hub]`: the WebSocket hub's limits: per socket (frame and message sizes, queues, rates, heartbeats,
//! buffers) and per node (the connection cap).

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

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
    /// How long a stopping node takes to close its sockets (with 4010, `draining`), spread evenly over this time so
    /// that its clients reconnect to the other nodes a few at a time (docs/operations.md, "Rolling updates").
    pub drain_ms: u64,
    /// Per-socket WebSocket buffers: the most read at once, and how much is gathered before a write. Held only
    /// while reading or writing (the patched tungstenite in vendor/ gives them back when the socket waits).
    pub read_buffer_bytes: usize,
    pub write_buffer_bytes: usize,
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
            drain_ms: 10_000,
            // 1 KiB: a chat frame fits, and longer ones take a few reads.
            read_buffer_bytes: 1024,
            write_buffer_bytes: 4 * 1024,
        }
    }
}

impl HubConfig {
    /// The hard limit on a frame read: the larger of `max_frame_bytes` and the largest `report` (20 reveals of
    /// `max_message_bytes`, [`crate::domain::evidence::max_report_frame_bytes`]; 453 184 bytes by default). A frame
    /// above it is never read and closes the socket with 1009; below it, only a `report` may exceed
    /// `max_frame_bytes`. Derived, not configured, so it always holds a maximal report.
    pub fn hard_frame_bytes(&self) -> usize {
        crate::domain::evidence::max_report_frame_bytes(self.max_message_bytes).max(self.max_frame_bytes)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0
            || self.outbound_queue == 0
            || self.max_in_flight == 0
            || self.messages_per_second == 0
        {
            return Err(invalid(
                "hub",
                "max_connections, outbound_queue, max_in_flight and messages_per_second must be positive",
            ));
        }
        // A burst of acknowledgements (up to max_in_flight at once) must fit in a socket's queue.
        if self.outbound_queue <= self.max_in_flight {
            return Err(invalid("hub.outbound_queue", "must be larger than hub.max_in_flight"));
        }
        // base64 grows data by 4/3; the frame must hold the largest ciphertext plus the JSON around it.
        if self.max_frame_bytes < self.max_message_bytes * 4 / 3 + 512 {
            return Err(invalid("hub.max_frame_bytes", "must hold max_message_bytes in base64 plus 512 bytes"));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_timeout_ms <= self.heartbeat_interval_ms {
            return Err(invalid("hub.heartbeat_timeout_ms", "must be longer than hub.heartbeat_interval_ms"));
        }
        Ok(())
    }
}
