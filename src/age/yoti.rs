//! Yoti's Age Verification service ("AVS", `https://age.yoti.com`), as its public documentation describes it
//! (developers.yoti.com: "Age verification" › "Create a session", "Launch the user view", "Results"; and the API
//! reference "age-verification-api"):
//!
//! - `POST {base}/api/v1/sessions` with `Authorization: Bearer <API key>`, `Yoti-SDK-Id: <SDK ID>` and
//!   `Content-Type: application/json`; the body says `type: "OVER"`, the methods allowed with their `threshold`
//!   (`age_estimation`, `digital_id`, `doc_scan`), the session's `ttl` in seconds, where to send the user back
//!   (`callback: {auto, url}`, `cancel_url`). The answer is `{"id": <session id>, "expires_at": …}`.
//! - The user is sent to `{base}?sessionId=<id>&sdkId=<SDK ID>`, Yoti's own page: they prove their age there,
//!   never here.
//! - `GET {base}/api/v1/sessions/{id}/result` with the same headers answers the session with its `status`
//!   (`PENDING`, `IN_PROGRESS`, `COMPLETE`, `FAIL`, `ERROR`, `CANCELLED`; more may come), the `age` (for `OVER`:
//!   the threshold the user was found at or over) and the `method` used.
//!
//! Chosen over a document-scan API (which hands the relying party the document's data) because its answer is the
//! least we need: over or not, and how, with no document, image or birth date crossing to us. We send Yoti
//! nothing about the account (no `reference_id`): the session id is the only link, kept on our side.
//!
//! A refusal's body is not logged or kept (it may echo what was sent); only the HTTP status is.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::AgeAssuranceConfig;

/// Why the provider gave no usable answer. Never holds the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered, but not with success.
    #[error("the age assurance provider refused the request: HTTP {0}")]
    Refused(u16),
    /// No answer in time, or no connection.
    #[error("the age assurance provider could not be reached: {0}")]
    Unreachable(String),
    /// A success whose body is not what the provider documents.
    #[error("the age assurance provider's answer was not understood: {0}")]
    Malformed(&'static str),
}

/// A session just created at the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The provider's session id: our reference.
    pub id: String,
    /// When the session runs out, if the provider said.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A session's result as the provider reports it (only the fields we read; the others are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionResult {
    pub id: String,
    pub status: String,
    /// For an `OVER` session: the threshold the user was found at or over.
    #[serde(default)]
    pub age: Option<i64>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// One allowed method and the age it is held to.
#[derive(Serialize)]
struct Method {
    allowed: bool,
    threshold: u8,
    level: &'static str,
}

#[derive(Serialize)]
struct DocScan {
    allowed: bool,
    threshold: u8,
    authenticity: &'static str,
    level: &'static str,
}

#[derive(Serialize)]
struct Callback<'a> {
    auto: bool,
    url: &'a str,
}

/// The body of `POST /api/v1/sessions`.
#[derive(Serialize)]
struct NewSession<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    age_estimation: Method,
    digital_id: Method,
    doc_scan: DocScan,
    ttl: u32,
    callback: Callback<'a>,
    cancel_url: &'a str,
}

#[derive(Deserialize)]
struct CreatedBody {
    id: String,
    #[serde(default)]
    expires_at: Option<String>,
}

/// Yoti's AVS API for one service (SDK ID).
pub struct Yoti {
    http: reqwest::Client,
    base_url: String,
    sdk_id: String,
    /// Sent as the bearer token; never printed (this type has no `Debug`).
    api_key: String,
    return_url: String,
    threshold: u8,
    estimation_threshold: u8,
    ttl: u32,
}

