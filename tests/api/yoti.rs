//! A local stand-in of Yoti's Age Verification API (src/age/yoti.rs names the documentation followed) for the tests
//! of age assurance: it checks every request as Yoti would — method and path, the bearer API key, the
//! `Yoti-SDK-Id` header, the JSON content type and the exact body of a new session — answers what the test
//! scripts, and records any request Yoti would refuse, which fails the test. The test plays the user at Yoti's page
//! by finishing a session here.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tanis::config::{AgeAssuranceConfig, AgeProvider};
use tanis::domain::RequiredFor;

pub(crate) const SDK_ID: &str = "0f0e5bd5-6a4b-4d8e-9c1a-2b3c4d5e6f70";
pub(crate) const API_KEY: &str = "yoti-stand-in-api-key-7c1e4a9b";
pub(crate) const RETURN_URL: &str = "https://chat.example/age-assurance/done";
/// When every scripted session runs out, unless a test says otherwise: long after any test's clock.
const EXPIRES_AT: &str = "2099-01-01T00:00:00Z";

/// One session as Yoti holds it.
#[derive(Debug, Clone)]
struct Session {
    status: &'static str,
    age: Option<i64>,
    method: Option<&'static str>,
    expires_at: String,
}

/// How the stand-in answers the next well-formed request of a kind, after checking it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    /// An HTTP error status with Yoti's error body.
    Status(u16),
    /// 200 with a body that is not what Yoti documents.
    Garbage,
}

#[derive(Default)]
struct Desk {
    sessions: HashMap<String, Session>,
    /// The order sessions were created in.
    created: Vec<String>,
    /// Requests Yoti would refuse: each answered 400 (or 401/403) and named here.
    rejected: Vec<String>,
    /// Answers to the next session creations, then to the next result reads; the real thing when empty.
    create_answers: VecDeque<Answer>,
    result_answers: VecDeque<Answer>,
    /// Result reads answered.
    reads: usize,
    /// Well-formed requests received, however answered (a scripted failure included): what the operator pays for.
    creation_requests: usize,
    result_requests: usize,
}

/// The stand-in of Yoti's AVS API a test server asks.
#[derive(Clone)]
pub(crate) struct Yoti {
    desk: Arc<Mutex<Desk>>,
    pub base_url: String,
}

/// What is wrong with the headers of a request, as Yoti checks them.
fn header_problem(headers: &HeaderMap, with_body: bool) -> Option<(StatusCode, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if header("yoti-sdk-id") != SDK_ID {
        return Some((StatusCode::UNAUTHORIZED, format!("Yoti-SDK-Id {:?}", header("yoti-sdk-id"))));
    }
    if header("authorization") != format!("Bearer {API_KEY}") {
        return Some((StatusCode::FORBIDDEN, "no or wrong bearer API key".into()));
    }
    if with_body && header("content-type") != "application/json" {
        return Some((StatusCode::BAD_REQUEST, format!("content type {:?}", header("content-type"))));
    }
    None
}

/// The body a session for an 18+ service is created with: every method allowed, estimation held to 25.
fn expected_session() -> Value {
    json!({
        "type": "OVER",
        "age_estimation": { "allowed": true, "threshold": 25, "level": "PASSIVE" },
        "digital_id": { "allowed": true, "threshold": 18, "level": "NONE" },
        "doc_scan": { "allowed": true, "threshold": 18, "authenticity": "AUTO", "level": "PASSIVE" },
        "ttl": 900,
        "callback": { "auto": true, "url": RETURN_URL },
        "cancel_url": RETURN_URL,
    })
}

fn refuse(desk: &mut Desk, (status, problem): (StatusCode, String)) -> Response {
    desk.rejected.push(problem);
    (status, Json(json!({ "error": "refused by the stand-in" }))).into_response()
}

fn scripted(answer: Answer) -> Response {
    match answer {
        Answer::Status(status) => {
            (StatusCode::from_u16(status).unwrap(), Json(json!({ "error": "INTERNAL_ERROR" }))).into_response()
        }
        Answer::Garbage => (StatusCode::OK, Json(json!({ "session": "not what Yoti sends" }))).into_response(),
    }
}

