//! What a node of the previous release wrote to Redis, as captured beside a node of this version (README.md
//! here), with what varies from run to run masked: read back, filled with a test's own values and done again as
//! that node did it, and compared with what this version writes. tests/api/cluster_wire.rs declares it; its
//! tests play that release's node with it (the helpers at the end: a node of this version beside it, the queue
//! and presence as they read them, and what is published to it).

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tanis::domain::UserId;
use tanis_proto::{ClientFrame, MatchKind};

use super::WITHIN;
use crate::helpers::{Backend, TestApp, eventually, shared_secrets, spawn_app_with, test_redis_url};

/// The release captured: the parent of the commit that brought envelopes (f5de643).
pub const COMMIT: &str = "1ec898c2411568d1436037989f946da468b13bc9";

/// tests/api/fixtures/wire/, where the capture is kept.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/fixtures/wire")
}

/// One thing the previous release's node did in Redis during one step of the captured exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub step: String,
    #[serde(flatten)]
    pub wrote: Wrote,
}

/// What it did, by the fields of its line in `previous-release.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Wrote {
    /// One of its scripts (`scripts/<name>.lua`) run with these keys and arguments (`EVALSHA`).
    Script { script: String, keys: Vec<String>, args: Vec<String> },
    /// A message Redis published for it: from its routing script, or its own `PUBLISH`.
    Publish { publish: String, payload: String },
    /// Any other command.
    Command { command: Vec<String> },
}

impl Record {
    /// The name of the script it ran, if it ran one.
    pub fn script(&self) -> Option<&str> {
        match &self.wrote {
            Wrote::Script { script, .. } => Some(script),
            _ => None,
        }
    }

    /// The seq of the message it carries, if it carries one (in a frame carried as a string: `\"seq\":<n>`).
    fn seq(&self) -> Option<i64> {
        let texts: Vec<&String> = match &self.wrote {
            Wrote::Script { args, .. } => args.iter().collect(),
            Wrote::Publish { payload, .. } => vec![payload],
            Wrote::Command { command } => command.iter().collect(),
        };
        let rest = texts.iter().find_map(|t| t.split_once(r#"\"seq\":"#).map(|(_, rest)| rest))?;
        rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
    }
}

/// The captured exchange and the previous release's scripts.
pub struct Capture {
    records: Vec<Record>,
    scripts: HashMap<String, String>,
}

impl Capture {
    pub fn load() -> Self {
        let text = std::fs::read_to_string(fixtures().join("previous-release.jsonl")).expect("the capture");
        let records = text.lines().map(|line| serde_json::from_str(line).expect(line)).collect();
        let mut scripts = HashMap::new();
        for entry in std::fs::read_dir(fixtures().join("scripts")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            scripts.insert(name, std::fs::read_to_string(&path).unwrap());
        }
        Self { records, scripts }
    }

    /// What the node did during `step`, in order.
    pub fn step<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.step == step)
    }

    /// The payloads it published during `step`, in order.
    pub fn published<'a>(&'a self, step: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.step(step).filter_map(|r| match &r.wrote {
            Wrote::Publish { publish, payload } => Some((publish.as_str(), payload.as_str())),
            _ => None,
        })
    }

    /// The script of this name, as the previous release loaded it.
    pub fn script(&self, name: &str) -> redis::Script {
        redis::Script::new(self.scripts.get(name).unwrap_or_else(|| panic!("no script {name} captured")))
    }

    /// Does in Redis, through `conn`, what the node did during `step`, as it did it (its scripts and commands,
    /// with `run`'s values and `values`' for each record): what Redis published for it follows from them.
    pub async fn replay(
        &self,
        step: &str,
        conn: &mut tanis::redis_link::Conn,
        run: &Run,
        values: impl Fn(&Record) -> Values,
    ) {
        self.replay_where(step, |_| true, conn, run, values).await;
    }

    /// [`Capture::replay`] of the records `which` takes.
    pub async fn replay_where(
        &self,
        step: &str,
        which: impl Fn(&Record) -> bool,
        conn: &mut tanis::redis_link::Conn,
        run: &Run,
        values: impl Fn(&Record) -> Values,
    ) {
        for record in self.step(step).filter(|r| which(r)) {
            let values = values(record);
            match &record.wrote {
                Wrote::Script { script, keys, args } => {
                    let script = self.script(script);
                    let mut invocation = script.prepare_invoke();
                    for key in keys {
                        invocation.key(run.fill(key, &values));
                    }
                    for arg in args {
                        invocation.arg(run.fill(arg, &values));
                    }
                    let _: redis::Value = invocation.invoke_async(conn).await.unwrap();
                }
                Wrote::Command { command } => {
                    let mut cmd = redis::cmd(&command[0]);
                    for arg in &command[1..] {
                        cmd.arg(run.fill(arg, &values));
                    }
                    let _: redis::Value = cmd.query_async(conn).await.unwrap();
                }
                // What Redis published for its scripts, or its own `PUBLISH`es (it made none).
                Wrote::Publish { .. } => {}
            }
        }
    }
}

