//! The log never carries what would let its reader act as a user or read what users said: passwords, access and
//! refresh tokens (in `Authorization` headers, the WebSocket's subprotocol, bodies), one-time codes, message
//! payloads, report details and phone numbers. Run at `TANIS_LOG=trace`, where third-party crates log raw frames,
//! headers and bodies. The one line allowed a secret is the development SMS sender's (src/sms/log.rs, README):
//! it logs the one-time code, and only the code, because a server without an SMS provider has no other way out.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{Connection, TokenIn};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::binary::{log_lines, tanis, wait_until_listening};
use crate::helpers::{PASSWORD, STANDARD_COMMITMENT, new_phone, registration, tokens};

/// The development SMS sender's line: the one place a one-time code may be logged.
const SMS_LINE: &str = "development SMS sender";

/// Something the log must not show, and what it is (for the failure message).
struct Secret {
    what: String,
    value: String,
}

impl Secret {
    fn new(what: impl Into<String>, value: impl Into<String>) -> Self {
        Self { what: what.into(), value: value.into() }
    }

    /// Whether `line` shows this secret. A one-time code is six digits, which timestamps, ids and durations are
    /// full of: it counts only standing alone (no digit or `.` beside it), and never in the SMS sender's line.
    fn shown_in(&self, line: &str) -> bool {
        if !is_code(&self.value) {
            return line.contains(&self.value);
        }
        if line.contains(SMS_LINE) {
            return false;
        }
        line.match_indices(&self.value).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            let after = line[at + self.value.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_digit() || c == '.') && !after.is_some_and(|c| c.is_ascii_digit())
        })
    }
}

fn is_code(value: &str) -> bool {
    value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit())
}

/// Every secret a line shows, with the line; also any bearer token or JWT at all, known to the test or not.
fn leaks<'a>(lines: &'a [String], secrets: &'a [Secret]) -> Vec<(&'a str, &'a str)> {
    let mut found = Vec::new();
    for line in lines {
        for secret in secrets.iter().filter(|s| s.shown_in(line)) {
            found.push((secret.what.as_str(), line.as_str()));
        }
        if shows_a_bearer_token(line) {
            found.push(("an Authorization header's token", line.as_str()));
        }
        if shows_a_jwt(line) {
            found.push(("a JWT", line.as_str()));
        }
    }
    found
}

/// `Bearer <at least 16 token characters>`, in any case: how an `Authorization` header's value looks.
fn shows_a_bearer_token(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.match_indices("bearer ").any(|(at, word)| {
        let rest = &line[at + word.len()..];
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).count() >= 16
    })
}

/// A JWT's header: `eyJ` (base64 of `{"`) followed by more base64url and a dot.
fn shows_a_jwt(line: &str) -> bool {
    line.match_indices("eyJ").any(|(at, _)| {
        let rest = &line[at..];
        let header = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c)).count();
        header >= 16 && rest[header..].starts_with('.')
    })
}

/// Reads log lines into `seen` until the SMS sender's next line for `purpose` (`verify`, `reset`…) to `phone`, and
/// returns its code.
async fn sms_code(logs: &mut UnboundedReceiver<String>, seen: &mut Vec<String>, purpose: &str, phone: &str) -> String {
    let wanted = [format!("purpose=\"{purpose}\""), format!("phone_ends_with=\"{}\"", &phone[phone.len() - 2..])];
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = logs.recv().await {
            seen.push(line.clone());
            if line.contains(SMS_LINE) && wanted.iter().all(|w| line.contains(w)) {
                let code =
                    line.split("code=\"").nth(1).and_then(|rest| rest.get(..6)).expect("the line shows the code");
                assert!(is_code(code), "{line}");
                return code.to_owned();
            }
        }
        panic!("the server exited before sending the {purpose} code");
    })
    .await
    .unwrap_or_else(|_| panic!("no {purpose} code in the log"))
}

