//! One WebSocket's life: authenticate, `hello`, then a read loop (this task) and a write loop (its own
//! task) until either side ends it. Every way out is a documented close code (tanis_proto::CloseCode).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tanis_proto::{CloseCode, PROTOCOL_VERSION, SUBPROTOCOL, ServerFrame};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use super::Hub;
use super::context::{Ctx, SocketClient};
use super::dispatch;
use crate::auth::LoginId;
use crate::delivery::{Closer, Encoded, SocketHandle};
use crate::domain::{UserId, handle};
use crate::quota;

/// Who a WebSocket handshake's access token names.
#[derive(Debug, Clone, Copy)]
pub struct SocketAuth {
    pub user_id: UserId,
    /// The login the token belongs to: checked live at connect, and signing it out closes the socket.
    pub login: Option<LoginId>,
}

/// tungstenite's own hard limit, above the protocol's `max_frame_bytes`: a frame between the two gets a
/// `message_too_large` error and the socket stays open; beyond this tungstenite refuses to read on and the
/// connection is dropped without a close frame (clients see 1006).
const HARD_FRAME_FACTOR: usize = 4;

impl Hub {
    /// Takes a WebSocket handshake that the API has authenticated (`auth`: the user and login, or the close code
    /// for a missing, forged or expired token) and runs the socket. The connection cap is taken before the upgrade,
    /// so it holds even while handshakes are in flight.
    pub fn accept(&self, ws: WebSocketUpgrade, auth: Result<SocketAuth, CloseCode>, client: SocketClient) -> Response {
        let hub = self.clone();
        let permit = hub.inner.limiters.connections.clone().try_acquire_owned().ok();
        let c = &hub.inner.settings.hub;
        ws.protocols([SUBPROTOCOL])
            .read_buffer_size(c.read_buffer_bytes)
            .write_buffer_size(c.write_buffer_bytes)
            .max_write_buffer_size(c.max_frame_bytes * HARD_FRAME_FACTOR)
            .max_message_size(c.max_frame_bytes * HARD_FRAME_FACTOR)
            .max_frame_size(c.max_frame_bytes * HARD_FRAME_FACTOR)
            .on_upgrade(move |ws| run(hub, ws, auth, permit, client))
    }
}

async fn close_now(mut ws: WebSocket, code: CloseCode) {
    let _ = ws.send(close_frame(code)).await;
}

/// Refuses a socket that held a connection slot: the slot is freed before the close frame is sent, so a client
/// that has read its refusal finds the slot free when it connects again.
async fn refuse(ws: WebSocket, code: CloseCode, permit: OwnedSemaphorePermit) {
    drop(permit);
    close_now(ws, code).await;
}

fn close_frame(code: CloseCode) -> Message {
    Message::Close(Some(CloseFrame { code: code.code(), reason: code.reason().into() }))
}

async fn run(
    hub: Hub,
    ws: WebSocket,
    auth: Result<SocketAuth, CloseCode>,
    permit: Option<OwnedSemaphorePermit>,
    client: SocketClient,
) {
    let Some(permit) = permit else {
        metrics::counter!("tanis_ws_refused_total", "reason" => "overloaded").increment(1);
        return close_now(ws, CloseCode::Overloaded).await;
    };
    // Boxed: loading the user and the active match are large database futures; inline, they would size the
    // task that lives as long as the socket (BENCHMARKS.md, `connections`).
    let Some(Greeted { ws, user_id, socket, outbound, hello_sent, permit: _permit }) =
        Box::pin(greet(&hub, ws, auth, permit)).await
    else {
        return;
    };
    let mut unanswered_close = None;
    if hello_sent {
        let (sink, mut stream) = ws.split();
        let interval = Duration::from_millis(hub.inner.settings.hub.heartbeat_interval_ms);
        let writer =
            tokio::spawn(write_loop(sink, outbound, socket.closer.clone(), interval, hub.inner.loops.shutdown.clone()));
        let ctx = Ctx::new(hub.clone(), user_id, socket.clone(), client);
        let peer_closed = read_loop(
            ctx,
            &mut stream,
            &socket.closer,
            Duration::from_millis(hub.inner.settings.hub.heartbeat_timeout_ms),
        )
        .await;
        // Stop the writer: it sends a close frame only if a close code was chosen.
        socket.closer.token.cancel();
        if writer.await.unwrap_or(false) && !peer_closed {
            unanswered_close = Some(stream);
        }
    }
    hub.inner.services.delivery.unregister(user_id, socket.id);
    hub.matchmaker().socket_closed(user_id, socket.id).await;
    if !hub.inner.services.delivery.sockets().is_connected(user_id) {
        hub.inner.limiters.messages.forget(user_id);
        hub.inner.limiters.signals.forget(user_id);
        hub.inner.limiters.finds.forget(user_id);
        hub.inner.limiters.skips.forget(user_id);
    }
    // Last: the socket is already gone for the hub; only the connection waits for the peer's reply.
    if let Some(mut stream) = unanswered_close {
        await_close_reply(&mut stream).await;
    }
}

