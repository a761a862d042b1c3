//! One WebSocket's life: authenticate, `hello`, then one loop that reads and handles frames one at a time, writes
//! what is queued for the socket and keeps the heartbeat, until either side ends it. Every way out is a documented
//! close code (tanis_proto::CloseCode).
//!
//! One task per socket, not a reader and a writer: an idle socket costs what its task holds while it waits
//! (BENCHMARKS.md, "Idle sockets: one task per socket"). So the WebSocket is used in place (an `async fn` argument
//! moved into another local is stored twice in its future), the frame being handled and the paths taken once
//! (greeting, closing) are boxed, and one timer serves both the heartbeat's ping and its timeout.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tanis_proto::{CloseCode, PROTOCOL_VERSION, PROTOCOL_VERSION_2, SUBPROTOCOL, SUBPROTOCOL_V2, ServerFrame};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::Hub;
use super::context::{Ctx, SocketClient};
use super::dispatch;
use crate::auth::LoginId;
use crate::config::HubConfig;
use crate::delivery::{Closer, Encoded, Frames, SocketHandle};
use crate::domain::{UserId, handle};
use crate::quota;

/// Who a WebSocket handshake's access token names.
#[derive(Debug, Clone, Copy)]
pub struct SocketAuth {
    pub user_id: UserId,
    /// The login the token belongs to: checked live at connect, and signing it out closes the socket.
    pub login: Option<LoginId>,
}

/// How much the server's frames may wait to be written, in `max_frame_bytes`: one burst of frames, with room.
const WRITE_BUFFER_FACTOR: usize = 4;

impl Hub {
    /// Takes a WebSocket handshake that the API has authenticated (`auth`: the user and login, or the close code
    /// for a missing, forged or expired token) and runs the socket. The connection cap is taken before the upgrade,
    /// so it holds even while handshakes are in flight.
    pub fn accept(&self, ws: WebSocketUpgrade, auth: Result<SocketAuth, CloseCode>, client: SocketClient) -> Response {
        let permit = self.limiters().connections.clone().try_acquire_owned().ok();
        let start = Box::new(Start { hub: self.clone(), auth, permit, client });
        let c = &self.settings().hub;
        // The first of these the client offers is selected: version 2 when it offers it. Offering neither is
        // version 1, as before versions were negotiated.
        ws.protocols([SUBPROTOCOL_V2, SUBPROTOCOL])
            .read_buffer_size(c.read_buffer_bytes)
            .write_buffer_size(c.write_buffer_bytes)
            .max_write_buffer_size(c.max_frame_bytes * WRITE_BUFFER_FACTOR)
            // The hard limit: a frame above it is never read, and the socket is closed with 1009 (`live`). Below
            // it, a frame above `max_frame_bytes` that is not a `report` gets `message_too_large` (dispatch).
            .max_message_size(c.hard_frame_bytes())
            .max_frame_size(c.hard_frame_bytes())
            .on_upgrade(move |ws| run(ws, start))
    }
}

/// What a socket starts with. Boxed, because both the upgrade's callback and the socket's task keep what they
/// captured for the socket's whole life: unboxed, every socket would hold these twice, long after they are used.
struct Start {
    hub: Hub,
    auth: Result<SocketAuth, CloseCode>,
    permit: Option<OwnedSemaphorePermit>,
    client: SocketClient,
}

async fn close_now(ws: &mut WebSocket, code: CloseCode) {
    let _ = ws.send(close_frame(code)).await;
}

/// Refuses a socket that held a connection slot: the slot is freed before the close frame is sent, so a client
/// that has read its refusal finds the slot free when it connects again.
async fn refuse(ws: &mut WebSocket, code: CloseCode, permit: OwnedSemaphorePermit) {
    drop(permit);
    close_now(ws, code).await;
}

fn close_frame(code: CloseCode) -> Message {
    Message::Close(Some(CloseFrame { code: code.code(), reason: code.reason().into() }))
}

