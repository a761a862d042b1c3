//! Reads the rest of a request body a handler refused, so the client gets its answer instead of a broken pipe.
//!
//! A body over its route's limit is refused (`413 payload_too_large`) as soon as the limit is passed, and the
//! handler drops the rest unread. hyper then closes the connection while the client is still writing: its write
//! fails (`EPIPE`, or `ECONNRESET` when the kernel resets a socket closed with unread bytes), and most HTTP clients
//! report that failure instead of the 413 that was already sent. A phone uploading a call report snapshot a little
//! too large would see "connection lost" and retry the same upload. So a body dropped before its end is read to its
//! end in the background and thrown away, within bounds that keep this cheap for the server: at most
//! [`DRAIN_BYTES`], and only while the client keeps sending (a gap of [`DRAIN_IDLE`] ends it, as does
//! [`DRAIN_TIME`] in all). Past them the connection is closed as before.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use futures_util::StreamExt;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// The most of a refused body read and thrown away: a few times the largest route limit (a call report's
/// snapshot, about 365 KiB).
const DRAIN_BYTES: usize = 2 * 1024 * 1024;
/// How long the client may pause while the rest is read.
const DRAIN_IDLE: Duration = Duration::from_secs(2);
/// How long the rest is read in all.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// `map_request` middleware: the handler gets the same body, which drains itself if dropped before its end.
pub async fn on_drop(request: Request) -> Request {
    request.map(|body| Body::new(Draining(Some(body))))
}

struct Draining(Option<Body>);

impl HttpBody for Draining {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.0.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0.as_ref().map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        let Some(body) = self.0.take() else { return };
        if body.is_end_stream() {
            return;
        }
        // Outside a runtime (a test building a request by hand) there is no connection to keep.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(DRAIN_TIME, read_and_discard(body)).await;
        });
    }
}

async fn read_and_discard(body: Body) {
    let mut chunks = body.into_data_stream();
    let mut read = 0usize;
    while read < DRAIN_BYTES {
        match tokio::time::timeout(DRAIN_IDLE, chunks.next()).await {
            Ok(Some(Ok(chunk))) => read += chunk.len(),
            // The end, a broken body, or a client that stopped sending.
            _ => return,
        }
    }
}
