//! A rolling update with its real parts: three `tanis serve` processes on one PostgreSQL and Redis behind nginx
//! (the shipped `nginx/tanis-*.conf`), each stopped with SIGTERM and started again on its address, one at a time,
//! while pairs chat and one user waits for a match through it all. Clients only talk to nginx, and reconnect as
//! docs/protocol.md section 3 says (after 4010, a jittered delay: `tanis_client::reconnect_delay`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tanis::domain::Seq;
use tanis_client::{Chat, ClientError, Connection, Find, Identity, reconnect_delay};
use tanis_proto::{CloseCode, ErrorCode, MatchInfo, MatchKind, ServerFrame};
use tokio_util::sync::CancellationToken;

use crate::backup::stored;
use crate::helpers::{Backend, fresh_database_url};
use crate::nginx_cluster::{Nginx, Node, start_nginx, start_node_with};
use crate::redis_outage::reserve_port;

const WITHIN: Duration = Duration::from_secs(20);
/// Each node's drain: short for the test, long enough to see the closes spread over it.
const DRAIN: Duration = Duration::from_millis(3000);
/// A pair's sender writes about this often (under the per-user rate of 10 a second).
const PACE: Duration = Duration::from_millis(200);
const PAIRS: usize = 6;

/// A close a client saw, and when.
struct Closed {
    at: Instant,
    code: Option<u16>,
}

type Closes = Arc<Mutex<Vec<Closed>>>;

async fn start(dir: &std::path::Path, database_url: &str, namespace: &str, address: &str) -> Node {
    let drain = DRAIN.as_millis().to_string();
    start_node_with(dir, database_url, namespace, &[("TANIS_LISTEN", address), ("TANIS_HUB__DRAIN_MS", &drain)]).await
}

fn url(nginx_port: u16) -> String {
    format!("ws://127.0.0.1:{nginx_port}/v1/ws")
}

/// Records the close, waits as the protocol says for its code (a plain retry delay for the others), and connects
/// again through nginx, retrying while no node takes the socket; returns the socket and its `hello`.
async fn reconnect(nginx_port: u16, token: &str, code: Option<u16>, closes: &Closes) -> (Connection, ServerFrame) {
    closes.lock().unwrap().push(Closed { at: Instant::now(), code });
    tokio::time::sleep(reconnect_delay(code).unwrap_or(Duration::from_millis(200))).await;
    connect(nginx_port, token).await
}

/// Connects through nginx as an app does, trying again while no node takes the socket: in and for a few seconds
/// after a roll, nginx may hold every node down (each refused a connection while it restarted: `max_fails=1
/// fail_timeout=5s`) and answer 502.
async fn connect(nginx_port: u16, token: &str) -> (Connection, ServerFrame) {
    for _ in 0..100 {
        if let Ok(Ok(connected)) = tokio::time::timeout(WITHIN, Connection::connect(&url(nginx_port), token)).await {
            return connected;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no node took the socket again");
}

/// Messages each pair's sender has acknowledged at least, so that "nothing acknowledged was lost" is checked on
/// some: those sent through the roll, and after it if the roll left too few.
const LEAST_ACKNOWLEDGED: usize = 10;

/// Writes to the peer until `stop`, reconnecting whenever the server closes the socket, and on until at least
/// [`LEAST_ACKNOWLEDGED`] messages were acknowledged (how many fit in the roll depends on the machine's load and
/// the reconnections' jitter, not on the server's promise); returns the seqs the server acknowledged.
async fn send_until(
    nginx_port: u16,
    token: String,
    mut chat: Chat,
    stop: CancellationToken,
    closes: Closes,
) -> Vec<Seq> {
    let (mut socket, _) = Connection::connect(&url(nginx_port), &token).await.unwrap();
    let mut accepted = Vec::new();
    for i in 0.. {
        if stop.is_cancelled() && accepted.len() >= LEAST_ACKNOWLEDGED {
            break;
        }
        let sent = async {
            socket.send(&chat.message(&format!("mesaj {i}"))).await?;
            match socket
                .next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. }))
                .await?
            {
                ServerFrame::MsgAccepted { seq, .. } => Ok(seq),
                other => Err(ClientError::Unexpected(format!("{other:?}"))),
            }
        };
        match tokio::time::timeout(WITHIN, sent).await.expect("an acknowledgement or a close") {
            Ok(seq) => accepted.push(seq),
            // Unacknowledged: it may be stored or not, and is not counted either way.
            Err(ClientError::Closed { code, .. }) => (socket, _) = reconnect(nginx_port, &token, code, &closes).await,
            Err(other) => panic!("sending: {other}"),
        }
        tokio::time::sleep(PACE).await;
    }
    accepted
}