/// The socket's task. Not an `async fn`: one moves its arguments into locals, so this future, which lives as long
/// as the socket, would hold the WebSocket twice; an `async move` block uses what it captured in place.
#[expect(clippy::manual_async_fn, reason = "an async fn stores its arguments twice in the socket's future")]
fn run(mut ws: WebSocket, start: Box<Start>) -> impl Future<Output = ()> + Send {
    async move {
        let Start { hub, auth, permit, client } = *start;
        let protocol = match ws.protocol() {
            Some(selected) if selected.as_bytes() == SUBPROTOCOL_V2.as_bytes() => PROTOCOL_VERSION_2,
            _ => PROTOCOL_VERSION,
        };
        let Some(permit) = permit else {
            metrics::counter!("tanis_ws_refused_total", "reason" => "overloaded").increment(1);
            return Box::pin(close_now(&mut ws, CloseCode::Overloaded)).await;
        };
        // Boxed: loading the user and the active match are large database futures; inline, they would size the
        // task that lives as long as the socket.
        let Some(Greeted { user_id, socket, outbound, hello_sent, permit: _permit, client }) =
            Box::pin(greet(&hub, &mut ws, auth, permit, client, protocol)).await
        else {
            return;
        };
        let mut unanswered_close = false;
        if hello_sent {
            let ctx = Box::new(Ctx::new(hub.clone(), user_id, socket.clone(), client));
            unanswered_close = serve(&mut ws, ctx, outbound, &socket.closer, &hub.settings().hub).await;
        }
        Box::pin(forget(&hub, user_id, socket.id)).await;
        // Last: the socket is already gone for the hub; only the connection waits for the peer's reply.
        if unanswered_close {
            Box::pin(await_close_reply(&mut ws)).await;
        }
    }
}

/// The hub forgets a socket that has ended.
async fn forget(hub: &Hub, user_id: UserId, socket_id: u64) {
    hub.delivery().unregister(user_id, socket_id);
    hub.finder().socket_closed(user_id, socket_id).await;
    if !hub.sockets().is_connected(user_id) {
        hub.limiters().messages.forget(user_id);
        hub.limiters().signals.forget(user_id);
        hub.limiters().skips.forget(user_id);
    }
}

/// A socket past authentication: registered, and `hello` sent unless the peer was already gone.
struct Greeted {
    user_id: UserId,
    socket: SocketHandle,
    outbound: Frames,
    hello_sent: bool,
    /// The socket's connection slot, held until the connection is gone.
    permit: OwnedSemaphorePermit,
    /// Passed through, not kept: greeting is boxed, and the socket's task holds only what outlives it.
    client: SocketClient,
}

/// Authenticates, registers the socket and sends `hello`. `None` when the socket was closed with a code instead.
async fn greet(
    hub: &Hub,
    ws: &mut WebSocket,
    auth: Result<SocketAuth, CloseCode>,
    permit: OwnedSemaphorePermit,
    client: SocketClient,
    protocol: u32,
) -> Option<Greeted> {
    let SocketAuth { user_id, login } = match auth {
        Ok(auth) => auth,
        Err(code) => {
            refuse(ws, code, permit).await;
            return None;
        }
    };
    let user = match hub.store().user_by_id(user_id).await {
        Ok(Some(user)) if !user.is_banned && user.deleted_at.is_none() => user,
        Ok(Some(user)) if user.is_banned => {
            refuse(ws, CloseCode::Banned, permit).await;
            return None;
        }
        // Deleted (waiting for the purge) or gone: the token no longer stands for an account.
        Ok(Some(_)) | Ok(None) => {
            refuse(ws, CloseCode::InvalidToken, permit).await;
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "loading a connecting user");
            refuse(ws, CloseCode::GoingAway, permit).await;
            return None;
        }
    };
    let (socket, outbound) = hub.delivery().register(user_id, login, protocol, hub.settings().hub.outbound_queue);
    // The node's shutdown closes every registered socket (`Hub::start`); one registered after it began closes here.
    if hub.loops().shutdown.is_cancelled() {
        socket.closer.close(CloseCode::GoingAway);
    } else if hub.is_draining() {
        socket.closer.close(CloseCode::Draining);
    }
    // Checked once registered: a sign-out committed after this read finds the socket and closes it; one
    // committed before it is seen here.
    if let Some(login) = login {
        let refused = match hub.store().login_is_live(user_id, &login.to_string()).await {
            Ok(true) => None,
            Ok(false) => Some(CloseCode::InvalidToken),
            Err(e) => {
                tracing::error!(error = %e, "checking a connecting user's login");
                Some(CloseCode::GoingAway)
            }
        };
        if let Some(code) = refused {
            hub.delivery().unregister(user_id, socket.id);
            refuse(ws, code, permit).await;
            return None;
        }
    }
    let active = hub.load_active(user_id).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "loading the active match");
        None
    });
    let hello = ServerFrame::Hello {
        protocol,
        handle: handle(&user.alias, &user.tag),
        balances: quota::balances(&user),
        premium: user.is_premium,
        limits: hub.limits(),
        server_time: hub.now(),
        active_match: active.map(|a| a.info),
    };
    let hello_sent = ws.send(Message::Text(hello.to_json().into())).await.is_ok();
    Some(Greeted { user_id, socket, outbound, hello_sent, permit, client })
}

