//! A node's holds in the cluster's queue, gathered: every seeker this node's sockets send while a [`HOLD`](super::scripts::places::HOLD) script is
//! in flight goes in the next one. A find needs its hold answered before it may be paired, so each find used to
//! cost one script of its own: two per match, of the ~2.4 scripts a match cost (BENCHMARKS.md, issue 63 point 5).
//! Under load a script now holds every seeker that arrived during the previous round trip; alone, a seeker waits
//! for nothing but its own. The script holds them in the order they came, as separate scripts would have.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::RedisResult;
use tokio::sync::{mpsc, oneshot};

use super::scripts::Scripts;
use crate::redis_link::Conn;

/// The most seekers one script holds: Redis runs nothing else while a script runs.
const MOST: usize = 256;

/// One seeker to hold: the user, their socket's entry prefix and their JSON, and where the answer goes.
struct Asked {
    user: i64,
    prefix: String,
    json: String,
    answer: oneshot::Sender<RedisResult<i64>>,
}

/// The sending side of this node's hold task; the task ends when every clone is dropped.
#[derive(Clone)]
pub(super) struct Holds {
    asks: mpsc::UnboundedSender<Asked>,
    /// Scripts sent so far: what gathering saves is seen in a test.
    #[cfg_attr(not(test), allow(dead_code))]
    scripts: Arc<AtomicU64>,
}

impl Holds {
    /// Starts the task that holds this node's seekers on `conn`.
    pub(super) fn start(conn: Conn, calls: Scripts) -> Self {
        let (asks, asked) = mpsc::unbounded_channel();
        let scripts = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(asked, conn, calls, scripts.clone()));
        Self { asks, scripts }
    }

    #[cfg(test)]
    pub(super) fn scripts(&self) -> u64 {
        self.scripts.load(Ordering::Relaxed)
    }

    /// Holds one seeker; answers [`HOLD`](super::scripts::places::HOLD)'s code for them.
    pub(super) async fn hold(&self, user: i64, prefix: String, json: String) -> RedisResult<i64> {
        let (answer, answered) = oneshot::channel();
        let gone = || redis::RedisError::from((redis::ErrorKind::Io, "the node's hold task has ended"));
        self.asks.send(Asked { user, prefix, json, answer }).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn run(mut asked: mpsc::UnboundedReceiver<Asked>, conn: Conn, calls: Scripts, scripts: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MOST);
    while asked.recv_many(&mut batch, MOST).await > 0 {
        scripts.fetch_add(1, Ordering::Relaxed);
        let taken =
            batch.iter_mut().map(|ask| (ask.user, std::mem::take(&mut ask.prefix), std::mem::take(&mut ask.json)));
        let call = calls.hold(taken);
        let codes: RedisResult<Vec<i64>> = call.invoke(&mut conn.clone()).await;
        match codes {
            Ok(codes) if codes.len() == batch.len() => {
                for (ask, code) in batch.drain(..).zip(codes) {
                    let _ = ask.answer.send(Ok(code));
                }
            }
            Ok(_) => answer_all(&mut batch, (redis::ErrorKind::Parse, "HOLD answered a different count").into()),
            Err(e) => answer_all(&mut batch, e),
        }
    }
}

fn answer_all(batch: &mut Vec<Asked>, error: redis::RedisError) {
    for ask in batch.drain(..) {
        let _ = ask.answer.send(Err(error.clone()));
    }
}