/// A socket past authentication: registered, and `hello` sent unless the peer was already gone.
struct Greeted {
    ws: WebSocket,
    user_id: UserId,
    socket: SocketHandle,
    outbound: mpsc::Receiver<Encoded>,
    hello_sent: bool,
    /// The socket's connection slot, held until the connection is gone.
    permit: OwnedSemaphorePermit,
}

/// Authenticates, registers the socket and sends `hello`. `None` when the socket was closed with a code instead.
async fn greet(
    hub: &Hub,
    mut ws: WebSocket,
    auth: Result<SocketAuth, CloseCode>,
    permit: OwnedSemaphorePermit,
) -> Option<Greeted> {
    let SocketAuth { user_id, login } = match auth {
        Ok(auth) => auth,
        Err(code) => {
            refuse(ws, code, permit).await;
            return None;
        }
    };
    let user = match hub.inner.services.store.user_by_id(user_id).await {
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
    let (socket, outbound) =
        hub.inner.services.delivery.register(user_id, login, hub.inner.settings.hub.outbound_queue);
    // Checked once registered: a sign-out committed after this read finds the socket and closes it; one
    // committed before it is seen here.
    if let Some(login) = login {
        let refused = match hub.inner.services.store.login_is_live(user_id, &login.to_string()).await {
            Ok(true) => None,
            Ok(false) => Some(CloseCode::InvalidToken),
            Err(e) => {
                tracing::error!(error = %e, "checking a connecting user's login");
                Some(CloseCode::GoingAway)
            }
        };
        if let Some(code) = refused {
            hub.inner.services.delivery.unregister(user_id, socket.id);
            refuse(ws, code, permit).await;
            return None;
        }
    }
    let active = hub.load_active(user_id).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "loading the active match");
        None
    });
    let hello = ServerFrame::Hello {
        protocol: PROTOCOL_VERSION,
        handle: handle(&user.alias, &user.tag),
        balances: quota::balances(&user),
        premium: user.is_premium,
        limits: hub.limits(),
        server_time: hub.inner.services.clock.now(),
        active_match: active.map(|a| a.info),
    };
    let hello_sent = ws.send(Message::Text(hello.to_json().into())).await.is_ok();
    Some(Greeted { ws, user_id, socket, outbound, hello_sent, permit })
}

/// Reads and handles frames until the socket's close is decided or the peer ends it; true when the peer did (its
/// close frame, the connection's end or a broken stream), so there is nothing left to read.
async fn read_loop(mut ctx: Ctx, stream: &mut SplitStream<WebSocket>, closer: &Closer, timeout: Duration) -> bool {
    loop {
        let next = tokio::select! {
            _ = closer.token.cancelled() => return false,
            next = tokio::time::timeout(timeout, stream.next()) => next,
        };
        match next {
            // Silent for the whole timeout although we pinged: the peer is gone.
            Err(_) => {
                closer.close(CloseCode::HeartbeatTimeout);
                return false;
            }
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(message))) => match message {
                // Boxed: the handling of a frame (database calls and all) is a large future, and inline it
                // would make every idle socket's task that large (see BENCHMARKS.md, `connections`).
                Message::Text(text) => Box::pin(dispatch::handle(&mut ctx, text.as_str())).await,
                Message::Binary(_) => Box::pin(ctx.binary_frame()).await,
                Message::Close(_) => return true,
                // Any frame proves liveness; tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) => {}
            },
        }
    }
}

