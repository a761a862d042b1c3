//! TURN over TCP and over TLS (RFC 5766 §2.1, the `turn:…?transport=tcp` and `turns:` URLs):
//! for clients on networks that pass no UDP. The client ↔ server leg is a byte stream of STUN
//! messages and ChannelData (padded to four bytes); the relay ↔ peer leg stays UDP, so the
//! allocation and the data path are the same as over UDP. Closing the connection frees its
//! allocation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;

use super::allocation::{ClientKey, ClientLink};
use super::{Server, control, data_path};

/// Frames queued toward one stream client. Full means the client reads slower than its peer
/// sends: the relay drops the datagram (counted) instead of buffering without bound.
const QUEUE: usize = 512;
/// A TLS handshake that takes longer is from a client we do not want.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection without an allocation is closed after this long without a message: otherwise idle connections
/// could hold every slot of the connection cap.
const UNALLOCATED_IDLE: Duration = Duration::from_secs(10);

/// The pause after a failed accept (EMFILE, ENOBUFS): long enough not to spin, short enough not to be noticed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Accepts connections until the task is aborted; each gets its own task, up to `limit` at once.
pub(super) async fn accept(
    server: Arc<Server>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limit: Arc<Semaphore>,
) {
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(got) => got,
            Err(e) => {
                // Out of descriptors and the like: say so, and back off rather than spin on an error that repeats
                // until some connection closes.
                tracing::warn!(error = %e, "TURN TCP accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            // Over the connection cap: the client falls back to another transport or server.
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let server = Arc::clone(&server);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve(server, tcp, addr).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve(server, stream, addr).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TURN TLS handshake failed"),
                    Err(_) => tracing::debug!("TURN TLS handshake timed out"),
                },
            }
        });
    }
}

/// Serves one connection until it closes, then frees its allocation.
async fn serve<S: AsyncRead + AsyncWrite + Send + 'static>(server: Arc<Server>, stream: S, addr: SocketAddr) {
    let (reader, writer) = tokio::io::split(stream);
    let (reading, rx) = session(server, addr, BufReader::new(reader));
    let writing = tokio::spawn(write_frames(writer, rx));
    reading.await;
    writing.abort();
}

/// One connection from `addr`, reading side: a future that handles every message `reader` delivers until it ends
/// (or sends no TURN), then frees the connection's allocation; and the queue of frames to write to the client.
pub(super) fn session<R: AsyncRead + Unpin>(
    server: Arc<Server>,
    addr: SocketAddr,
    reader: R,
) -> (impl Future<Output = ()>, mpsc::Receiver<Vec<u8>>) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(QUEUE);
    let link = ClientLink::Stream { id, addr, tx };
    let reading = async move {
        read_frames(&server, &link, reader).await;
        server.remove(&ClientKey::Stream(id));
    };
    (reading, rx)
}

async fn read_frames<R: AsyncRead + Unpin>(server: &Arc<Server>, link: &ClientLink, mut reader: R) {
    let key = link.key();
    // Grown on demand up to the largest message (a 20-byte STUN header and a 16-bit length): a connection
    // carrying video holds ~1.5 KiB, not 64.
    let mut frame = vec![0u8; 2048];
    loop {
        let header = reader.read_exact(&mut frame[..4]);
        let read = if server.table.read().contains_key(&key) {
            header.await.is_ok()
        } else {
            matches!(tokio::time::timeout(UNALLOCATED_IDLE, header).await, Ok(Ok(_)))
        };
        if !read {
            return;
        }
        let len = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
        let total = match frame[0] & 0xC0 {
            // STUN: a 20-byte header whose length counts the attributes after it.
            0x00 => 20 + len,
            // ChannelData: a 4-byte header, padded to a multiple of four on streams.
            0x40 => (4 + len).next_multiple_of(4),
            // Neither: not a TURN client. Closing is the only safe answer on a byte stream.
            _ => return,
        };
        if frame.len() < total {
            frame.resize(total, 0);
        }
        if reader.read_exact(&mut frame[4..total]).await.is_err() {
            return;
        }
        if data_path::is_channel_data(&frame) {
            data_path::channel_data_from_client(server, &key, &frame[..total]);
        } else {
            control::handle(server, link, &frame[..total]);
        }
    }
}

async fn write_frames<W: AsyncWrite + Unpin>(writer: W, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut writer = BufWriter::new(writer);
    while let Some(frame) = rx.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        // Flush once the queue is drained: frames that arrive together leave in one write.
        if rx.is_empty() && writer.flush().await.is_err() {
            return;
        }
    }
}
