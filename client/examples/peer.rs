//! A scriptable chat peer on the reference client: signs in (registering first if the account does not exist),
//! asks for a text match, then prints one JSON line on stdout for everything that happens and sends every line
//! read from stdin as an end-to-end encrypted message. The browser tests (tests/browser) talk to it to prove the
//! web client and this crate interoperate; it is also a small, complete example of the protocol.
//!
//! ```text
//! cargo run -p tanis-client --example peer -- --url http://127.0.0.1:8080 --phone +905321234567 \
//!     --password 'correct horse battery' --alias rustpeer
//! {"event":"ready","handle":"rustpeer#0412"}
//! {"event":"matched","match_id":7,"peer":"ayse#9133","initiator":false,"safety_number":"80642 16878 …"}
//! {"event":"message","seq":1,"text":"merhaba"}
//! ```
//!
//! Events: `ready`, `queued`, `matched`, `message` (decrypted and its franking commitment checked, with its
//! `seq`), `undecryptable` (either check failed), `accepted`, `delivered`, `typing`, `ended`, `contact_proposed`,
//! `contact_added`, `contact_key`, `rekeyed`, `contact_ended`, `ok`, `error` (both with the request's `id`). A
//! line beginning with `/` is a command instead of a message: `/keep` proposes to keep in touch
//! (`contact.propose`), `/rekey` takes a contact conversation over with a new key pair (`contact.key`, as a new
//! device would), `/report 3,5` reports the peer revealing the messages it sent under those seqs (id `report`),
//! `/forge 3` the same with the text of seq 3 altered, as a lying reporter would (id `forge`). End of
//! stdin leaves the match (a contact stays) and exits. Plain `http://` only: the REST calls are two small
//! requests, made by hand so the reference client needs no HTTP stack.

use std::io::BufRead;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tanis_client::{Chat, ClientError, Connection};
use tanis_proto::{ClientFrame, MatchKind, ReportReason, Seq, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long to wait for a stranger before giving up.
const MATCH_WAIT: Duration = Duration::from_secs(120);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        emit(json!({ "event": "error", "message": e }));
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args = Args::parse()?;
    let token = sign_in(&args).await?;
    let ws_url = format!("{}/v1/ws", args.url.replacen("http://", "ws://", 1));
    let (mut connection, hello) = Connection::connect(&ws_url, &token).await.map_err(|e| e.to_string())?;
    if let ServerFrame::Hello { handle, .. } = &hello {
        emit(json!({ "event": "ready", "handle": handle }));
    }

    let identity = Chat::ask(&mut connection, MatchKind::Text).await.map_err(|e| e.to_string())?;
    emit(json!({ "event": "queued" }));
    connection.wait = MATCH_WAIT;
    let mut chat = Chat::found(&mut connection, identity).await.map_err(|e| e.to_string())?;
    emit(json!({
        "event": "matched",
        "match_id": chat.info.match_id,
        "peer": chat.info.peer,
        "initiator": chat.info.initiator,
        "safety_number": chat.e2e.safety_number(),
    }));

    let mut lines = stdin_lines();
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(command) if command.starts_with('/') => {
                    let (name, arg) = command.split_once(' ').unwrap_or((command.as_str(), ""));
                    let frame = match name {
                        "/keep" => chat.propose_keep(),
                        "/rekey" => chat.rekey().map_err(|e| e.to_string())?,
                        "/report" => chat.report(ReportReason::Harassment, None, &seqs(arg)?).map_err(|e| e.to_string())?,
                        "/forge" => forged_report(&chat, &seqs(arg)?)?,
                        other => return Err(format!("unknown command {other}")),
                    };
                    connection.send(&frame).await.map_err(|e| e.to_string())?;
                    if command == "/rekey" {
                        emit(json!({ "event": "rekeyed", "safety_number": chat.e2e.safety_number() }));
                    }
                }
                Some(text) => {
                    let frame = chat.message(&text);
                    connection.send(&frame).await.map_err(|e| e.to_string())?;
                }
                None => {
                    let leave = ClientFrame::MatchLeave { id: Some("leave".into()), match_id: chat.info.match_id };
                    connection.send(&leave).await.map_err(|e| e.to_string())?;
                    return Ok(());
                }
            },
            frame = connection.next() => match frame {
                Ok(frame) => {
                    if !handle(&mut connection, &mut chat, frame).await? {
                        return Ok(());
                    }
                }
                // Nothing for a while is fine: a conversation has pauses.
                Err(ClientError::Timeout(_)) => continue,
                Err(e) => return Err(e.to_string()),
            },
        }
    }
}