/// How long a closing socket may take, from the moment its close is decided, to finish the frame it is handling
/// and the one it is writing, write what was queued and send its close frame. The frames that explain a close
/// (the error before 4004, `match.ended` before 4003) are queued just before it, and a reader that keeps reading
/// gets them in milliseconds; the bound only stops a peer that has stopped reading from holding the task and its
/// connection slot: past it the connection is dropped without a close frame.
pub(super) const FLUSH_BOUND: Duration = Duration::from_secs(2);

/// The frame being handled; it gives the socket's [`Ctx`] back when done. Boxed: handling a frame (database calls
/// and all) is a large future, and inline it would make every idle socket's task that large.
type Handling = Pin<Box<dyn Future<Output = Box<Ctx>> + Send>>;

/// Why the loop stopped.
enum Ending {
    /// The socket's close was decided (by the hub, the heartbeat or the node's shutdown), with a code or not.
    Decided,
    /// The peer closed, or the connection broke while reading: there is nothing left to read.
    PeerGone,
    /// Writing failed: the connection is broken.
    Broken,
}

/// Runs a greeted socket until it ends; true when we sent a close frame and the peer has not answered it. Not an
/// `async fn`, for the reason [`run`] gives. The socket's [`Ctx`] is boxed: it goes back and forth between this
/// loop and the frame being handled, and each place that holds it would otherwise be its size.
#[expect(clippy::manual_async_fn, reason = "an async fn stores its arguments twice in the socket's future")]
fn serve<'a>(
    ws: &'a mut WebSocket,
    ctx: Box<Ctx>,
    mut outbound: Frames,
    closer: &'a Closer,
    settings: &'a HubConfig,
) -> impl Future<Output = bool> + Send + 'a {
    async move {
        let heartbeat = Heartbeat {
            interval: Duration::from_millis(settings.heartbeat_interval_ms),
            timeout: Duration::from_millis(settings.heartbeat_timeout_ms),
        };
        let mut ctx = Some(ctx);
        let mut handling = None;
        let mut peer_gone = false;
        let work = async {
            let ending = live(ws, &mut outbound, &mut ctx, &mut handling, closer, heartbeat).await;
            peer_gone = matches!(ending, Ending::PeerGone);
            // What is queued after the close was decided is not owed to the client (it stays stored for `resume`
            // where it matters); cancelling stops whatever of the frame being handled waits on this socket.
            outbound.close();
            closer.end();
            // The frame being handled finishes, as it always has: its handler is never cut off half-way.
            if let Some(frame) = handling.take() {
                frame.await;
            }
            match (ending, closer.chosen()) {
                (Ending::Decided, Some(code)) => {
                    if flushes_before(code) {
                        flush(ws, &mut outbound).await;
                    }
                    ws.send(close_frame(code)).await.is_ok()
                }
                _ => false,
            }
        };
        // A peer that stopped reading blocks the write in progress, whether it is a burst written before the close
        // was decided, the flush or the close frame itself. So the bound is on everything after the decision: when
        // it runs out, the work is dropped, and the connection with it.
        let bound = async {
            closer.ended().await;
            Box::pin(tokio::time::sleep(FLUSH_BOUND)).await;
        };
        let sent_close = tokio::select! {
            sent_close = work => sent_close,
            _ = bound => {
                metrics::counter!("tanis_ws_flush_timeouts_total").increment(1);
                false
            }
        };
        // However the socket ended, everything that holds its handle must see it closed.
        closer.end();
        sent_close && !peer_gone
    }
}

