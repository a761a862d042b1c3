//! A WebSocket connection to tanis speaking the typed protocol of `tanis-proto`, and [`Chat`]: one side of
//! an end-to-end encrypted conversation on top of it. Tests, the load generator and app developers use it as
//! the reference for how a client behaves.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{SinkExt, StreamExt};
use tanis_proto::{
    AUTH_SUBPROTOCOL_PREFIX, ClientFrame, ErrorCode, InterestMatching, MatchInfo, MatchKind, Region, ReportReason,
    Reveal, SUBPROTOCOL, SUBPROTOCOL_V2, Seeking, Seq, ServerFrame,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::e2e::{E2eError, E2eSession, Identity, Role};
use crate::franking;

/// How long any single wait for a frame lasts before it is an error, so a test never hangs.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    #[error("the server closed the connection (code {code:?}: {reason})")]
    Closed { code: Option<u16>, reason: String },
    #[error("unexpected frame: {0}")]
    Unexpected(String),
    #[error("the server sent something that is not a protocol frame: {0}")]
    Protocol(String),
    #[error(transparent)]
    E2e(#[from] E2eError),
}

/// How to present the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIn {
    /// `Authorization: Bearer …` (mobile apps).
    Header,
    /// `Sec-WebSocket-Protocol: tanis.v1, tanis.auth.<token>` (browsers, which cannot set headers).
    Subprotocol,
}

/// Which way a frame went, for [`observe_frames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

static OBSERVER: std::sync::OnceLock<fn(Direction, &str)> = std::sync::OnceLock::new();

/// Calls `observer` with every protocol frame a [`Connection`] of this process sends ([`Connection::send`]) or
/// reads as a frame ([`Connection::next`]), on the caller's task before the frame is written or returned, so a
/// panic in it fails the caller. The test suite checks each frame against the server's AsyncAPI document with it.
/// Set once per process: the first observer stays (returns false when one was already set).
pub fn observe_frames(observer: fn(Direction, &str)) -> bool {
    OBSERVER.set(observer).is_ok()
}

fn observe(direction: Direction, text: &str) {
    if let Some(observer) = OBSERVER.get() {
        observer(direction, text);
    }
}

pub struct Connection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub wait: Duration,
    /// The protocol version offered: 1 (`tanis.v1`, or nothing with the header token) or 2 (`tanis.v2` first,
    /// `tanis.v1` beside it). `hello.protocol` says which the server selected.
    pub protocol: u32,
}

impl Connection {
    /// Opens the WebSocket at `url` (`ws://host:port/v1/ws`). The caller reads `hello` (or the close) next.
    pub async fn open(url: &str, token: Option<&str>, token_in: TokenIn) -> Result<Self, ClientError> {
        Self::open_with_headers(url, token, token_in, &[], 1).await
    }