/// Reports one frame; false once the match is over.
async fn handle(connection: &mut Connection, chat: &mut Chat, frame: ServerFrame) -> Result<bool, String> {
    match &frame {
        ServerFrame::Msg { match_id, seq, mine: false, .. } if *match_id == chat.info.match_id => {
            match chat.read(&frame) {
                Ok(text) => emit(json!({ "event": "message", "seq": seq, "text": text })),
                // Never shown as text: the scheme has no plaintext fallback.
                Err(e) => emit(json!({ "event": "undecryptable", "seq": seq, "reason": e.to_string() })),
            }
            let ack = ClientFrame::MsgAck { id: None, match_id: *match_id, seq: *seq };
            connection.send(&ack).await.map_err(|e| e.to_string())?;
        }
        ServerFrame::MsgAccepted { seq, client_msg_id, .. } => {
            emit(json!({ "event": "accepted", "seq": seq, "client_msg_id": client_msg_id }));
        }
        ServerFrame::MsgDelivered { seq, .. } => emit(json!({ "event": "delivered", "seq": seq })),
        ServerFrame::Typing { .. } => emit(json!({ "event": "typing" })),
        ServerFrame::MatchEnded { reason, .. } => {
            emit(json!({ "event": "ended", "reason": reason }));
            return Ok(false);
        }
        ServerFrame::ContactProposed { .. } => emit(json!({ "event": "contact_proposed" })),
        ServerFrame::ContactAdded { contact } => {
            emit(json!({ "event": "contact_added", "match_id": contact.match_id, "peer": contact.peer }));
        }
        ServerFrame::ContactKey { peer_public_key: Some(key), mine: false, .. } => {
            chat.peer_rekeyed(key).map_err(|e| e.to_string())?;
            emit(json!({ "event": "contact_key", "safety_number": chat.e2e.safety_number() }));
        }
        // Another session of this user took the conversation over: this peer reads nothing new in it.
        ServerFrame::ContactKey { mine: true, session_id, .. } => {
            emit(json!({ "event": "taken_over", "session_id": session_id }));
        }
        ServerFrame::ContactEnded { .. } => {
            emit(json!({ "event": "contact_ended" }));
            return Ok(false);
        }
        ServerFrame::Ok { id } => emit(json!({ "event": "ok", "id": id })),
        ServerFrame::Error { id, code, message, .. } => {
            emit(json!({ "event": "error", "id": id, "code": code, "message": message }));
        }
        _ => {}
    }
    Ok(true)
}

/// `3,5` → the seqs 3 and 5.
fn seqs(list: &str) -> Result<Vec<Seq>, String> {
    list.split(',').map(|s| s.trim().parse().map(Seq).map_err(|_| format!("not a seq list: {list}"))).collect()
}

/// A report revealing `seqs` with the first one's text altered: what a reporter who lies about a message sends.
fn forged_report(chat: &Chat, seqs: &[Seq]) -> Result<ClientFrame, String> {
    let mut frame = chat.report(ReportReason::Harassment, None, seqs).map_err(|e| e.to_string())?;
    if let ClientFrame::Report { id, evidence, .. } = &mut frame {
        *id = Some("forge".into());
        let first = evidence.first_mut().ok_or("nothing to forge")?;
        let mut text = B64.decode(&first.text_utf8).map_err(|e| e.to_string())?;
        text.extend_from_slice(b" (not what was sent)");
        first.text_utf8 = B64.encode(text);
    }
    Ok(frame)
}

/// stdin, line by line, from a thread of its own (reading stdin blocks).
fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    // Lines typed faster than they are sent wait here; a full channel makes the reader wait, never drops one.
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if !line.is_empty() && tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn emit(event: Value) {
    println!("{event}");
}

struct Args {
    url: String,
    phone: String,
    password: String,
    alias: String,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = std::env::args().skip(1);
        let (mut url, mut phone, mut password, mut alias) = (None, None, None, None);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--url" => url = Some(value.trim_end_matches('/').to_owned()),
                "--phone" => phone = Some(value),
                "--password" => password = Some(value),
                "--alias" => alias = Some(value),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        let usage = "usage: peer --url http://HOST:PORT --phone +90… --password … --alias …";
        Ok(Self {
            url: url.ok_or(usage)?,
            phone: phone.ok_or(usage)?,
            password: password.ok_or(usage)?,
            alias: alias.ok_or(usage)?,
        })
    }
}

/// An access token: from a login, or from a registration when the phone is not known yet.
async fn sign_in(args: &Args) -> Result<String, String> {
    let login = json!({ "phone": args.phone, "password": args.password });
    let (status, body) = post_json(&args.url, "/v1/auth/login", &login).await?;
    let session = match status {
        200 => body,
        401 => {
            let registration = json!({
                "phone": args.phone,
                "password": args.password,
                "alias": args.alias,
                "accept_privacy_notice": true,
                "birth_year": 1990,
            });
            match post_json(&args.url, "/v1/auth/register", &registration).await? {
                (201, body) => body,
                (status, body) => return Err(format!("register: {status} {body}")),
            }
        }
        _ => return Err(format!("login: {status} {body}")),
    };
    session["tokens"]["access_token"].as_str().map(str::to_owned).ok_or_else(|| format!("no access token in {session}"))
}

/// One HTTP/1.1 POST with a JSON body; the server answers with a Content-Length body and closes.
async fn post_json(base: &str, path: &str, body: &Value) -> Result<(u16, Value), String> {
    let authority = base.strip_prefix("http://").ok_or("only http:// URLs")?;
    let mut stream = TcpStream::connect(authority).await.map_err(|e| format!("{authority}: {e}"))?;
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("no HTTP status")?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}