#[derive(Clone, Copy)]
struct Heartbeat {
    /// How often the server pings.
    interval: Duration,
    /// How long the peer may stay silent while the socket waits to read.
    timeout: Duration,
}

/// Reads, handles, writes and pings until the socket's close is decided (by the hub, the heartbeat or the node's
/// shutdown), the peer is gone or a write fails. One frame is handled at a time and reading waits for it, as it
/// always has (the in-flight limit pauses a socket by not finishing its `msg.send`); writing goes on meanwhile, so
/// the answers the frame waits for reach the client. Not an `async fn`, for the reason [`run`] gives.
#[expect(clippy::manual_async_fn, reason = "an async fn stores its arguments twice in the socket's future")]
fn live<'a>(
    ws: &'a mut WebSocket,
    outbound: &'a mut Frames,
    ctx: &'a mut Option<Box<Ctx>>,
    handling: &'a mut Option<Handling>,
    closer: &'a Closer,
    heartbeat: Heartbeat,
) -> impl Future<Output = Ending> + Send + 'a {
    async move {
        // One timer for both: it wakes at the next ping or at the end of the allowed silence, whichever comes first;
        // a frame read moves the silence's end without touching the timer (a wake-up before it is checked and
        // re-armed), so reading costs no timer operation.
        let mut quiet_since = Instant::now();
        let mut next_ping = quiet_since + heartbeat.interval;
        let timer = tokio::time::sleep_until(next_ping);
        let decided = closer.ended();
        tokio::pin!(timer, decided);
        loop {
            tokio::select! {
                biased;
                _ = &mut decided => return Ending::Decided,
                frame = outbound.recv() => match frame {
                    Some(text) => {
                        if write_burst(ws, outbound, text).await.is_err() {
                            return Ending::Broken;
                        }
                    }
                    None => return Ending::Broken,
                },
                done = finish(handling), if handling.is_some() => {
                    *handling = None;
                    *ctx = Some(done);
                    // Reading resumes: the silence allowed is counted from here.
                    quiet_since = Instant::now();
                }
                next = ws.next(), if handling.is_none() => {
                    quiet_since = Instant::now();
                    match next {
                        None => return Ending::PeerGone,
                        Some(Ok(Message::Close(_))) => {
                            answer_close(ws).await;
                            return Ending::PeerGone;
                        }
                        Some(Err(e)) => match violation(&e) {
                            // Fail the connection as RFC 6455 (7.1.7) asks: a close frame with its code, then the
                            // connection is dropped. Reading stops here: tungstenite reads nothing after an error.
                            Some(code) => {
                                tracing::debug!(error = %e, code = code.code(), "a frame broke the WebSocket protocol");
                                closer.close(code);
                                return Ending::Decided;
                            }
                            None => return Ending::PeerGone,
                        },
                        Some(Ok(message)) => *handling = start_handling(ctx, message),
                    }
                }
                () = &mut timer => {
                    let now = Instant::now();
                    let silent_until = quiet_since + heartbeat.timeout;
                    // Silent for the whole timeout although we pinged: the peer is gone.
                    if handling.is_none() && now >= silent_until {
                        closer.close(CloseCode::HeartbeatTimeout);
                        return Ending::Decided;
                    }
                    if now >= next_ping {
                        if ws.send(Message::Ping(Default::default())).await.is_err() {
                            return Ending::Broken;
                        }
                        next_ping = now + heartbeat.interval;
                    }
                    let wake = if handling.is_some() { next_ping } else { next_ping.min(silent_until) };
                    timer.as_mut().reset(wake);
                }
            }
        }
    }
}