/// How long a closing socket may take, from the moment its close is decided, to finish the frame it is writing,
/// write what was queued and send its close frame. The frames that explain a close (the error before 4004,
/// `match.ended` before 4003) are queued just before it, and a reader that keeps reading gets them in
/// milliseconds; the bound only stops a peer that has stopped reading from holding the task and its connection
/// slot: past it the connection is dropped without a close frame.
const FLUSH_BOUND: Duration = Duration::from_secs(2);

/// After our close frame, reads (and drops) what the peer sent until its close reply, within [`FLUSH_BOUND`]:
/// the closing handshake. Frames read here were never acknowledged, so dropping them loses nothing the client
/// saw accepted. Without this, closing a connection whose peer had frames in flight leaves unread bytes in the
/// kernel, which answers with a reset, and a reset can destroy our close frame before the peer reads it.
async fn await_close_reply(stream: &mut SplitStream<WebSocket>) {
    let drain = async {
        while let Some(Ok(message)) = stream.next().await {
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

/// Writes every frame queued so far (within [`FLUSH_BOUND`], kept by [`write_loop`]). The queue is closed first:
/// what is queued after the close was decided is not owed to the client (it stays stored for `resume` where it
/// matters).
async fn flush(sink: &mut SplitSink<WebSocket, Message>, outbound: &mut mpsc::Receiver<Encoded>) {
    outbound.close();
    while let Some(text) = outbound.recv().await {
        if sink.send(Message::Text(text.as_ref().into())).await.is_err() {
            return;
        }
    }
}

/// Most frames written with one flush.
const BURST: usize = 64;

/// Writes `first` and whatever else is already queued, then flushes once: a burst (a busy match, a resume)
/// costs one `write` instead of one per frame.
async fn write_burst(
    sink: &mut SplitSink<WebSocket, Message>,
    outbound: &mut mpsc::Receiver<Encoded>,
    first: Encoded,
) -> Result<(), axum::Error> {
    sink.feed(Message::Text(first.as_ref().into())).await?;
    for _ in 1..BURST {
        let Ok(text) = outbound.try_recv() else { break };
        sink.feed(Message::Text(text.as_ref().into())).await?;
    }
    sink.flush().await
}

async fn write_loop(
    sink: SplitSink<WebSocket, Message>,
    outbound: mpsc::Receiver<Encoded>,
    closer: Arc<Closer>,
    heartbeat: Duration,
    shutdown: CancellationToken,
) -> bool {
    // A peer that stopped reading blocks the write in progress, whether it is a burst written before the close
    // was decided, the flush or the close frame itself. So the bound is on everything after the decision: when it
    // runs out, the writer is dropped with the socket's write half, and the connection with it.
    let bound = async {
        tokio::select! {
            _ = closer.token.cancelled() => {}
            _ = shutdown.cancelled() => {}
        }
        tokio::time::sleep(FLUSH_BOUND).await;
    };
    let sent_close = tokio::select! {
        sent_close = write(sink, outbound, &closer, heartbeat, &shutdown) => sent_close,
        _ = bound => {
            metrics::counter!("tanis_ws_flush_timeouts_total").increment(1);
            false
        }
    };
    // However the writer ended, the reader must stop too.
    closer.token.cancel();
    sent_close
}

/// Writes until the socket's close; true when that close sent a close frame.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbound: mpsc::Receiver<Encoded>,
    closer: &Closer,
    heartbeat: Duration,
    shutdown: &CancellationToken,
) -> bool {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    loop {
        tokio::select! {
            biased;
            _ = closer.token.cancelled() => {
                if let Some(code) = closer.chosen() {
                    if flushes_before(code) {
                        flush(&mut sink, &mut outbound).await;
                    }
                    return sink.send(close_frame(code)).await.is_ok();
                }
                return false;
            }
            _ = shutdown.cancelled() => {
                flush(&mut sink, &mut outbound).await;
                return sink.send(close_frame(CloseCode::GoingAway)).await.is_ok();
            }
            frame = outbound.recv() => match frame {
                Some(text) => {
                    if write_burst(&mut sink, &mut outbound, text).await.is_err() {
                        return false;
                    }
                }
                None => return false,
            },
            _ = ticks.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return false;
                }
            }
        }
    }
}