/// A session id we put in a URL's path and query and store: what Yoti's are (UUIDs), bounded.
fn plausible_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A timestamp as the provider writes it (RFC 3339); anything else is as good as none.
fn timestamp(text: Option<&str>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

impl Yoti {
    pub fn new(config: &AgeAssuranceConfig) -> anyhow::Result<Self> {
        let setting = |value: &Option<String>, key: &str| {
            value.clone().with_context(|| format!("age_assurance.provider = \"yoti\" needs {key}"))
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // The provider is one fixed host: a redirect elsewhere would carry the key away.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the age assurance provider's HTTP client")?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            sdk_id: setting(&config.sdk_id, "age_assurance.sdk_id")?,
            api_key: setting(&config.api_key, "age_assurance.api_key")?,
            return_url: setting(&config.return_url, "age_assurance.return_url")?,
            threshold: config.threshold,
            estimation_threshold: config.estimation_threshold,
            ttl: config.session_ttl_secs,
        })
    }

    /// The page the user proves their age on.
    pub fn page_url(&self, id: &str) -> String {
        format!("{}?sessionId={id}&sdkId={}", self.base_url, self.sdk_id)
    }

    fn request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(&self.api_key).header("Yoti-SDK-Id", &self.sdk_id)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        // Without the URL: it names the session, which is the user's business.
        let response = request.send().await.map_err(|e| ProviderError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Refused(status.as_u16()));
        }
        Ok(response)
    }

    /// Creates a session asking whether the user is at or over the threshold, by the provider's facial age
    /// estimation (held to the higher `estimation_threshold`), a digital ID or an identity document.
    pub async fn create_session(&self) -> Result<Created, ProviderError> {
        let body = NewSession {
            kind: "OVER",
            age_estimation: Method { allowed: true, threshold: self.estimation_threshold, level: "PASSIVE" },
            digital_id: Method { allowed: true, threshold: self.threshold, level: "NONE" },
            doc_scan: DocScan { allowed: true, threshold: self.threshold, authenticity: "AUTO", level: "PASSIVE" },
            ttl: self.ttl,
            callback: Callback { auto: true, url: &self.return_url },
            cancel_url: &self.return_url,
        };
        let url = format!("{}/api/v1/sessions", self.base_url);
        let response = self.send(self.request(self.http.post(url)).json(&body)).await?;
        let created: CreatedBody = response
            .json()
            .await
            .map_err(|_| ProviderError::Malformed("the created session is not JSON with an id"))?;
        if !plausible_id(&created.id) {
            return Err(ProviderError::Malformed("the session id is not an id"));
        }
        Ok(Created { id: created.id, expires_at: timestamp(created.expires_at.as_deref()) })
    }

    /// The result of session `id` as it stands.
    pub async fn result(&self, id: &str) -> Result<SessionResult, ProviderError> {
        let url = format!("{}/api/v1/sessions/{id}/result", self.base_url);
        let response = self.send(self.request(self.http.get(url))).await?;
        let result: SessionResult =
            response.json().await.map_err(|_| ProviderError::Malformed("the result is not JSON with id and status"))?;
        if result.id != id {
            return Err(ProviderError::Malformed("the result is of another session"));
        }
        Ok(result)
    }
}

impl SessionResult {
    /// When the session runs out, as the provider says.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        timestamp(self.expires_at.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_id_safe_in_a_url_is_taken() {
        assert!(plausible_id("affa597b-84fd-4481-a6c0-d3c30c43155e"));
        for bad in ["", "a/b", "a?b=c", "a&sdkId=x", &"a".repeat(65)] {
            assert!(!plausible_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_result_is_read_from_the_documented_fields_and_the_rest_ignored() {
        let body = r#"{"sdk_id":"s","type":"OVER","age":18,"status":"COMPLETE","method":"AGE_ESTIMATION",
            "expires_at":"2030-10-30T20:04:00.263517Z","id":"affa","evidence_id":"e","biometric_consent_required":true}"#;
        let result: SessionResult = serde_json::from_str(body).unwrap();
        assert_eq!(
            (result.age, result.method.as_deref(), result.status.as_str()),
            (Some(18), Some("AGE_ESTIMATION"), "COMPLETE")
        );
        assert_eq!(result.expires_at().unwrap().to_rfc3339(), "2030-10-30T20:04:00.263517+00:00");
        let pending: SessionResult = serde_json::from_str(r#"{"id":"affa","status":"PENDING"}"#).unwrap();
        assert_eq!((pending.age, pending.method), (None, None));
    }
}