/// Starts handling a frame read (`None` for one that needs no answer): the socket's [`Ctx`] goes with it.
fn start_handling(ctx: &mut Option<Box<Ctx>>, message: Message) -> Option<Handling> {
    let take = |ctx: &mut Option<Box<Ctx>>| ctx.take().expect("no frame is read while one is being handled");
    match message {
        Message::Text(text) => {
            let mut ctx = take(ctx);
            Some(Box::pin(async move {
                dispatch::handle(&mut ctx, text.as_str()).await;
                ctx
            }))
        }
        Message::Binary(_) => {
            let mut ctx = take(ctx);
            Some(Box::pin(async move {
                ctx.binary_frame().await;
                ctx
            }))
        }
        // Any frame proves liveness; tungstenite answers pings itself.
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => None,
    }
}

/// The close code for a read that broke the WebSocket protocol (RFC 6455, 7.4.1), or `None` when the connection
/// itself failed (a reset, an I/O error), with no one left to tell. axum wraps tungstenite's error; its source is
/// tungstenite's own. tungstenite keeps its connection open for writing after such an error (only a reset
/// ends it), so the close frame can still be sent.
fn violation(error: &axum::Error) -> Option<CloseCode> {
    use tungstenite::error::{Error, ProtocolError};
    match std::error::Error::source(error)?.downcast_ref::<Error>()? {
        // Above the hard limit (`HubConfig::hard_frame_bytes`): refused from its header, before it is read.
        Error::Capacity(_) => Some(CloseCode::MessageTooBig),
        // A text frame, or a close frame's reason, that is not UTF-8.
        Error::Utf8(_) => Some(CloseCode::InvalidPayload),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        // A reserved bit, an unmasked frame, an unknown opcode, a control frame over 125 bytes or fragmented, a
        // close frame of one byte, a stray continuation.
        Error::Protocol(_) => Some(CloseCode::ProtocolError),
        _ => None,
    }
}

/// Answers the peer's close frame: tungstenite queued the reply when it read it (the peer's own code, or 1002
/// for a code a peer may not send, such as 1005, 1006 or 999), and it goes out with this flush. Bounded, like
/// every write after a close: a peer that stopped reading cannot hold the socket.
async fn answer_close(ws: &mut WebSocket) {
    let _ = tokio::time::timeout(FLUSH_BOUND, ws.flush()).await;
}

async fn finish(handling: &mut Option<Handling>) -> Box<Ctx> {
    handling.as_mut().expect("polled only while a frame is being handled").await
}

/// After our close frame, reads (and drops) what the peer sent until its close reply, within [`FLUSH_BOUND`]:
/// the closing handshake. Frames read here were never acknowledged, so dropping them loses nothing the client
/// saw accepted. Without this, closing a connection whose peer had frames in flight leaves unread bytes in the
/// kernel, which answers with a reset, and a reset can destroy our close frame before the peer reads it.
async fn await_close_reply(ws: &mut WebSocket) {
    let drain = async {
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Close(_)) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(FLUSH_BOUND, drain).await;
}

/// Whether frames queued before a close with `code` are still written. Not for a peer known not to read: a slow
/// consumer's queue is full because it does not read, and a peer that missed its heartbeats is gone; their
/// messages stay stored for `resume`.
fn flushes_before(code: CloseCode) -> bool {
    !matches!(code, CloseCode::SlowConsumer | CloseCode::HeartbeatTimeout)
}

/// Writes every frame still queued (the queue is closed by then), in bursts as the live loop does.
async fn flush(ws: &mut WebSocket, outbound: &mut Frames) {
    while let Some(text) = outbound.recv().await {
        if write_burst(ws, outbound, text).await.is_err() {
            return;
        }
    }
}

/// Most frames written with one flush.
const BURST: usize = 64;

/// Writes `first` and whatever else is already queued, then flushes once: a burst (a busy match, a resume)
/// costs one `write` instead of one per frame.
async fn write_burst(ws: &mut WebSocket, outbound: &mut Frames, first: Encoded) -> Result<(), axum::Error> {
    ws.feed(Message::Text(first.as_ref().into())).await?;
    for _ in 1..BURST {
        let Some(text) = outbound.try_recv() else { break };
        ws.feed(Message::Text(text.as_ref().into())).await?;
    }
    ws.flush().await
}