/// The scan finds what it looks for: every secret planted in a line written as a leak would be, and no code in
/// the SMS sender's own line or inside a longer number.
#[test]
fn the_log_scan_finds_each_kind_of_secret_planted_in_a_line() {
    let access = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLW9mLWEtdG9rZW4";
    let secrets = [
        Secret::new("a password", "kedi-sever-42"),
        Secret::new("a refresh token", "Zm9vYmFyYmF6cXV4LXJlZnJlc2gtdG9rZW4"),
        Secret::new("an access token", access),
        Secret::new("a one-time code", "042917"),
    ];
    let planted = [
        r#"DEBUG tanis: body={"password":"kedi-sever-42"}"#.to_owned(),
        "TRACE h2: refresh_token=Zm9vYmFyYmF6cXV4LXJlZnJlc2gtdG9rZW4".to_owned(),
        format!("TRACE hyper: headers={{\"authorization\": \"Bearer {access}\"}}"),
        r#"DEBUG tanis: checking code="042917""#.to_owned(),
        "DEBUG tanis: AUTHORIZATION: bearer a-token-the-test-never-saw-123".to_owned(),
        format!("INFO tanis::sms::log: one-time code ({SMS_LINE}; …) code=\"042917\""),
        "INFO tanis: at 2026-11-21T09:30:00.042917Z id=1042917 took 1.042917ms".to_owned(),
    ];
    let found: Vec<&str> = leaks(&planted, &secrets).into_iter().map(|(what, _)| what).collect();
    assert_eq!(
        found,
        [
            "a password",
            "a refresh token",
            "an access token",
            "an Authorization header's token",
            "a JWT",
            "a one-time code",
            "an Authorization header's token"
        ]
    );
}

