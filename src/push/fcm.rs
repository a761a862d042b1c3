//! Firebase Cloud Messaging, HTTP v1: an OAuth2 access token from the service account (a JWT bearer grant signed
//! RS256 with its private key, cached until shortly before it expires), then one POST per message to
//! `{base_url}/v1/projects/{project_id}/messages:send`.
//!
//! Why not a crate for it: `fcm-rs` formats its bearer header with `{:?}` (quotes around the token: Google
//! refuses it) and pulls OpenSSL; `gcp_auth` would do the token grant, but the grant is one signed JWT and one
//! form POST, and `jsonwebtoken` (already here for access tokens) signs RS256. Both URLs are configurable, so the
//! tests run against a local stand-in that checks each request as Google would (tests/api/push.rs).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// The scope FCM sends need.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// The fields of a service-account key file that matter here.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    // Never the private key, in logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .finish()
    }
}

/// One push: the text shown and what the app needs to open the right screen. Never message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushMessage {
    pub title: String,
    pub body: String,
    /// Later pushes with the same key replace an earlier one not yet seen (one per match for messages).
    pub collapse_key: Option<String>,
    /// Small string pairs for the app (`type`, `match_id`, …).
    pub data: std::collections::BTreeMap<String, String>,
}

/// What sending one push came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// The token is no longer valid (`UNREGISTERED`, `INVALID_ARGUMENT`): forget the device.
    Gone,
    /// Try again later: after `after` when the server said (`Retry-After`), else with backoff.
    Retry {
        after: Option<Duration>,
        why: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    #[error("the service account key cannot sign: {0}")]
    Key(String),
    #[error("the token endpoint refused: {0}")]
    Token(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

/// The fields of the signed assertion Google's token endpoint exchanges for an access token (RFC 7523).
#[derive(Serialize)]
struct GrantAssertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

pub struct FcmClient {
    http: reqwest::Client,
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    base_url: String,
    token: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl FcmClient {
    /// `token_uri` overrides the one in the key file (a stand-in in tests); `base_url` is FCM's.
    pub fn new(mut account: ServiceAccount, base_url: &str, token_uri: Option<&str>) -> Result<Self, FcmError> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| FcmError::Key(e.to_string()))?;
        if let Some(uri) = token_uri {
            account.token_uri = uri.to_owned();
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| FcmError::Key(e.to_string()))?;
        Ok(Self { http, account, key, base_url: base_url.trim_end_matches('/').to_owned(), token: Mutex::new(None) })
    }

    /// A valid access token: the cached one until a minute before it expires, else a new grant.
    async fn access_token(&self, now: DateTime<Utc>) -> Result<String, FcmError> {
        let mut cached = self.token.lock().await;
        if let Some((token, expires_at)) = cached.as_ref()
            && now < *expires_at - TimeDelta::seconds(60)
        {
            return Ok(token.clone());
        }
        let fields = GrantAssertion {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat: now.timestamp(),
            exp: now.timestamp() + 3600,
        };
        let assertion =
            jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &fields, &self.key)
                .map_err(|e| FcmError::Key(e.to_string()))?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())])
            .send()
            .await
            .map_err(|e| FcmError::Token(e.to_string()))?;
        if !response.status().is_success() {
            return Err(FcmError::Token(format!("HTTP {}", response.status())));
        }
        let granted: TokenResponse = response.json().await.map_err(|e| FcmError::Token(e.to_string()))?;
        let expires_at = now + TimeDelta::seconds(granted.expires_in.clamp(60, 24 * 3600));
        *cached = Some((granted.access_token.clone(), expires_at));
        Ok(granted.access_token)
    }

    /// Sends one push to one device token.
    pub async fn send(&self, device_token: &str, message: &PushMessage, now: DateTime<Utc>) -> SendOutcome {
        let token = match self.access_token(now).await {
            Ok(token) => token,
            Err(e) => return SendOutcome::Retry { after: None, why: e.to_string() },
        };
        let url = format!("{}/v1/projects/{}/messages:send", self.base_url, self.account.project_id);
        let response = match self.http.post(&url).bearer_auth(&token).json(&body(device_token, message)).send().await {
            Ok(response) => response,
            Err(e) => return SendOutcome::Retry { after: None, why: e.to_string() },
        };
        let status = response.status();
        if status.is_success() {
            return SendOutcome::Sent;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let error: serde_json::Value = response.json().await.unwrap_or_default();
        let code = fcm_error_code(&error);
        match (status.as_u16(), code.as_deref()) {
            (_, Some("UNREGISTERED")) | (404, _) => SendOutcome::Gone,
            (400, Some("INVALID_ARGUMENT")) => SendOutcome::Gone,
            (401, _) => {
                // The token was revoked or expired early: the next attempt takes a new one.
                *self.token.lock().await = None;
                SendOutcome::Retry { after: None, why: "401 from FCM".into() }
            }
            (code, _) => SendOutcome::Retry { after: retry_after, why: format!("HTTP {code}") },
        }
    }
}

/// The FCM v1 request body.
fn body(device_token: &str, m: &PushMessage) -> serde_json::Value {
    let mut message = serde_json::json!({
        "token": device_token,
        "notification": { "title": m.title, "body": m.body },
        "data": m.data,
    });
    if let Some(key) = &m.collapse_key {
        message["android"] = serde_json::json!({ "collapse_key": key });
        message["apns"] = serde_json::json!({ "headers": { "apns-collapse-id": key } });
    }
    serde_json::json!({ "message": message })
}

/// `errorCode` of FCM's error details, else the error's `status`.
fn fcm_error_code(error: &serde_json::Value) -> Option<String> {
    let details = error["error"]["details"].as_array();
    details
        .and_then(|d| d.iter().find_map(|x| x["errorCode"].as_str()))
        .or_else(|| error["error"]["status"].as_str())
        .map(str::to_owned)
}
