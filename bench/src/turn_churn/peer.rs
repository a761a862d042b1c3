//! One side of a `turn-churn` call: a `turn` client on a UDP socket of its own (tapped, see [`super::tap`]), the
//! relay it allocated, and the task that reads what the relay delivers. It owns opening and freeing one
//! allocation; the call's choreography (who sends what, when) is the caller's.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use turn::client::{Client, ClientConfig};
use webrtc_util::Conn;

use super::tap::{DataCounts, Ledger, Tap, TappedSocket};
use super::{ALLOCATE_LIMIT, CREDENTIAL_TTL_SECS, REFRESH_LIMIT, Totals, TurnChurnOptions};

/// One side of a call: a TURN client on its own socket, its relay, and the task reading what reaches it.
pub(super) struct Peer {
    client: Client,
    relay: Arc<dyn Conn + Send + Sync>,
    pub(super) relayed: SocketAddr,
    tap: Arc<Tap>,
    pub(super) allocated_in: Duration,
    /// When the first relayed packet arrived.
    pub(super) first_heard: watch::Receiver<Option<Instant>>,
    /// Packets received, setup and hold.
    reader: JoinHandle<[u64; 2]>,
}

impl Peer {
    pub(super) async fn open(
        opts: &TurnChurnOptions,
        source: IpAddr,
        user_ref: &str,
        ledger: &Arc<Mutex<Ledger>>,
        data: &Arc<DataCounts>,
    ) -> anyhow::Result<Self> {
        let socket = UdpSocket::bind((source, 0)).await?;
        let tap = Tap::new(ledger.clone(), data.clone());
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
        let credentials =
            tanis_signaling::credentials::issue(opts.secret.as_bytes(), user_ref, now, CREDENTIAL_TTL_SECS);
        let client = Client::new(ClientConfig {
            stun_serv_addr: String::new(),
            turn_serv_addr: opts.turn.to_string(),
            username: credentials.username,
            password: credentials.password,
            realm: opts.realm.clone(),
            software: String::new(),
            // Zero: the client's default first retransmission timeout (200 ms).
            rto_in_ms: 0,
            conn: Arc::new(TappedSocket::new(socket, tap.clone())),
            vnet: None,
        })
        .await?;
        client.listen().await?;
        let asked = Instant::now();
        let relay = match tokio::time::timeout(ALLOCATE_LIMIT, client.allocate()).await {
            Ok(Ok(relay)) => Arc::new(relay) as Arc<dyn Conn + Send + Sync>,
            failed => {
                // The client's listening task and timers end with it; the server has nothing to free.
                let _ = client.close().await;
                match failed {
                    Ok(Err(e)) => anyhow::bail!("allocate: {e}"),
                    _ => anyhow::bail!("no allocation within {ALLOCATE_LIMIT:?}"),
                }
            }
        };
        let allocated_in = asked.elapsed();
        let relayed = relay.local_addr()?;
        let (heard_tx, first_heard) = watch::channel(None);
        let reader = tokio::spawn(read_relayed(relay.clone(), heard_tx));
        Ok(Self { client, relay, relayed, tap, allocated_in, first_heard, reader })
    }

    /// ~100 bytes, a small media packet, whose first byte says when it was sent.
    pub(super) async fn send(&self, phase: Phase, to: SocketAddr, totals: &Totals) -> Result<(), String> {
        let mut packet = [0u8; 100];
        packet[0] = phase as u8;
        self.relay.send_to(&packet, to).await.map_err(|e| e.to_string())?;
        let counter = match phase {
            Phase::Setup => &totals.setup_packets_sent,
            Phase::Hold => &totals.hold_packets_sent,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Refresh with lifetime 0 (sent by the relay's `close`, which does not wait for the answer: the tap does),
    /// then the client, which ends its reading task and timers and lets the socket go.
    pub(super) async fn close(self, totals: &Totals) {
        let _ = self.relay.close().await;
        let freed = self.tap.refresh_answered_within(REFRESH_LIMIT).await;
        let counter = if freed { &totals.frees_confirmed } else { &totals.frees_unconfirmed };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = self.client.close().await;
        // Closing the client closed the relay's queue, which ends the reader.
        if let Ok([setup, hold]) = self.reader.await {
            totals.setup_packets_received.fetch_add(setup, Ordering::Relaxed);
            totals.hold_packets_received.fetch_add(hold, Ordering::Relaxed);
        }
    }
}

/// Reads relayed packets until the client closes; returns how many of each phase arrived.
async fn read_relayed(relay: Arc<dyn Conn + Send + Sync>, first: watch::Sender<Option<Instant>>) -> [u64; 2] {
    let mut buf = vec![0u8; 1500];
    let mut received = [0u64; 2];
    while let Ok((n, _)) = relay.recv_from(&mut buf).await {
        if received == [0, 0] {
            first.send_replace(Some(Instant::now()));
        }
        let hold = n > 0 && buf[0] == Phase::Hold as u8;
        received[usize::from(hold)] += 1;
    }
    received
}

/// When a packet was sent: while setting up (the permission-creating first send and the probes, which may
/// arrive before the far side's permission does and be dropped, as they would be in a real call), or during
/// the call, when every packet should arrive.
#[derive(Debug, Clone, Copy)]
pub(super) enum Phase {
    Setup = 1,
    Hold = 2,
}