/// A name as a node of the previous release gave itself: 16 hex digits, no `v2.`.
pub fn node_name() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The values of a payload made `at` (the server's clock) and now (Redis's scores, wall-clock milliseconds).
pub fn now(at: DateTime<Utc>) -> Values {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    Values::from([
        ("now-ms", ms.to_string()),
        ("expires-ms", (ms + 30_000).to_string()),
        ("queued_at", time(at)),
        ("opened_at", time(at)),
        ("sent_at", time(at)),
        ("expires_at", time(at + chrono::TimeDelta::hours(24))),
    ])
}

/// `values` and those of the message `record` carries: one of `sent` (`msg.send` frames), by its seq.
pub fn message(mut values: Values, record: &Record, sent: &[ClientFrame]) -> Values {
    let Some(seq) = record.seq() else { return values };
    let ClientFrame::MsgSend { ciphertext, nonce, commitment, .. } = &sent[seq as usize - 1] else {
        unreachable!("messages are msg.send frames")
    };
    values.extend([("ciphertext", ciphertext.clone()), ("nonce", nonce.clone()), ("commitment", commitment.clone())]);
    values
}

/// That release's node holding the matchmaker lease: taken with its script, and renewed with it every third
/// of the lease, as its election did, until dropped.
pub struct Holding {
    pub epoch: i64,
    renewal: tokio::task::JoinHandle<()>,
}

impl Holding {
    pub async fn take(capture: &Capture, run: &Run) -> Self {
        let record = capture.step("start").find(|r| r.script() == Some("acquire")).expect("the capture's lease");
        let Wrote::Script { keys, args, .. } = &record.wrote else { unreachable!() };
        let none = Values::new();
        let keys: Vec<String> = keys.iter().map(|k| run.fill(k, &none)).collect();
        let args: Vec<String> = args.iter().map(|a| run.fill(a, &none)).collect();
        let lease = std::time::Duration::from_millis(args[1].parse().unwrap());
        let script = capture.script("acquire");
        let acquire = move |mut conn: tanis::redis_link::Conn| {
            let (script, keys, args) = (script.clone(), keys.clone(), args.clone());
            async move {
                let mut invocation = script.prepare_invoke();
                for key in &keys {
                    invocation.key(key);
                }
                for arg in &args {
                    invocation.arg(arg);
                }
                invocation.invoke_async::<(String, i64, String)>(&mut conn).await.unwrap()
            }
        };
        let conn = crate::helpers::redis_at(&crate::helpers::test_redis_url()).await;
        let (holder, epoch, _) = acquire(conn.clone()).await;
        assert_eq!(holder, run.sender, "the previous release's node takes the lease");
        let renewal = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(lease / 3);
            loop {
                ticks.tick().await;
                acquire(conn.clone()).await;
            }
        });
        Self { epoch, renewal }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// One user of a run, as it appears between nodes.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub user: i64,
    /// The socket that asks and sends (queue entries and answers name it).
    pub socket: u64,
    /// Their X25519 key for the match.
    pub key: String,
    /// `alias#tag`.
    pub handle: String,
}

/// What differs from one run to another, named by the part it plays as the publishing node sees it: `here`
/// is the user whose sockets are on it, `there` the user on the node it publishes to.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub namespace: String,
    pub sender: String,
    pub receiver: String,
    pub here: Side,
    pub there: Side,
    pub match_id: i64,
}

/// Values of one payload that a run does not fix: a message's ciphertext, the times.
pub type Values = HashMap<&'static str, String>;

/// Keys whose values are opaque or a time: masked by the key's name.
const BY_NAME: [&str; 9] =
    ["ciphertext", "nonce", "commitment", "sent_at", "expires_at", "opened_at", "queued_at", "server_time", "at"];