async fn create(State(desk): State<Arc<Mutex<Desk>>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut desk = desk.lock().unwrap();
    if let Some(problem) = header_problem(&headers, true) {
        return refuse(&mut desk, problem);
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return refuse(&mut desk, (StatusCode::BAD_REQUEST, format!("body is not JSON: {e}"))),
    };
    if body != expected_session() {
        return refuse(&mut desk, (StatusCode::BAD_REQUEST, format!("session body {body}")));
    }
    desk.creation_requests += 1;
    if let Some(answer) = desk.create_answers.pop_front() {
        return scripted(answer);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let session = Session { status: "PENDING", age: None, method: None, expires_at: EXPIRES_AT.into() };
    desk.sessions.insert(id.clone(), session);
    desk.created.push(id.clone());
    (StatusCode::OK, Json(json!({ "id": id, "status": "PENDING", "expires_at": EXPIRES_AT }))).into_response()
}

async fn result(
    State(desk): State<Arc<Mutex<Desk>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut desk = desk.lock().unwrap();
    if let Some(problem) = header_problem(&headers, false) {
        return refuse(&mut desk, problem);
    }
    if !body.is_empty() {
        return refuse(&mut desk, (StatusCode::BAD_REQUEST, "a body on a GET".into()));
    }
    let Some(session) = desk.sessions.get(&id).cloned() else {
        return refuse(&mut desk, (StatusCode::NOT_FOUND, format!("no session {id}")));
    };
    desk.result_requests += 1;
    if let Some(answer) = desk.result_answers.pop_front() {
        return scripted(answer);
    }
    desk.reads += 1;
    // As Yoti answers: the session's configuration echoed, and fields the server must ignore (the evidence id
    // names the attempt's evidence at Yoti, which tanis never asks for).
    let mut answer = json!({
        "sdk_id": SDK_ID,
        "callback": { "url": RETURN_URL, "auto": true },
        "type": "OVER",
        "age_estimation": { "threshold": 25, "allowed": true, "level": "PASSIVE" },
        "status": session.status,
        "reference_id": "",
        "created_at": "2026-11-21T09:30:00Z",
        "expires_at": session.expires_at,
        "id": id,
        "biometric_consent_required": true,
    });
    if let Some(age) = session.age {
        answer["age"] = json!(age);
        answer["evidence_id"] = json!("evidence-5b1d-only-at-yoti");
    }
    if let Some(method) = session.method {
        answer["method"] = json!(method);
    }
    (StatusCode::OK, Json(answer)).into_response()
}

impl Yoti {
    /// Starts the stand-in on a free port.
    pub(crate) async fn start() -> Self {
        let desk: Arc<Mutex<Desk>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/api/v1/sessions", post(create))
            .route("/api/v1/sessions/{id}/result", get(result))
            .with_state(desk.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { desk, base_url }
    }

    /// A server configuration asking this stand-in, with an assured age required for `required_for`.
    pub(crate) fn config(&self, required_for: RequiredFor) -> AgeAssuranceConfig {
        AgeAssuranceConfig {
            required_for,
            provider: AgeProvider::Yoti,
            base_url: self.base_url.clone(),
            sdk_id: Some(SDK_ID.into()),
            api_key: Some(API_KEY.into()),
            return_url: Some(RETURN_URL.into()),
            ..AgeAssuranceConfig::default()
        }
    }

    /// The user finishes session `id` at Yoti's page: `status` (`COMPLETE`, `FAIL`, …), with the age found at or
    /// over and the method for a complete one.
    pub(crate) fn finish(&self, id: &str, status: &'static str, age: Option<i64>, method: Option<&'static str>) {
        let mut desk = self.desk.lock().unwrap();
        let session = desk.sessions.get_mut(id).unwrap_or_else(|| panic!("no session {id} at the stand-in"));
        (session.status, session.age, session.method) = (status, age, method);
    }

    /// Session `id` ran out at `at` (RFC 3339) before the user finished.
    pub(crate) fn runs_out(&self, id: &str, at: &str) {
        self.desk.lock().unwrap().sessions.get_mut(id).unwrap().expires_at = at.into();
    }

    /// The next session creations are answered so.
    pub(crate) fn answer_creations(&self, answers: &[Answer]) {
        self.desk.lock().unwrap().create_answers.extend(answers);
    }

    /// The next result reads are answered so.
    pub(crate) fn answer_reads(&self, answers: &[Answer]) {
        self.desk.lock().unwrap().result_answers.extend(answers);
    }

    /// The sessions created so far, oldest first; panics if any request was one Yoti would refuse.
    pub(crate) fn created(&self) -> Vec<String> {
        let desk = self.desk.lock().unwrap();
        assert_eq!(desk.rejected, Vec::<String>::new(), "requests Yoti would refuse");
        desk.created.clone()
    }

    /// Session creations and result reads asked of the stand-in so far, however it answered; panics as
    /// [`Yoti::created`].
    pub(crate) fn requests(&self) -> (usize, usize) {
        let desk = self.desk.lock().unwrap();
        assert_eq!(desk.rejected, Vec::<String>::new(), "requests Yoti would refuse");
        (desk.creation_requests, desk.result_requests)
    }

    /// Result reads answered so far; panics as [`Yoti::created`].
    pub(crate) fn reads(&self) -> usize {
        let desk = self.desk.lock().unwrap();
        assert_eq!(desk.rejected, Vec::<String>::new(), "requests Yoti would refuse");
        desk.reads
    }
}
