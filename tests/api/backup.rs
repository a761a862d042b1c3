//! `tanis backup` as an operator runs it (docs/operations.md, "Backups"): the real binary copies a running server's
//! SQLite database and generated keys while two people chat; the copy, as a new data directory, starts a server on
//! which both sign in with their phone and password and every message acknowledged before the backup began is
//! there and opens for its reader. SQLite only: on PostgreSQL the command refuses, pointing at the database's own
//! tools (base backups and WAL archiving).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tanis::domain::Seq;
use tanis_client::{Chat, ClientError, Connection};
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

use crate::binary::{log_lines, tanis, wait_until_listening};
use crate::helpers::{Backend, PASSWORD, fresh_database_url, new_phone, registration};

pub(crate) const WITHIN: Duration = Duration::from_secs(20);

/// `tanis serve` on the data directory `data`, with no other setup (the embedded default); its address.
async fn serve(dir: &Path, data: &Path) -> (Child, String) {
    let mut command = tanis(dir);
    command.env("TANIS_DATA_DIR", data);
    serving(command).await
}

/// `command` (a `tanis` with its environment) serving; its address once it listens.
pub(crate) async fn serving(mut command: tokio::process::Command) -> (Child, String) {
    let mut child = command.arg("serve").spawn().unwrap();
    let mut logs = log_lines(&mut child);
    let address = wait_until_listening(&mut logs, &mut Vec::new()).await;
    // Keep reading its log, so that it never blocks on a full pipe.
    tokio::spawn(async move { while logs.recv().await.is_some() {} });
    (child, address)
}

pub(crate) async fn post(address: &str, path: &str, body: &Value) -> Value {
    let response = reqwest::Client::new().post(format!("http://{address}{path}")).json(body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

pub(crate) fn access(tokens: &Value) -> String {
    tokens["tokens"]["access_token"].as_str().unwrap().to_owned()
}

pub(crate) fn ws(address: &str) -> String {
    format!("ws://{address}/v1/ws")
}

/// Writes to the peer until `stop`; the seqs the server acknowledged, as they come.
async fn send_until(
    address: String,
    token: String,
    mut chat: Chat,
    stop: CancellationToken,
    acked: tokio::sync::mpsc::UnboundedSender<Seq>,
) {
    let (mut socket, _) = Connection::connect(&ws(&address), &token).await.unwrap();
    for i in 0.. {
        if stop.is_cancelled() {
            return;
        }
        socket.send(&chat.message(&format!("yedek {i}"))).await.unwrap();
        let answer = socket.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. }));
        match tokio::time::timeout(WITHIN, answer).await.expect("an acknowledgement") {
            Ok(ServerFrame::MsgAccepted { seq, .. }) => acked.send(seq).unwrap(),
            Ok(other) => panic!("refused: {other:?}"),
            Err(ClientError::Closed { .. }) => return,
            Err(other) => panic!("sending: {other}"),
        }
        // Under the per-user rate (10 a second).
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
}

/// Every message stored for the socket's user in the chat's match, read page by page with `resume`, each opened.
pub(crate) async fn stored(socket: &mut Connection, chat: &mut Chat) -> Vec<(Seq, String)> {
    let (match_id, mut after, mut read) = (chat.info.match_id, Seq(0), Vec::new());
    loop {
        socket.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: after }).await.unwrap();
        let before = read.len();
        loop {
            let frame = tokio::time::timeout(WITHIN, socket.next()).await.expect("resume answers").unwrap();
            match frame {
                ServerFrame::Msg { seq, .. } => {
                    read.push((seq, chat.read(&frame).expect("every stored message opens")));
                    after = seq;
                }
                ServerFrame::ResumeDone { .. } => break,
                _ => {}
            }
        }
        if read.len() == before {
            return read;
        }
    }
}

/// Two people registered on the server at `address` and matched, A writing to B on and on until stopped; B's socket
/// stays open meanwhile.
pub(crate) struct Writing {
    pub phone_a: String,
    pub phone_b: String,
    /// B's side of the match, to open what a later `resume` reads.
    pub chat_b: Chat,
    _reader: Connection,
    halt: CancellationToken,
    acks: tokio::sync::mpsc::UnboundedReceiver<Seq>,
    writer: tokio::task::JoinHandle<()>,
}