impl Run {
    fn user(&self, id: &str) -> Option<&'static str> {
        [(self.here.user, "here"), (self.there.user, "there")]
            .into_iter()
            .find(|(u, _)| u.to_string() == id)
            .map(|(_, r)| r)
    }

    fn socket(&self, id: &str) -> Option<&'static str> {
        [(self.here.socket, "here.socket"), (self.there.socket, "there.socket")]
            .into_iter()
            .find(|(s, _)| s.to_string() == id)
            .map(|(_, r)| r)
    }

    fn key(&self, key: &str) -> Option<&'static str> {
        [(&self.here.key, "here.key"), (&self.there.key, "there.key")]
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r)
    }

    fn handle(&self, handle: &str) -> Option<&'static str> {
        [(&self.here.handle, "here.handle"), (&self.there.handle, "there.handle")]
            .into_iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, r)| r)
    }

    /// The placeholder of the value of `key` in a payload: `<?what:value>` for a value of a known kind that plays
    /// no known part (the capture refuses those, a comparison shows them).
    fn placeholder(&self, key: &str, value: &str, string: bool) -> Option<String> {
        let part = |found: Option<&str>, what: &str| {
            Some(found.map_or_else(|| format!("<?{what}:{value}>"), |part| format!("<{part}>")))
        };
        match key {
            "user_id" | "User" | "peer_id" if !string => part(self.user(value), "user"),
            "session_id" if !string => part(self.socket(value), "socket"),
            "match_id" if !string => part((value == self.match_id.to_string()).then_some("match"), "match"),
            "public_key" | "peer_public_key" if string => part(self.key(value), "key"),
            "peer" | "handle" if string => part(self.handle(value), "handle"),
            key if string && BY_NAME.contains(&key) => Some(format!("<{key}>")),
            _ => None,
        }
    }

    /// `text` with what differs between runs replaced by the part it plays: the namespace, the two nodes' names,
    /// and in JSON (or JSON carried in a JSON string) every value of the keys [`Run::placeholder`] knows.
    /// Every other byte stays as it is, so two payloads of the same shape mask to the same text.
    pub fn mask(&self, text: &str) -> String {
        let text = text
            .replace(&self.namespace, "<ns>")
            .replace(&self.sender, "<sender>")
            .replace(&self.receiver, "<receiver>");
        let b = text.as_bytes();
        let (mut out, mut copied, mut i) = (String::with_capacity(text.len()), 0, 0);
        while i < b.len() {
            // A key: `"name":`, or `\"name\":` in JSON carried in a string.
            let quote: &[u8] = if b[i..].starts_with(b"\\\"") {
                b"\\\""
            } else if b[i] == b'"' {
                b"\""
            } else {
                i += 1;
                continue;
            };
            let name = i + quote.len();
            let name_end = name + b[name..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            if name_end == name || !b[name_end..].starts_with(quote) || b.get(name_end + quote.len()) != Some(&b':') {
                i += quote.len();
                continue;
            }
            let value = name_end + quote.len() + 1;
            let string = b[value..].starts_with(quote);
            let (start, end) = if string {
                let start = value + quote.len();
                let len = (start..b.len())
                    .find(|&j| b[j..].starts_with(quote) && (quote.len() == 2 || b[j - 1] != b'\\'))
                    .map_or(b.len() - start, |j| j - start);
                (start, start + len)
            } else {
                let len = b[value..].iter().take_while(|c| c.is_ascii_alphanumeric() || b"-+.".contains(c)).count();
                (value, value + len)
            };
            match self.placeholder(&text[name..name_end], &text[start..end], string) {
                Some(placeholder) => {
                    out.push_str(&text[copied..start]);
                    out.push_str(&placeholder);
                    copied = end;
                    i = end;
                }
                // Not a value to mask: what follows (a string of JSON, an object) is looked into.
                None => i = value,
            }
        }
        out.push_str(&text[copied..]);
        out
    }

    /// The same run seen from the other node: the node it publishes to publishing, the parts swapped.
    pub fn mirrored(&self) -> Self {
        Self {
            sender: self.receiver.clone(),
            receiver: self.sender.clone(),
            here: self.there.clone(),
            there: self.here.clone(),
            ..self.clone()
        }
    }

    /// A user id by the part its user plays.
    pub fn mask_user(&self, id: &str) -> String {
        self.user(id).map_or_else(|| format!("<?user:{id}>"), |part| format!("<{part}>"))
    }

    /// A key or channel name: the namespace and node names, and a user id ending it (`…:presence:<user>`).
    pub fn mask_key(&self, key: &str) -> String {
        let key = self.mask(key);
        match key.rsplit_once(':') {
            Some((prefix, last)) if last.parse::<i64>().is_ok() => format!("{prefix}:{}", self.mask_user(last)),
            _ => key,
        }
    }

    /// A queue entry, `<socket>|<seeker>`, or the prefix of one (`<socket>|`).
    pub fn mask_entry(&self, entry: &str) -> String {
        match entry.split_once('|') {
            Some((socket, rest)) => {
                let part = self.socket(socket).map_or_else(|| format!("<?socket:{socket}>"), |p| format!("<{p}>"));
                format!("{part}|{}", self.mask(rest))
            }
            None => self.mask(entry),
        }
    }

    /// `text` (masked) with this run's values, and `values`' for the placeholders a run does not fix.
    pub fn fill(&self, text: &str, values: &Values) -> String {
        let mut filled = text
            .replace("<ns>", &self.namespace)
            .replace("<sender>", &self.sender)
            .replace("<receiver>", &self.receiver)
            .replace("<here>", &self.here.user.to_string())
            .replace("<there>", &self.there.user.to_string())
            .replace("<here.socket>", &self.here.socket.to_string())
            .replace("<there.socket>", &self.there.socket.to_string())
            .replace("<here.key>", &self.here.key)
            .replace("<there.key>", &self.there.key)
            .replace("<here.handle>", &self.here.handle)
            .replace("<there.handle>", &self.there.handle)
            .replace("<match>", &self.match_id.to_string());
        for (name, value) in values {
            filled = filled.replace(&format!("<{name}>"), value);
        }
        assert!(!has_placeholder(&filled), "a placeholder left unfilled: {filled}");
        filled
    }
}