    /// Opens offering protocol `version` (1 or 2) and reads `hello`.
    pub async fn connect_version(url: &str, token: &str, version: u32) -> Result<(Self, ServerFrame), ClientError> {
        let mut connection = Self::open_with_headers(url, Some(token), TokenIn::Header, &[], version).await?;
        match connection.next().await? {
            hello @ ServerFrame::Hello { .. } => Ok((connection, hello)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Opens offering protocol `version` with the token presented as `token_in`; the caller reads `hello` next.
    pub async fn open_version(
        url: &str,
        token: Option<&str>,
        token_in: TokenIn,
        version: u32,
    ) -> Result<Self, ClientError> {
        Self::open_with_headers(url, token, token_in, &[], version).await
    }

    /// Opens and reads `hello`, sending these extra request headers too: what a proxy in front of the server adds
    /// (`X-Forwarded-For`), for tests that play the proxy.
    pub async fn connect_with_headers(
        url: &str,
        token: &str,
        headers: &[(&'static str, String)],
    ) -> Result<(Self, ServerFrame), ClientError> {
        let mut connection = Self::open_with_headers(url, Some(token), TokenIn::Header, headers, 1).await?;
        match connection.next().await? {
            hello @ ServerFrame::Hello { .. } => Ok((connection, hello)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Opens from the local address `from` and reads `hello`: a load generator on one machine plays clients
    /// from many addresses (127.0.0.2, 127.0.0.3, …), as a proxy's per-address limits expect real clients to be.
    /// It offers protocol `version`.
    pub async fn connect_from(
        url: &str,
        token: &str,
        from: std::net::IpAddr,
        version: u32,
    ) -> Result<(Self, ServerFrame), ClientError> {
        let request = Self::request(url, Some(token), TokenIn::Header, &[], version)?;
        let io = |e: std::io::Error| ClientError::WebSocket(tungstenite::Error::Io(e));
        let uri = request.uri();
        let host = uri.host().ok_or_else(|| ClientError::Protocol(format!("no host in {url}")))?;
        let port = uri.port_u16().unwrap_or(80);
        let to = tokio::net::lookup_host((host, port))
            .await
            .map_err(io)?
            .find(|a| a.is_ipv4() == from.is_ipv4())
            .ok_or_else(|| ClientError::Protocol(format!("{host} has no address of {from}'s family")))?;
        let socket = if from.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
        let socket = socket.map_err(io)?;
        socket.bind(std::net::SocketAddr::new(from, 0)).map_err(io)?;
        let stream = socket.connect(to).await.map_err(io)?;
        // TCP_NODELAY, as `open` sets it: small frames go out at once.
        stream.set_nodelay(true).map_err(io)?;
        let (socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await?;
        let mut connection = Self { socket, wait: DEFAULT_WAIT, protocol: version };
        match connection.next().await? {
            hello @ ServerFrame::Hello { .. } => Ok((connection, hello)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    async fn open_with_headers(
        url: &str,
        token: Option<&str>,
        token_in: TokenIn,
        extra: &[(&'static str, String)],
        version: u32,
    ) -> Result<Self, ClientError> {
        let request = Self::request(url, token, token_in, extra, version)?;
        // TCP_NODELAY: small frames go out at once instead of waiting for the server's delayed ACK.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        Ok(Self { socket, wait: DEFAULT_WAIT, protocol: version })
    }

    /// The handshake request: the token where `token_in` says, the extra headers, the client's user agent, the
    /// protocol versions offered.
    fn request(
        url: &str,
        token: Option<&str>,
        token_in: TokenIn,
        extra: &[(&'static str, String)],
        version: u32,
    ) -> Result<tungstenite::handshake::client::Request, ClientError> {
        let mut request = url.into_client_request()?;
        for (name, value) in extra {
            let value = HeaderValue::from_str(value).map_err(|e| ClientError::Protocol(e.to_string()))?;
            request.headers_mut().insert(*name, value);
        }
        // The server keeps this (truncated) as the device description in message metadata.
        request
            .headers_mut()
            .insert("user-agent", HeaderValue::from_static(concat!("tanis-client/", env!("CARGO_PKG_VERSION"))));
        // Version 1 with the header token offers no subprotocol, as before versions were negotiated.
        let versions = if version >= 2 { format!("{SUBPROTOCOL_V2}, {SUBPROTOCOL}") } else { SUBPROTOCOL.to_owned() };
        let mut protocols = (version >= 2).then(|| versions.clone());
        if let Some(token) = token {
            let headers = request.headers_mut();
            match token_in {
                TokenIn::Header => {
                    let value = HeaderValue::from_str(&format!("Bearer {token}"))
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    headers.insert("authorization", value);
                }
                TokenIn::Subprotocol => protocols = Some(format!("{versions}, {AUTH_SUBPROTOCOL_PREFIX}{token}")),
            }
        }
        if let Some(protocols) = protocols {
            let value = HeaderValue::from_str(&protocols).map_err(|e| ClientError::Protocol(e.to_string()))?;
            request.headers_mut().insert("sec-websocket-protocol", value);
        }
        Ok(request)
    }

    /// Opens and reads `hello`.
    pub async fn connect(url: &str, token: &str) -> Result<(Self, ServerFrame), ClientError> {
        let mut connection = Self::open(url, Some(token), TokenIn::Header).await?;
        let hello = connection.next().await?;
        match hello {
            ServerFrame::Hello { .. } => Ok((connection, hello)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let text = serde_json::to_string(frame).expect("client frames serialise");
        observe(Direction::Sent, &text);
        self.send_raw(Message::Text(text.into())).await
    }

    /// Sends anything, valid or not (for testing how the server treats bad input).
    pub async fn send_raw(&mut self, message: Message) -> Result<(), ClientError> {
        Ok(self.socket.send(message).await?)
    }

    /// The next protocol frame, within `wait`. Pings are answered by tungstenite while reading and do not
    /// extend the wait; a close is an error that carries the close code.
    pub async fn next(&mut self) -> Result<ServerFrame, ClientError> {
        self.next_before(tokio::time::Instant::now() + self.wait).await
    }

    async fn next_before(&mut self, deadline: tokio::time::Instant) -> Result<ServerFrame, ClientError> {
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| ClientError::Timeout(self.wait))?;
            match message {
                None => return Err(ClientError::Closed { code: None, reason: String::new() }),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(text))) => {
                    observe(Direction::Received, text.as_str());
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| ClientError::Protocol(format!("{e}: {text}")));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) =
                        frame.map_or((None, String::new()), |f| (Some(u16::from(f.code)), f.reason.to_string()));
                    return Err(ClientError::Closed { code, reason });
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Skips frames until one satisfies `wanted`, all within one `wait` (a stream of other frames cannot
    /// keep it waiting for ever).
    pub async fn next_where(&mut self, wanted: impl Fn(&ServerFrame) -> bool) -> Result<ServerFrame, ClientError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let frame = self.next_before(deadline).await?;
            if wanted(&frame) {
                return Ok(frame);
            }
        }
    }

    /// Waits for the server to close the connection and returns its close code. `None` both when the connection
    /// ended without a close frame and when nothing arrived within `wait`: use [`Connection::ended`] where those
    /// two must not be confused.
    pub async fn closed(&mut self) -> Option<u16> {
        self.ended().await.unwrap_or(None)
    }

    /// Waits until the connection ends, skipping frames: `Ok` with the close code, or `Ok(None)` when it ended
    /// without a close frame (the server's process died, the TCP connection was reset). A connection that is
    /// still open when `wait` passes without a frame is `Err(Timeout)`, never taken for one that ended.
    pub async fn ended(&mut self) -> Result<Option<u16>, ClientError> {
        loop {
            match self.next().await {
                Ok(_) | Err(ClientError::Protocol(_)) => continue,
                Err(ClientError::Closed { code, .. }) => return Ok(code),
                Err(ClientError::WebSocket(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

/// What a `match.find` asks for: the kind, and the options a find screen offers. [`Find::new`] asks for anyone
/// (no nearby wish, interests off, anywhere), which is what [`Chat::find`] sends; the builder methods change one
/// option each:
///
/// ```
/// use tanis_client::Find;
/// use tanis_proto::{InterestMatching, MatchKind, Region};
///
/// let find = Find::new(MatchKind::Text).interests(InterestMatching::Prefer).region(Region::RadiusKm(50));
/// assert_eq!(find.region, Region::RadiusKm(50));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Find {
    pub kind: MatchKind,
    /// Prefer partners close to the profile's location (a preference that widens with waiting).
    pub nearby: bool,
    /// Match on the profile's interests: off, prefer, or only.
    pub interests: InterestMatching,
    /// Premium only: pair only within the own country or a radius (never widening). The server answers
    /// `premium_required`, `location_required` or `invalid_field` when it cannot be asked.
    pub region: Region,
    /// Premium only: whom to meet by declared gender; `None` (the default) is anyone. The server answers
    /// `premium_required` or `invalid_field` when it cannot be asked, and never stores it.
    pub seeking: Option<Seeking>,
}

impl Find {
    /// Anyone of this kind.
    pub fn new(kind: MatchKind) -> Self {
        Self { kind, nearby: false, interests: InterestMatching::Off, region: Region::Anywhere, seeking: None }
    }

    pub fn nearby(self, nearby: bool) -> Self {
        Self { nearby, ..self }
    }

    pub fn interests(self, interests: InterestMatching) -> Self {
        Self { interests, ..self }
    }

    pub fn region(self, region: Region) -> Self {
        Self { region, ..self }
    }

    pub fn seeking(self, seeking: Seeking) -> Self {
        Self { seeking: Some(seeking), ..self }
    }

    /// The `match.find` frame for this find, offering `public_key` (this match's X25519 key, base64).
    pub fn frame(&self, id: Option<String>, public_key: String) -> ClientFrame {
        let Find { kind, nearby, interests, region, ref seeking } = *self;
        ClientFrame::MatchFind { id, kind, public_key, nearby, interests, region, seeking: seeking.clone() }
    }
}

/// How long to wait before connecting again after the server closed a socket with `code`, as docs/protocol.md
/// section 3 says: after 4010 (`draining`, a node stopping in a rolling update) a uniformly random delay below
/// [`tanis_proto::DRAIN_JITTER_MS`], so that a node's clients reach the other nodes a few at a time; `None` for
/// the other codes, whose backoff (or refusal to reconnect) is the caller's.
pub fn reconnect_delay(code: Option<u16>) -> Option<Duration> {
    (code == Some(tanis_proto::CloseCode::Draining.code()))
        .then(|| Duration::from_millis(rand::random_range(0..tanis_proto::DRAIN_JITTER_MS)))
}

/// One side of a match with its end-to-end session: what a chat screen needs.
pub struct Chat {
    pub info: MatchInfo,
    pub e2e: E2eSession,
    /// The session before the last key change of a contact conversation: messages sealed before either side
    /// learnt of the new key still open with it (docs/protocol.md, section 9, "Contacts").
    previous: Option<E2eSession>,
    /// Every key the peer had before their current one in this conversation. A key change always brings a fresh
    /// key pair, so one of these announced again is a replay (a server's, or a stolen token's): it is refused, or
    /// the session it keyed would come back with its counters at 1 and old messages would open again.
    retired_peer_keys: Vec<[u8; 32]>,
    next_client_msg_id: u64,
    /// What the peer sent, as it can be revealed in a report: by seq.
    received: BTreeMap<Seq, Reveal>,
}

impl Chat {
    /// Asks for a match of `kind` (with no options: [`Find::new`]) on `connection` and waits until paired.
    pub async fn find(connection: &mut Connection, kind: MatchKind) -> Result<Chat, ClientError> {
        Chat::find_with(connection, &Find::new(kind)).await
    }

    /// Asks for the match `find` describes on `connection` and waits until paired. A refusal (`error`, such as
    /// `premium_required`) is [`ClientError::Unexpected`] naming it.
    pub async fn find_with(connection: &mut Connection, find: &Find) -> Result<Chat, ClientError> {
        let identity = Chat::ask_with(connection, find).await?;
        Chat::await_match(connection, identity, Some(find)).await
    }

    /// Sends `match.find` for `kind` (no options) with a fresh key pair, and returns the key pair for
    /// [`Chat::found`].
    pub async fn ask(connection: &mut Connection, kind: MatchKind) -> Result<Identity, ClientError> {
        Chat::ask_with(connection, &Find::new(kind)).await
    }

    /// Sends `match.find` as `find` describes it, with a fresh key pair, and returns the key pair for
    /// [`Chat::found`].
    pub async fn ask_with(connection: &mut Connection, find: &Find) -> Result<Identity, ClientError> {
        let identity = Identity::generate();
        connection.send(&find.frame(Some("find".into()), identity.public_key_b64())).await?;
        Ok(identity)
    }

    /// Waits for `match.found` after [`Chat::ask`] and keys the end-to-end session with the peer's key.
    pub async fn found(connection: &mut Connection, identity: Identity) -> Result<Chat, ClientError> {
        Chat::await_match(connection, identity, None).await
    }

    /// Waits for the match: its `match.found`, or a `resync` naming it (the `match.found` was lost between nodes:
    /// docs/protocol.md, `resync`). A `resync` without a match means the cluster's queue may have been lost: the
    /// find (when known) goes again with the same key, and its `already_queued` only says the place was kept.
    async fn await_match(
        connection: &mut Connection,
        identity: Identity,
        again: Option<&Find>,
    ) -> Result<Chat, ClientError> {
        let mut sent_again = false;
        loop {
            // Skips `match.queued` and anything else unrelated, such as the `match.ended` of an earlier match
            // that a peer's late leave can still deliver.
            let frame = connection
                .next_where(|f| {
                    matches!(f, ServerFrame::MatchFound { .. } | ServerFrame::Resync { .. } | ServerFrame::Error { .. })
                })
                .await?;
            match frame {
                ServerFrame::MatchFound { info, .. } | ServerFrame::Resync { active_match: Some(info) } => {
                    return Chat::established(identity, info);
                }
                ServerFrame::Resync { active_match: None } => {
                    if let Some(find) = again {
                        connection.send(&find.frame(Some("find".into()), identity.public_key_b64())).await?;
                        sent_again = true;
                    }
                }
                ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. } if sent_again => {}
                other => return Err(ClientError::Unexpected(format!("{other:?}"))),
            }
        }
    }

    /// The chat of a match just found: its session derived from `identity` and the peer's key in `info`.
    /// Public for clients that read their own frames (the load generator's mix) and meet `match.found` among
    /// them, or a match in `hello` that they had asked for before a reconnect.
    pub fn established(identity: Identity, info: MatchInfo) -> Result<Chat, ClientError> {
        let role = if info.initiator { Role::Initiator } else { Role::Responder };
        let e2e = E2eSession::establish(identity, &info.peer_public_key, info.match_id, role)?;
        Ok(Chat {
            info,
            e2e,
            previous: None,
            retired_peer_keys: Vec::new(),
            next_client_msg_id: 1,
            received: BTreeMap::new(),
        })
    }

    /// Encrypts `text`, franked, into a `msg.send` frame with a fresh client_msg_id.
    pub fn message(&mut self, text: &str) -> ClientFrame {
        let (payload, commitment) = franking::frank(text);
        let sealed = self.e2e.seal(&payload);
        let client_msg_id = format!("m{}", self.next_client_msg_id);
        self.next_client_msg_id += 1;
        ClientFrame::MsgSend {
            id: Some(client_msg_id.clone()),
            match_id: self.info.match_id,
            client_msg_id,
            ciphertext: sealed.ciphertext,
            nonce: sealed.nonce,
            commitment,
            ack: None,
        }
    }

    /// Decrypts a received `msg` frame: with the current session, else with the one before the last key change,
    /// then checks its franking commitment and keeps it revealable ([`Chat::report`]). A failure is an error,
    /// never plaintext. The first message that opens with the current session ends the previous one: the peer
    /// has the new key, so nothing sealed before the change can follow (docs/protocol.md, section 9, "Contacts").
    pub fn read(&mut self, frame: &ServerFrame) -> Result<String, ClientError> {
        let ServerFrame::Msg { seq, ciphertext, nonce, commitment, .. } = frame else {
            return Err(ClientError::Unexpected(format!("{frame:?}")));
        };
        let bytes = match self.e2e.open(ciphertext, nonce) {
            Ok(bytes) => {
                self.previous = None;
                bytes
            }
            Err(e) => match self.previous.as_mut().map(|previous| previous.open(ciphertext, nonce)) {
                Some(Ok(bytes)) => bytes,
                _ => return Err(e.into()),
            },
        };
        let opened = franking::unfrank(*seq, &bytes, commitment.as_deref())?;
        self.received.insert(*seq, opened.reveal);
        Ok(opened.text)
    }

    /// A `report` of the peer for `reason`, revealing the received messages `seqs` (read with [`Chat::read`]) so
    /// the server can verify them. An empty `seqs` reports without evidence.
    ///
    /// # Errors
    /// [`ClientError::Unexpected`] naming a seq this chat never read from the peer.
    pub fn report(
        &self,
        reason: ReportReason,
        details: Option<&str>,
        seqs: &[Seq],
    ) -> Result<ClientFrame, ClientError> {
        let evidence = seqs
            .iter()
            .map(|seq| {
                self.received
                    .get(seq)
                    .cloned()
                    .ok_or_else(|| ClientError::Unexpected(format!("no message {seq:?} was read")))
            })
            .collect::<Result<_, _>>()?;
        Ok(ClientFrame::Report {
            id: Some("report".into()),
            match_id: self.info.match_id,
            reason_code: reason,
            details: details.map(str::to_owned),
            evidence,
        })
    }

    /// `contact.propose` for this match: keep in touch with the peer once they propose too.
    pub fn propose_keep(&self) -> ClientFrame {
        ClientFrame::ContactPropose { id: Some("keep".into()), match_id: self.info.match_id }
    }

    /// This device takes the contact conversation over with a fresh key pair: returns the `contact.key` frame to
    /// send. Messages sealed to the old key can no longer be read here (there is no plaintext fallback).
    pub fn rekey(&mut self) -> Result<ClientFrame, ClientError> {
        let identity = Identity::generate();
        let public_key = identity.public_key_b64();
        let next = self.e2e.rekeyed(Some(identity), None)?;
        self.previous = Some(std::mem::replace(&mut self.e2e, next));
        Ok(ClientFrame::ContactKey { id: Some("key".into()), match_id: self.info.match_id, public_key })
    }

    /// The peer published a new key (`contact.key`): seal to it from now on. The key in use announced again (the
    /// frame and the list both carry it) changes nothing; a key the peer had before is refused
    /// ([`E2eError::InvalidPublicKey`]) and the session stays as it was.
    pub fn peer_rekeyed(&mut self, peer_public_key: &str) -> Result<(), ClientError> {
        let current = self.e2e.peer_public_key();
        let key = B64.decode(peer_public_key).ok();
        if key.as_deref() == Some(&current[..]) {
            return Ok(());
        }
        if key.is_some_and(|key| self.retired_peer_keys.iter().any(|old| old[..] == key[..])) {
            return Err(E2eError::InvalidPublicKey.into());
        }
        let next = self.e2e.rekeyed(None, Some(peer_public_key))?;
        self.retired_peer_keys.push(current);
        self.info.peer_public_key = peer_public_key.to_owned();
        self.previous = Some(std::mem::replace(&mut self.e2e, next));
        Ok(())
    }

    /// Whether a session from before the last key change is still kept (until a message opens with the new one).
    pub fn keeps_previous_session(&self) -> bool {
        self.previous.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draining_close_is_followed_by_a_jittered_delay_below_the_window_and_other_closes_by_none() {
        let delays: Vec<Duration> =
            (0..200).map(|_| reconnect_delay(Some(4010)).expect("4010 says when to come back")).collect();
        let window = Duration::from_millis(tanis_proto::DRAIN_JITTER_MS);
        assert!(delays.iter().all(|d| *d < window));
        // Spread, not one instant: 200 draws from [0, 2000) ms all within a tenth of the window has odds below 1e-180.
        let (low, high) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(*high - *low > window / 10, "{low:?}..{high:?}");
        for code in [None, Some(1001), Some(4008), Some(4013)] {
            assert_eq!(reconnect_delay(code), None);
        }
    }

    /// Two sides of one contact conversation (match 77), keyed as the server's `match.found` would key them.
    fn contacts() -> (Chat, Chat) {
        let (a, b) = (Identity::generate(), Identity::generate());
        let info = |peer_public_key: String, initiator: bool| MatchInfo {
            match_id: tanis_proto::MatchId(77),
            kind: MatchKind::Text,
            peer: "x#0001".into(),
            peer_public_key,
            initiator,
            expires_at: serde_json::from_value(serde_json::json!("2026-11-26T00:00:00Z")).unwrap(),
            shared_interests: Vec::new(),
            shared_languages: Vec::new(),
            video_safety: None,
        };
        let chat = |identity: Identity, info: MatchInfo| Chat::established(identity, info).unwrap();
        let (a_pub, b_pub) = (a.public_key_b64(), b.public_key_b64());
        (chat(a, info(b_pub, true)), chat(b, info(a_pub, false)))
    }

    /// What the server relays for a `msg.send`, at `seq`.
    fn relayed(send: &ClientFrame, seq: i64) -> ServerFrame {
        let ClientFrame::MsgSend { match_id, ciphertext, nonce, commitment, .. } = send else { unreachable!() };
        ServerFrame::Msg {
            match_id: *match_id,
            seq: Seq(seq),
            ciphertext: ciphertext.clone(),
            nonce: nonce.clone(),
            commitment: Some(commitment.clone()),
            sent_at: serde_json::from_value(serde_json::json!("2026-11-26T00:00:00Z")).unwrap(),
            mine: false,
            delivered: None,
        }
    }

    fn new_key(frame: &ClientFrame) -> String {
        let ClientFrame::ContactKey { public_key, .. } = frame else { unreachable!() };
        public_key.clone()
    }

    #[test]
    fn the_peers_current_key_announced_again_changes_nothing() {
        let (mut a, mut b) = contacts();
        let first = relayed(&a.message("bir"), 1);
        assert_eq!(b.read(&first).unwrap(), "bir");
        // The frame and the list both carry a's key: nothing restarts, so the first message stays read once.
        let current = b.info.peer_public_key.clone();
        b.peer_rekeyed(&current).unwrap();
        assert!(!b.keeps_previous_session());
        assert!(matches!(b.read(&first), Err(ClientError::E2e(E2eError::Replay))), "a replay is still a replay");
        assert_eq!(a.read(&relayed(&b.message("iki"), 2)).unwrap(), "iki", "b's counter went on, not back to 1");
    }

    #[test]
    fn a_key_the_peer_had_before_is_refused_and_its_old_messages_stay_read_once() {
        let (mut a, mut b) = contacts();
        let old_key = a.info.peer_public_key.clone();
        let before = relayed(&b.message("eski"), 1);
        assert_eq!(a.read(&before).unwrap(), "eski");
        // b takes the conversation over on a new device; a learns the key and reads under it.
        let rekey = b.rekey().unwrap();
        a.peer_rekeyed(&new_key(&rekey)).unwrap();
        assert_eq!(a.read(&relayed(&b.message("yeni"), 2)).unwrap(), "yeni");
        // b's old key announced again (a server replaying, or a stolen token's contact.key) is refused, and the
        // session stays the new one: the old message sent again does not open as a new one.
        assert!(matches!(a.peer_rekeyed(&old_key), Err(ClientError::E2e(E2eError::InvalidPublicKey))));
        assert_eq!(a.info.peer_public_key, new_key(&rekey));
        assert!(a.read(&before).is_err(), "an old message must not open again with fresh counters");
        assert_eq!(a.read(&relayed(&b.message("hâlâ yeni"), 3)).unwrap(), "hâlâ yeni");
    }

    #[test]
    fn the_previous_session_ends_once_a_message_opens_with_the_new_one() {
        let (mut a, mut b) = contacts();
        // b seals two messages before learning a's new key; the first arrives before a's new key is used.
        let (old_1, old_2) = (relayed(&b.message("bir"), 1), relayed(&b.message("iki"), 2));
        let rekey = a.rekey().unwrap();
        assert_eq!(a.read(&old_1).unwrap(), "bir", "sealed before b learnt of the change: the previous session");
        assert!(a.keeps_previous_session());
        b.peer_rekeyed(&new_key(&rekey)).unwrap();
        assert_eq!(a.read(&relayed(&b.message("üç"), 3)).unwrap(), "üç");
        assert!(!a.keeps_previous_session(), "b has the new key: nothing sealed before can follow");
        assert!(matches!(a.read(&old_2), Err(ClientError::E2e(E2eError::Decrypt))));
    }

    #[test]
    fn a_plain_find_asks_for_anyone_and_each_option_changes_only_itself() {
        let plain = Find::new(MatchKind::Video);
        let frame = serde_json::to_value(plain.frame(Some("f".into()), "KEY".into())).unwrap();
        assert_eq!(
            frame,
            serde_json::json!({"type": "match.find", "id": "f", "kind": "video", "public_key": "KEY", "nearby": false,
                               "interests": "off"}),
            "a find that asks for no region does not say so: a server that predates regions reads it too"
        );
        let picky = plain.clone().nearby(true).interests(InterestMatching::Only).region(Region::RadiusKm(50));
        assert_eq!(
            picky,
            Find {
                kind: MatchKind::Video,
                nearby: true,
                interests: InterestMatching::Only,
                region: Region::RadiusKm(50),
                seeking: None,
            }
        );
        let frame = serde_json::to_value(picky.frame(None, "KEY".into())).unwrap();
        assert_eq!(
            (&frame["region"], &frame["interests"]),
            (&serde_json::json!({"radius_km": 50}), &serde_json::json!("only"))
        );
        assert_eq!(plain.clone().region(Region::Country).region, Region::Country);
        let wish = Seeking { genders: vec![tanis_proto::Gender::NonBinary], mode: tanis_proto::PreferenceMode::Prefer };
        let frame = serde_json::to_value(plain.seeking(wish).frame(None, "KEY".into())).unwrap();
        assert_eq!(frame["seeking"], serde_json::json!({"genders": ["non_binary"], "mode": "prefer"}));
    }
}