impl Writing {
    pub(crate) async fn start(address: &str) -> Writing {
        let (phone_a, phone_b) = (new_phone(), new_phone());
        let a = access(&post(address, "/v1/auth/register", &registration(&phone_a, "yazan")).await);
        let b = access(&post(address, "/v1/auth/register", &registration(&phone_b, "okuyan")).await);
        let ((mut sa, _), (mut sb, _)) = (
            Connection::connect(&ws(address), &a).await.unwrap(),
            Connection::connect(&ws(address), &b).await.unwrap(),
        );
        let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
        let (chat_a, chat_b) = (chat_a.unwrap(), chat_b.unwrap());
        drop(sa);
        let (stop, (acked, acks)) = (CancellationToken::new(), tokio::sync::mpsc::unbounded_channel());
        let writer = tokio::spawn(send_until(address.to_owned(), a, chat_a, stop.clone(), acked));
        Writing { phone_a, phone_b, chat_b, _reader: sb, halt: stop, acks, writer }
    }

    /// The next message the server acknowledged to A.
    pub(crate) async fn acknowledged(&mut self) -> Seq {
        tokio::time::timeout(WITHIN, self.acks.recv()).await.unwrap().unwrap()
    }

    /// Stops A and returns the acknowledgements not yet taken.
    pub(crate) async fn stop(mut self) -> (Vec<Seq>, Chat) {
        self.halt.cancel();
        self.writer.await.unwrap();
        let mut rest = Vec::new();
        while let Ok(seq) = self.acks.try_recv() {
            rest.push(seq);
        }
        (rest, self.chat_b)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_writes_restores_into_a_new_data_directory_with_every_account_and_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let (live_data, copy) = (dir.path().join("data"), dir.path().join("yedek"));
    let (mut live, address) = serve(dir.path(), &live_data).await;
    // A writes on while the backup runs; what was acknowledged before it began must be in the copy.
    let mut writing = Writing::start(&address).await;
    let mut before_backup = Vec::new();
    while before_backup.len() < 20 {
        before_backup.push(writing.acknowledged().await);
    }
    let backup = tanis(dir.path()).env("TANIS_DATA_DIR", &live_data).arg("backup").arg(&copy).output();
    let backup = tokio::time::timeout(Duration::from_secs(60), backup).await.unwrap().unwrap();
    assert!(backup.status.success(), "tanis backup: {}", String::from_utf8_lossy(&backup.stderr));
    let (phone_a, phone_b) = (writing.phone_a.clone(), writing.phone_b.clone());
    // Counted up to A's stop, the one in flight then included: only printed.
    let (during, mut chat_b) = writing.stop().await;
    let during = during.len();
    live.kill().await.unwrap();

    // The copy is a data directory: the database and the keys generated beside it, owner-only.
    use std::os::unix::fs::PermissionsExt;
    for file in ["tanis.db", "jwt_secret", "turn_secret", "phone_encryption_key", "phone_index_key"] {
        assert!(copy.join(file).exists(), "{file} is in the backup");
    }
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o700);
    // The database too, whatever the umask (issue 77 point 6: it was the process's, 0644 here).
    for file in ["tanis.db", "phone_index_key"] {
        assert_eq!(std::fs::metadata(copy.join(file)).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
    }

    // Restored: a server on (a copy of) the backup; both sign in by phone, and B reads everything A was told was
    // stored before the backup began.
    let (_restored, address) = serve(dir.path(), &copy).await;
    let login = |phone: &str| json!({ "phone": phone, "password": PASSWORD });
    let _a = access(&post(&address, "/v1/auth/login", &login(&phone_a)).await);
    let b = access(&post(&address, "/v1/auth/login", &login(&phone_b)).await);
    let (mut sb, _) = Connection::connect(&ws(&address), &b).await.unwrap();
    let read: Vec<Seq> = stored(&mut sb, &mut chat_b).await.into_iter().map(|(seq, _)| seq).collect();
    let lost: Vec<&Seq> = before_backup.iter().filter(|seq| !read.contains(seq)).collect();
    assert!(lost.is_empty(), "acknowledged before the backup and missing from it: {lost:?} (read {read:?})");
    eprintln!(
        "{} acknowledged before the backup, {during} while it ran; {} in the copy",
        before_backup.len(),
        read.len()
    );

    // A second backup into the same directory is refused: a backup never overwrites one.
    let again = tanis(dir.path()).env("TANIS_DATA_DIR", &live_data).arg("backup").arg(&copy).output().await.unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[tokio::test]
async fn on_postgresql_the_backup_command_refuses_and_names_the_procedure() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(Backend::Postgres, dir.path()).await;
    let mut command = tanis(dir.path());
    crate::binary::secrets_for(Backend::Postgres, &mut command);
    let output = command.env("TANIS_DATABASE_URL", url).arg("backup").arg(dir.path().join("yedek")).output().await;
    let output = output.unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("base backups with WAL archiving"), "{said}");
    assert!(!dir.path().join("yedek").exists(), "nothing written");
}
