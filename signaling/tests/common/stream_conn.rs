//! webrtc-rs's TURN client speaks through a `Conn` of datagrams; this one carries them over a TCP
//! or TLS stream with the framing of RFC 5766 §2.1 (ChannelData padded to four bytes), so the
//! same client tests TURN over TCP and TLS. It is a test client, written from the RFC, not from
//! the server's code.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use webrtc_util::Conn;

type Stream = Box<dyn Io>;
pub trait Io: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> Io for T {}

pub struct StreamConn {
    reader: Mutex<ReadHalf<Stream>>,
    writer: Mutex<WriteHalf<Stream>>,
    local: SocketAddr,
    server: SocketAddr,
}

/// A self-signed certificate for `localhost` and 127.0.0.1.
pub struct TestCertificate {
    pub certificate_pem: String,
    pub private_key_pem: String,
    der: rustls_pki_types::CertificateDer<'static>,
}

impl TestCertificate {
    pub fn new() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("self-signed certificate");
        TestCertificate {
            certificate_pem: certified.cert.pem(),
            private_key_pem: certified.key_pair.serialize_pem(),
            der: certified.cert.der().clone(),
        }
    }
}

impl StreamConn {
    pub async fn tcp(server: SocketAddr) -> Arc<StreamConn> {
        let tcp = TcpStream::connect(server).await.expect("TCP connect");
        let local = tcp.local_addr().unwrap();
        Self::wrap(Box::new(tcp), local, server)
    }

    /// A TLS connection that trusts only `certificate`, checking the name `localhost`.
    pub async fn tls(server: SocketAddr, certificate: &TestCertificate) -> Arc<StreamConn> {
        let mut roots = RootCertStore::empty();
        roots.add(certificate.der.clone()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(server).await.expect("TCP connect");
        let local = tcp.local_addr().unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake");
        Self::wrap(Box::new(tls), local, server)
    }

    fn wrap(stream: Stream, local: SocketAddr, server: SocketAddr) -> Arc<StreamConn> {
        let (r, w) = tokio::io::split(stream);
        Arc::new(StreamConn { reader: Mutex::new(r), writer: Mutex::new(w), local, server })
    }
}

fn closed() -> webrtc_util::Error {
    std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()
}

#[async_trait]
impl Conn for StreamConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let mut r = self.reader.lock().await;
        let mut header = [0u8; 4];
        r.read_exact(&mut header).await.map_err(|_| closed())?;
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let (body, keep) =
            if header[0] & 0xC0 == 0x40 { ((4 + len).next_multiple_of(4) - 4, 4 + len) } else { (16 + len, 20 + len) };
        let mut frame = vec![0u8; 4 + body];
        frame[..4].copy_from_slice(&header);
        r.read_exact(&mut frame[4..]).await.map_err(|_| closed())?;
        buf[..keep].copy_from_slice(&frame[..keep]);
        Ok((keep, self.server))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.send_to(buf, self.server).await
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        let mut frame = buf.to_vec();
        if buf.first().is_some_and(|b| b & 0xC0 == 0x40) {
            frame.resize(buf.len().next_multiple_of(4), 0);
        }
        let mut w = self.writer.lock().await;
        w.write_all(&frame).await.map_err(|_| closed())?;
        w.flush().await.map_err(|_| closed())?;
        Ok(buf.len())
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.server)
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        let _ = self.writer.lock().await.shutdown().await;
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