/// Reads whatever comes until `stop`, reconnecting whenever the server closes the socket (what the peer sent is
/// collected once the roll is over, with `resume`).
async fn read_until(nginx_port: u16, token: String, stop: CancellationToken, closes: Closes) {
    let (mut socket, _) = Connection::connect(&url(nginx_port), &token).await.unwrap();
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => return,
            frame = socket.next() => frame,
        };
        match frame {
            Ok(_) => {}
            Err(ClientError::Closed { code, .. }) => (socket, _) = reconnect(nginx_port, &token, code, &closes).await,
            Err(other) => panic!("reading: {other}"),
        }
    }
}

/// Waits for a match through every close: after each reconnect the find goes again with the same key (protocol.md,
/// `resync`: the place is kept), unless `hello` already names the match.
async fn wait_for_match(nginx_port: u16, token: String, closes: Closes) -> Chat {
    let (identity, find) = (Identity::generate(), Find::new(MatchKind::Text));
    let (mut socket, _) = Connection::connect(&url(nginx_port), &token).await.unwrap();
    loop {
        socket.send(&find.frame(Some("find".into()), identity.public_key_b64())).await.unwrap();
        let outcome: Result<MatchInfo, Option<u16>> = loop {
            match socket.next().await {
                Ok(ServerFrame::MatchFound { info, .. } | ServerFrame::Resync { active_match: Some(info) }) => {
                    break Ok(info);
                }
                Ok(ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. }) => {}
                Ok(ServerFrame::Error { code, .. }) => panic!("the find was refused: {code:?}"),
                Ok(_) => {}
                Err(ClientError::Closed { code, .. }) => break Err(code),
                Err(other) => {
                    eprintln!("waiting: {other}");
                    break Err(None);
                }
            }
        };
        match outcome {
            Ok(info) => return Chat::established(identity, info).unwrap(),
            Err(code) => {
                let hello;
                (socket, hello) = reconnect(nginx_port, &token, code, &closes).await;
                if let ServerFrame::Hello { active_match: Some(info), .. } = hello {
                    return Chat::established(identity, info).unwrap();
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_three_nodes_behind_nginx_one_at_a_time_under_load_loses_nothing_and_spreads_the_reconnections() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(Backend::Postgres, dir.path()).await;
    let namespace = format!("roll-{}", uuid::Uuid::new_v4().simple());
    let ports: Vec<_> = (0..3).map(|_| reserve_port()).collect();
    let addresses: Vec<String> = ports.iter().map(|(port, _)| format!("127.0.0.1:{port}")).collect();
    let mut nodes = Vec::new();
    for address in &addresses {
        nodes.push(start(dir.path(), &database_url, &namespace, address).await);
    }
    let nginx: Nginx = start_nginx(dir.path(), &nodes.iter().collect::<Vec<_>>()).await;
    let port = nginx.port;

    // Pairs matched one at a time (so that each pairs with its own), each writing one way while the other reads.
    let (stop, closes): (CancellationToken, Closes) = (CancellationToken::new(), Arc::default());
    let mut pairs = Vec::new();
    for p in 0..PAIRS {
        let ((_, a), (_, b)) = (nginx.user(&format!("yazan{p}")).await, nginx.user(&format!("okuyan{p}")).await);
        let ((mut sa, _), (mut sb, _)) =
            (Connection::connect(&url(port), &a).await.unwrap(), Connection::connect(&url(port), &b).await.unwrap());
        let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
        let (chat_a, chat_b) = (chat_a.unwrap(), chat_b.unwrap());
        assert_eq!(chat_a.info.match_id, chat_b.info.match_id);
        drop((sa, sb));
        let sending = tokio::spawn(send_until(port, a, chat_a, stop.clone(), closes.clone()));
        let reading = tokio::spawn(read_until(port, b.clone(), stop.clone(), closes.clone()));
        pairs.push((sending, reading, b, chat_b));
    }
    // One user waits for a match through the whole roll; another will come after it.
    let (_, waiter) = nginx.user("bekleyen").await;
    let (_, newcomer) = nginx.user("yeni").await;
    let waiting = tokio::spawn(wait_for_match(port, waiter, closes.clone()));

    // The roll: SIGTERM, the process's own exit, the node again on its address.
    let mut rolls = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        let pid = nodes[i].child.id().expect("a running node").to_string();
        let started = Instant::now();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = tokio::time::timeout(Duration::from_secs(60), nodes[i].child.wait())
            .await
            .expect("a node told to stop stops")
            .unwrap();
        assert!(status.success(), "a drained node exits 0: {status}");
        rolls.push((started, Instant::now()));
        nodes[i] = start(dir.path(), &database_url, &namespace, address).await;
    }
    stop.cancel();

    // Every close was a drain's: none cut off (1006), none a shutdown's 1001. Each node's sockets closed over its
    // drain time, not in one instant (the server spreads them; each client adds its jitter to reconnect).
    let closes = std::mem::take(&mut *closes.lock().unwrap());
    let t0 = rolls[0].0;
    for (started, exited) in &rolls {
        eprintln!("roll {:?}..{:?}", *started - t0, *exited - t0);
    }
    for c in &closes {
        eprintln!("close {:?} at {:?}", c.code, c.at.saturating_duration_since(t0));
    }
    assert!(closes.iter().all(|c| c.code == Some(CloseCode::Draining.code())), "{:?}", codes(&closes));
    let mut spread_seen = 0;
    for (started, exited) in &rolls {
        let during: Vec<Instant> =
            closes.iter().filter(|c| c.at >= *started && c.at <= *exited).map(|c| c.at).collect();
        if during.len() >= 3 {
            let spread = *during.iter().max().unwrap() - *during.iter().min().unwrap();
            assert!(spread >= DRAIN / 3, "{} closes within {spread:?} of a {DRAIN:?} drain", during.len());
            spread_seen += 1;
        }
    }
    // nginx balances by open connections, so how many sockets each node holds is its choice; the pairs' and the
    // waiter's sockets moved at least once between them.
    assert!(spread_seen > 0, "some node drained three sockets or more");
    assert!(closes.len() > PAIRS, "{} sockets moved", closes.len());

    // Nobody is left waiting in a queue no node serves: a newcomer is paired with the one who waited.
    let (mut socket, _) = connect(port, &newcomer).await;
    let found = tokio::time::timeout(WITHIN, Chat::find(&mut socket, MatchKind::Text)).await.unwrap().unwrap();
    let waited = tokio::time::timeout(WITHIN, waiting).await.expect("the waiter is paired").unwrap();
    assert_eq!(found.info.match_id, waited.info.match_id);

    // Every acknowledged message is stored and opens for its reader.
    for (sending, reading, token, mut chat) in pairs {
        reading.await.unwrap();
        let accepted = sending.await.unwrap();
        let (mut socket, _) = connect(port, &token).await;
        let read: Vec<Seq> = stored(&mut socket, &mut chat).await.into_iter().map(|(seq, _)| seq).collect();
        let lost: Vec<&Seq> = accepted.iter().filter(|seq| !read.contains(seq)).collect();
        assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    }
}

fn codes(closes: &[Closed]) -> Vec<Option<u16>> {
    closes.iter().map(|c| c.code).collect()
}