/// Whether `text` still holds a `<name>` placeholder.
fn has_placeholder(text: &str) -> bool {
    text.match_indices('<').any(|(i, _)| {
        let rest = &text[i + 1..];
        let name = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || "._-?:".contains(*c)).count();
        name > 0 && rest[name..].starts_with('>')
    })
}

/// A node of this version in the cluster `namespace`, as one of the previous release in it needs: every seeker
/// handed to the elected matchmaker at once (`cluster.local_pairing_ms = 0`: that release cannot read a seeker a
/// node held first, src/config/cluster.rs).
pub async fn this_version_in(namespace: &str) -> TestApp {
    spawn_app_with(Backend::Postgres, |c| {
        c.redis_url = Some(test_redis_url());
        c.cluster.namespace = namespace.to_owned();
        c.cluster.local_pairing_ms = 0;
        shared_secrets(c);
    })
    .await
}

/// The name of the node holding the user's sockets, from their presence.
pub async fn node_holding(redis: &mut tanis::redis_link::Conn, namespace: &str, user: UserId) -> String {
    let (key, nodes) = (format!("{namespace}:presence:{user}"), std::sync::Mutex::new(Vec::new()));
    eventually(WITHIN, "the user's presence names their node", || {
        let (mut conn, key, nodes) = (redis.clone(), key.clone(), &nodes);
        async move {
            let found: Vec<String> =
                redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
            *nodes.lock().unwrap() = found;
            !nodes.lock().unwrap().is_empty()
        }
    })
    .await;
    nodes.into_inner().unwrap().remove(0)
}

/// The user's entry in the cluster's queue, once it is there.
pub async fn queue_entry(redis: &mut tanis::redis_link::Conn, namespace: &str, user: UserId) -> String {
    let (queue, entry) = (format!("{namespace}:mm:queue"), std::sync::Mutex::new(None));
    eventually(WITHIN, "the user waits in the cluster's queue", || {
        let (mut conn, queue, entry) = (redis.clone(), queue.clone(), &entry);
        async move {
            let found: Option<String> =
                redis::cmd("HGET").arg(&queue).arg(user.get()).query_async(&mut conn).await.unwrap();
            let waits = found.is_some();
            *entry.lock().unwrap() = found;
            waits
        }
    })
    .await;
    entry.into_inner().unwrap().unwrap()
}

/// The last record of the matchmaker's input stream.
pub async fn last_input(redis: &mut tanis::redis_link::Conn, namespace: &str) -> String {
    let input = format!("{namespace}:mm:input");
    let last: Vec<(String, Vec<(String, String)>)> =
        redis::cmd("XREVRANGE").arg(&input).arg("+").arg("-").arg("COUNT").arg(1).query_async(redis).await.unwrap();
    last.into_iter().next().expect("an input record").1.remove(0).1
}

