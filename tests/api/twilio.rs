//! A local stand-in of Twilio's Messages API for the tests of one-time codes: it checks every request as Twilio
//! would (method and path, HTTP Basic auth, a form body with exactly `To`, `From` and `Body`), records the message,
//! answers what the test scripts (201 by default; or never; or a redirect to a path that would accept it) and hands
//! the test the code it read from the Body.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::json;
use tanis::config::{Config, SmsProvider};

use crate::helpers::{Backend, TestApp, spawn_app_with};

/// The Twilio account the stand-in expects, and the sender tanis is configured with.
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "stand-in-auth-token";
const FROM: &str = "TANIS";

/// One message the stand-in accepted (or was told to fail after checking it).
#[derive(Debug, Clone)]
pub(crate) struct Sms {
    pub to: String,
    pub body: String,
}

#[derive(Default)]
struct Inbox {
    messages: Vec<Sms>,
    /// Requests that were not what Twilio takes: each is answered 400 and named here.
    rejected: Vec<String>,
    /// Statuses to answer to the next well-formed requests (after recording them); 201 when empty.
    answers: VecDeque<u16>,
    /// The next this many well-formed requests are recorded and then never answered.
    stalls: usize,
    /// The next this many well-formed requests are recorded and answered `307` to [`TRAP`].
    redirects: usize,
    /// Requests that followed such a redirect.
    trap_hits: usize,
}

/// Where a scripted redirect points: a path that accepts anything with 201, so a sender that followed it would
/// believe its message sent.
const TRAP: &str = "/elsewhere/Messages.json";

/// The stand-in of Twilio's Messages API a test server sends through.
#[derive(Clone)]
pub(crate) struct Twilio {
    inbox: Arc<Mutex<Inbox>>,
}

async fn messages(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match answer(&inbox, &account, &headers, &form) {
        Some(response) => response,
        // A provider that took the request and never answers.
        None => std::future::pending().await,
    }
}

/// Checks and records one request and says what to answer; `None`: nothing, ever.
fn answer(
    inbox: &Mutex<Inbox>,
    account: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<Response> {
    let mut inbox = inbox.lock().unwrap();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}")));
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut fields: Vec<&str> = form.keys().map(String::as_str).collect();
    fields.sort();
    let problem = if account != format!("{ACCOUNT}/Messages.json") {
        Some(format!("path names {account}"))
    } else if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        Some("no or wrong Basic auth".to_owned())
    } else if content_type != "application/x-www-form-urlencoded" {
        Some(format!("content type {content_type}"))
    } else if fields != ["Body", "From", "To"] {
        Some(format!("form fields {fields:?}"))
    } else if form["From"] != FROM || !form["To"].starts_with('+') {
        Some(format!("From {} / To not E.164", form["From"]))
    } else {
        None
    };
    if let Some(problem) = problem {
        inbox.rejected.push(problem);
        return Some(
            (AxumStatus::BAD_REQUEST, Json(json!({ "code": 21601, "message": "bad request" }))).into_response(),
        );
    }
    inbox.messages.push(Sms { to: form["To"].clone(), body: form["Body"].clone() });
    if inbox.stalls > 0 {
        inbox.stalls -= 1;
        return None;
    }
    if inbox.redirects > 0 {
        inbox.redirects -= 1;
        return Some((AxumStatus::TEMPORARY_REDIRECT, [("location", TRAP)]).into_response());
    }
    Some(match inbox.answers.pop_front().unwrap_or(201) {
        201 => (AxumStatus::CREATED, Json(json!({ "sid": "SM0123", "status": "queued" }))).into_response(),
        status => (AxumStatus::from_u16(status).unwrap(), Json(json!({ "code": 20500, "message": "Internal" })))
            .into_response(),
    })
}

async fn trap(State(inbox): State<Arc<Mutex<Inbox>>>) -> Response {
    inbox.lock().unwrap().trap_hits += 1;
    (AxumStatus::CREATED, Json(json!({ "sid": "SM9999", "status": "queued" }))).into_response()
}

impl Twilio {
    /// Starts the stand-in on a free port; returns it and the URL tanis is to post to.
    pub(crate) async fn start() -> (Self, String) {
        let inbox: Arc<Mutex<Inbox>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Twilio's own path: /2010-04-01/Accounts/{AccountSid}/Messages.json (the last part matched as one).
        let router = Router::new()
            .route("/2010-04-01/Accounts/{*account}", post(messages))
            .route(TRAP, post(trap))
            .with_state(inbox.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (Self { inbox }, format!("{base}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"))
    }

    /// Every message accepted so far; panics if a request was malformed.
    pub(crate) fn messages(&self) -> Vec<Sms> {
        let inbox = self.inbox.lock().unwrap();
        assert_eq!(inbox.rejected, Vec::<String>::new(), "requests Twilio would refuse");
        inbox.messages.clone()
    }

    /// Messages sent to `phone`.
    pub(crate) fn sent_to(&self, phone: &str) -> usize {
        self.messages().iter().filter(|m| m.to == phone).count()
    }

    /// The code in the newest message to `phone`.
    pub(crate) fn code_to(&self, phone: &str) -> String {
        let messages = self.messages();
        let sms = messages.iter().rev().find(|m| m.to == phone).unwrap_or_else(|| panic!("no SMS to {phone}"));
        code_in(&sms.body)
    }

    /// The next `n` sends are answered with `status` (after being checked and recorded).
    pub(crate) fn answer_next(&self, n: usize, status: u16) {
        self.inbox.lock().unwrap().answers.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` sends are recorded and never answered.
    pub(crate) fn stall_next(&self, n: usize) {
        self.inbox.lock().unwrap().stalls += n;
    }

    /// The next `n` sends are recorded and answered with a redirect elsewhere.
    pub(crate) fn redirect_next(&self, n: usize) {
        self.inbox.lock().unwrap().redirects += n;
    }

    /// How many requests followed a redirect.
    pub(crate) fn redirects_followed(&self) -> usize {
        self.inbox.lock().unwrap().trap_hits
    }
}

/// The six digits of a message.
pub(crate) fn code_in(body: &str) -> String {
    let digits: Vec<&str> = body.split(|c: char| !c.is_ascii_digit()).filter(|d| d.len() == 6).collect();
    assert_eq!(digits.len(), 1, "one six-digit code in {body:?}");
    digits[0].to_owned()
}

/// Points a server configuration at the stand-in.
pub(crate) fn through(config: &mut Config, url: &str) {
    config.sms.provider = SmsProvider::Http;
    config.sms.http_url = Some(url.to_owned());
    config.sms.account = Some(ACCOUNT.into());
    config.sms.token = Some(TOKEN.into());
    config.sms.from = Some(FROM.into());
}

/// A server that sends its codes through a fresh stand-in.
pub(crate) async fn spawn_with_sms(backend: Backend, tweak: impl FnOnce(&mut Config)) -> (TestApp, Twilio) {
    let (twilio, url) = Twilio::start().await;
    let app = spawn_app_with(backend, |c| {
        through(c, &url);
        tweak(c);
    })
    .await;
    (app, twilio)
}