/// Whatever the log filter says, no secret and no user's words reach the log: third-party crates log raw frames,
/// headers and bodies at trace level. Every flow that carries a secret runs once, so each has its chance to leak.
#[tokio::test]
async fn logs_at_trace_level_carry_no_secret_no_payload_and_no_phone_number() {
    let dir = tempfile::tempdir().unwrap();
    // Two codes go to one phone within seconds: no minimum interval between them.
    let mut command = tanis(dir.path());
    command.arg("serve").env("TANIS_LOG", "trace").env("TANIS_SMS__MIN_INTERVAL_SECS", "0");
    let mut server = command.spawn().unwrap();
    let mut logs = log_lines(&mut server);
    let mut log = Vec::new();
    let address = wait_until_listening(&mut logs, &mut log).await;
    let http = |path: &str| format!("http://{address}{path}");
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(http(path)).json(&body).send();
    let mut secrets = Vec::new();

    // Registration, login (a wrong password first), refresh: passwords in, token pairs out.
    let phones = [new_phone(), new_phone()];
    let mut access = Vec::new();
    for (phone, alias) in phones.iter().zip(["kedi", "kopek"]) {
        let registered = post("/v1/auth/register", registration(phone, alias)).await.unwrap();
        assert_eq!(registered.status(), StatusCode::CREATED);
        let (token, refresh) = tokens(&registered.json().await.unwrap());
        secrets.extend([
            Secret::new("a registration's access token", &token),
            Secret::new("a registration's refresh token", refresh),
        ]);
        access.push(token);
    }
    let phone = &phones[0];
    // Registration sends each phone its verification code.
    for phone in &phones {
        let code = sms_code(&mut logs, &mut log, "verify", phone).await;
        secrets.push(Secret::new("a code sent at registration", code));
    }
    let password = PASSWORD;
    let wrong = "yanlis-parola-99";
    let refused = post("/v1/auth/login", json!({ "phone": phone, "password": wrong })).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let login = post("/v1/auth/login", json!({ "phone": phone, "password": password })).await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let (_, refresh) = tokens(&login.json().await.unwrap());
    let refreshed = post("/v1/auth/refresh", json!({ "refresh_token": refresh })).await.unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (token, next_refresh) = tokens(&refreshed.json().await.unwrap());
    secrets.extend([
        Secret::new("a password", password),
        Secret::new("a wrong password", wrong),
        Secret::new("a login's refresh token", refresh),
        Secret::new("a refreshed access token", &token),
        Secret::new("a refreshed refresh token", &next_refresh),
    ]);

    // A new verification code, asked for and typed back with the access token in the Authorization header.
    let asked = client.post(http("/v1/me/phone/verification")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let code = sms_code(&mut logs, &mut log, "verify", phone).await;
    let verified = client.post(http("/v1/me/phone/verify")).bearer_auth(&token).json(&json!({ "code": code }));
    assert_eq!(verified.send().await.unwrap().status(), StatusCode::OK);
    secrets.push(Secret::new("a phone verification code", code));

    // A password reset by code, then a password change: two more passwords, one more code.
    let reset = post("/v1/auth/password-reset", json!({ "phone": phone })).await.unwrap();
    assert_eq!(reset.status(), StatusCode::ACCEPTED);
    let code = sms_code(&mut logs, &mut log, "reset", phone).await;
    let reset_to = "sifirlanan-parola-31";
    let confirm = json!({ "phone": phone, "code": code, "new_password": reset_to });
    assert_eq!(post("/v1/auth/password-reset/confirm", confirm).await.unwrap().status(), StatusCode::NO_CONTENT);
    secrets.extend([Secret::new("a password reset code", code), Secret::new("a password set by reset", reset_to)]);
    let login = post("/v1/auth/login", json!({ "phone": phone, "password": reset_to })).await.unwrap();
    let (token, refresh) = tokens(&login.json().await.unwrap());
    let changed_to = "degisen-parola-57";
    let change = json!({ "current_password": reset_to, "new_password": changed_to });
    let changed = client.post(http("/v1/me/password")).bearer_auth(&token).json(&change).send().await.unwrap();
    assert!(changed.status().is_success(), "{}", changed.text().await.unwrap());
    secrets.extend([
        Secret::new("a login's access token", &token),
        Secret::new("a login's refresh token", refresh),
        Secret::new("a changed password", changed_to),
    ]);
    let login = post("/v1/auth/login", json!({ "phone": phone, "password": changed_to })).await.unwrap();
    let (token, refresh) = tokens(&login.json().await.unwrap());
    secrets.extend([Secret::new("a login's access token", &token), Secret::new("a login's refresh token", &refresh)]);
    access[0] = token;

    // Sockets: the token in the Authorization header (mobile) and in the subprotocol (browsers); a message and a
    // report travel through them.
    let url = format!("ws://{address}/v1/ws");
    let mut a = Connection::open(&url, Some(&access[0]), TokenIn::Subprotocol).await.unwrap();
    a.next().await.unwrap();
    let (mut b, _) = Connection::connect(&url, &access[1]).await.unwrap();
    let kind = tanis_proto::MatchKind::Text;
    let (chat_a, _) = tokio::join!(tanis_client::Chat::find(&mut a, kind), tanis_client::Chat::find(&mut b, kind));
    let match_id = chat_a.unwrap().info.match_id;
    // A ciphertext and a nonce that are recognisable in any log line (valid base64, 24-byte nonce).
    let ciphertext = "Q0lQSEVSVEVYVE1BUktFUnh5eno5ODc2NTQzMjE=";
    let nonce = "Tk9OQ0VNQVJLRVJhYmNkZWZnaGlqa2xt";
    let send = tanis_proto::ClientFrame::MsgSend {
        id: Some("m".into()),
        match_id,
        client_msg_id: "istemci-77".into(),
        ciphertext: ciphertext.into(),
        nonce: nonce.into(),
        commitment: STANDARD_COMMITMENT.into(),
        ack: None,
    };
    a.send(&send).await.unwrap();
    b.next_where(|f| matches!(f, tanis_proto::ServerFrame::Msg { .. })).await.unwrap();
    let details = "rapor-ayrintisi-gizli-42";
    let report = tanis_proto::ClientFrame::Report {
        id: Some("r".into()),
        match_id,
        reason_code: tanis_proto::ReportReason::Harassment,
        details: Some(details.into()),
        evidence: Vec::new(),
    };
    b.send(&report).await.unwrap();
    b.next_where(|f| matches!(f, tanis_proto::ServerFrame::Ok { .. })).await.unwrap();

    // A gender declared, and a premium find asking for genders (issue 64): the wish is never logged. The first
    // user is made an admin by the command line and grants the second premium.
    let mut set_role = tanis(dir.path());
    let set_role = set_role.args(["set-role", &phones[0], "admin"]).output().await.unwrap();
    assert!(set_role.status.success(), "{}", String::from_utf8_lossy(&set_role.stderr));
    let login = post("/v1/auth/login", json!({ "phone": phone, "password": changed_to })).await.unwrap();
    let (admin, admin_refresh) = tokens(&login.json().await.unwrap());
    secrets
        .extend([Secret::new("a login's access token", &admin), Secret::new("a login's refresh token", admin_refresh)]);
    let me: Value = client.get(http("/v1/me")).bearer_auth(&access[1]).send().await.unwrap().json().await.unwrap();
    let handle = me["handle"].as_str().unwrap();
    let lookup = client.get(http("/v1/admin/users")).query(&[("handle", handle)]).bearer_auth(&admin);
    let user: Value = lookup.send().await.unwrap().json().await.unwrap();
    let grant = json!({ "plan": "premium_support", "days": 30 });
    let path = format!("/v1/admin/users/{}/subscription", user["id"]);
    let granted = client.put(http(&path)).bearer_auth(&admin).json(&grant).send().await.unwrap();
    assert_eq!(granted.status(), StatusCode::NO_CONTENT);
    let declare = json!({ "gender": "man", "consent": true });
    let declared = client.put(http("/v1/me/gender")).bearer_auth(&access[1]).json(&declare).send().await.unwrap();
    assert_eq!(declared.status(), StatusCode::OK);
    b.send(&tanis_proto::ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    b.next_where(|f| matches!(f, tanis_proto::ServerFrame::MatchEnded { .. })).await.unwrap();
    let wish = tanis_proto::Seeking { genders: vec![tanis_proto::Gender::NonBinary], mode: Default::default() };
    let find = tanis_client::Find::new(kind).seeking(wish);
    b.send(&find.frame(Some("f".into()), tanis_client::Identity::generate().public_key_b64())).await.unwrap();
    b.next_where(|f| matches!(f, tanis_proto::ServerFrame::MatchQueued { .. })).await.unwrap();
    secrets.push(Secret::new("a gender wish", "seeking"));

    let logout = post("/v1/auth/logout", json!({ "refresh_token": refresh })).await.unwrap();
    assert!(logout.status().is_success());
    secrets.extend([
        Secret::new("a message's ciphertext", ciphertext),
        Secret::new("a message's nonce", nonce),
        Secret::new("a report's details", details),
        Secret::new("a phone number", &phones[0][3..]),
        Secret::new("a phone number", &phones[1][3..]),
    ]);

    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::timeout(Duration::from_secs(15), server.wait()).await.expect("exits").unwrap();
    while let Some(line) = logs.recv().await {
        log.push(line);
    }
    assert!(log.iter().any(|l| l.contains("TRACE")), "the filter really was verbose");
    assert!(secrets.iter().all(|s| s.value.len() >= 6), "every secret is something to find");
    assert_eq!(log.iter().filter(|l| l.contains(SMS_LINE)).count(), 4, "every code went out through the log sender");
    let found = leaks(&log, &secrets);
    assert!(found.is_empty(), "logged: {found:#?}");
}

/// The age assurance provider's API key (a bearer token, like a user's) never reaches the log at trace level,
/// through a session started, checked before and after the user finished, and a provider failure.
#[tokio::test]
async fn the_age_assurance_providers_key_never_reaches_the_log() {
    use crate::yoti::{API_KEY, Answer, RETURN_URL, SDK_ID, Yoti};

    let yoti = Yoti::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = tanis(dir.path());
    command.arg("serve").env("TANIS_LOG", "trace").envs([
        ("TANIS_AGE_ASSURANCE__REQUIRED_FOR", "video"),
        ("TANIS_AGE_ASSURANCE__PROVIDER", "yoti"),
        ("TANIS_AGE_ASSURANCE__BASE_URL", &yoti.base_url),
        ("TANIS_AGE_ASSURANCE__SDK_ID", SDK_ID),
        ("TANIS_AGE_ASSURANCE__API_KEY", API_KEY),
        ("TANIS_AGE_ASSURANCE__RETURN_URL", RETURN_URL),
    ]);
    let mut server = command.spawn().unwrap();
    let mut logs = log_lines(&mut server);
    let mut log = Vec::new();
    let address = wait_until_listening(&mut logs, &mut log).await;
    let http = |path: &str| format!("http://{address}{path}");
    let client = reqwest::Client::new();
    let registered = client.post(http("/v1/auth/register")).json(&registration(&new_phone(), "yasli")).send();
    let registered = registered.await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let (access, refresh) = tokens(&registered.json().await.unwrap());

    let started = client.post(http("/v1/me/age-assurance")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::CREATED);
    let reference = started.json::<Value>().await.unwrap()["reference"].as_str().unwrap().to_owned();
    let check = || client.post(http("/v1/me/age-assurance/check")).bearer_auth(&access).send();
    assert_eq!(check().await.unwrap().status(), StatusCode::OK);
    yoti.answer_reads(&[Answer::Status(500)]);
    assert_eq!(check().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    yoti.finish(&reference, "COMPLETE", Some(18), Some("DOC_SCAN"));
    let assured: Value = check().await.unwrap().json().await.unwrap();
    assert_eq!(assured["assured"], true);

    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::timeout(Duration::from_secs(15), server.wait()).await.expect("exits").unwrap();
    while let Some(line) = logs.recv().await {
        log.push(line);
    }
    assert!(log.iter().any(|l| l.contains("TRACE")), "the filter really was verbose");
    assert!(
        log.iter().any(|l| l.contains("the age assurance provider refused the request: HTTP 500")),
        "the provider's failure was logged"
    );
    let secrets = [
        Secret::new("the provider's API key", API_KEY),
        Secret::new("an access token", &access),
        Secret::new("a refresh token", refresh),
    ];
    let found = leaks(&log, &secrets);
    assert!(found.is_empty(), "logged: {found:#?}");
}