/// A message `here`'s user sent there, as that node's writer stored it.
pub fn stored_as_sent(run: &Run, message: &ClientFrame) -> tanis::store::NewMessage {
    use base64::Engine;
    let ClientFrame::MsgSend { match_id, client_msg_id, ciphertext, nonce, commitment, .. } = message else {
        unreachable!()
    };
    let commitment = base64::engine::general_purpose::STANDARD.decode(commitment).unwrap();
    tanis::store::NewMessage {
        match_id: *match_id,
        sender_id: UserId(run.here.user),
        receiver_id: UserId(run.there.user),
        client_msg_id: client_msg_id.clone(),
        content: ciphertext.clone(),
        nonce: nonce.clone(),
        commitment: commitment.try_into().unwrap(),
        device_info: None,
        connection_type: MatchKind::Text,
    }
}

/// What is published on the channels a node of the previous release listens on (its own and everyone's).
pub struct Listening {
    heard: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    channel: String,
}

impl Listening {
    pub async fn on(namespace: &str, node: &str) -> Self {
        let channel = format!("{namespace}:node:{node}");
        let mut pubsub = redis::Client::open(test_redis_url()).unwrap().get_async_pubsub().await.unwrap();
        pubsub.subscribe(&[channel.clone(), format!("{namespace}:everyone")]).await.unwrap();
        let (tx, heard) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = pubsub.on_message();
            while let Some(message) = futures_util::StreamExt::next(&mut messages).await {
                let payload = String::from_utf8(message.get_payload_bytes().to_vec()).unwrap();
                if tx.send((message.get_channel_name().to_owned(), payload)).is_err() {
                    return;
                }
            }
        });
        Self { heard, channel }
    }

    async fn next(&mut self) -> (String, String) {
        tokio::time::timeout(WITHIN, self.heard.recv()).await.expect("a publish in time").unwrap()
    }

    /// As many publishes as the previous release made during `step` of the capture (but for its answers to its
    /// own sockets, which it published to every node of their user and this version keeps at home), each equal,
    /// masked as `run` sees them, to one of them.
    /// Returns what it heard, as it was published.
    pub async fn as_the_previous_version_published(
        &mut self,
        capture: &Capture,
        step: &str,
        run: &Run,
    ) -> Vec<(String, String)> {
        let answers_at_home = r#"{"Frame":{"to":{"Session":{"user_id":<here>,"session_id":<here.socket>}}"#;
        let mut expected: Vec<String> = capture
            .published(step)
            .filter(|(_, payload)| !payload.starts_with(answers_at_home))
            .map(|(channel, payload)| format!("{channel} {payload}"))
            .collect();
        // As many as it published, or fewer (a missing one, or several in one envelope) once none comes in time.
        let mut heard = Vec::new();
        while heard.len() < expected.len() {
            match tokio::time::timeout(WITHIN, self.heard.recv()).await {
                Ok(Some(message)) => heard.push(message),
                _ => break,
            }
        }
        let mut masked: Vec<String> = heard
            .iter()
            .map(|(channel, payload)| format!("{} {}", run.mask_key(channel), without_additions(&run.mask(payload))))
            .collect();
        expected.sort();
        masked.sort();
        assert_eq!(masked, expected, "{step}: what this node published to the previous release's node");
        heard
    }

    /// Nothing was published to it but what the steps expected: a mark published now is the next thing heard.
    pub async fn nothing_else(&mut self, redis: &mut tanis::redis_link::Conn) {
        let _: i64 = redis::cmd("PUBLISH").arg(&self.channel).arg("mark").query_async(redis).await.unwrap();
        assert_eq!(self.next().await, (self.channel.clone(), "mark".to_owned()));
    }
}

/// `payload` without what this release adds to an event, which the previous release's serde skips when it reads it
/// (its `Event` does not deny unknown fields), once checked that each is a number: `MatchOpened`'s
/// `"matches_opened":<count>` (issue 74), a conversation frame's `"of_match":<match id>` and a message's
/// `"seq":<seq>`, and `MatchEnded`'s `"last":<seq>` (issue 75).
fn without_additions(payload: &str) -> String {
    let mut out = payload.to_owned();
    for field in [r#","matches_opened":"#, r#","of_match":"#, r#","seq":"#, r#","last":"#] {
        let mut parts = out.split(field);
        let mut kept = parts.next().unwrap_or_default().to_owned();
        for rest in parts {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            assert!(end > 0 && (rest[end..].starts_with(',') || rest[end..].starts_with('}')), "a number: {payload}");
            kept.push_str(&rest[end..]);
        }
        out = kept;
    }
    out
}
