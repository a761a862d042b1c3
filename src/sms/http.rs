//! An SMS provider's HTTP API in Twilio's Messages format: `POST {sms.http_url}` with HTTP Basic auth
//! (`sms.account`:`sms.token`) and a form body `To` (E.164), `From` (`sms.from`), `Body`. Any 2xx is accepted;
//! any other answer, or none within `sms.timeout_ms`, is a failure. Twilio's URL is
//! `https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json`; other providers (and tests' local
//! stand-in, tests/api/phone_codes.rs) take the same request at a URL of their own.
//!
//! A refusal's body is not logged or kept: Twilio's error messages repeat the number ("The 'To' number +90… is
//! not valid"). Only its numeric `code` is, which names the reason in Twilio's error catalogue.

use std::time::Duration;

use anyhow::Context;

use super::{CodeSms, Sending, SmsError, SmsSender};
use crate::config::SmsConfig;

pub struct HttpSender {
    http: reqwest::Client,
    url: String,
    account: String,
    /// Sent as the Basic auth password; never printed (this type has no `Debug`).
    token: String,
    from: String,
}

impl HttpSender {
    pub fn new(config: &SmsConfig) -> anyhow::Result<Self> {
        let setting = |value: &Option<String>, key: &str| {
            value.clone().with_context(|| format!("sms.provider = \"http\" needs {key}"))
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // The provider is one fixed host: a redirect elsewhere would carry the credentials away.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the SMS provider's HTTP client")?;
        Ok(Self {
            http,
            url: setting(&config.http_url, "sms.http_url")?,
            account: setting(&config.account, "sms.account")?,
            token: setting(&config.token, "sms.token")?,
            from: setting(&config.from, "sms.from")?,
        })
    }

    async fn post(&self, sms: &CodeSms<'_>) -> Result<(), SmsError> {
        let text = sms.text();
        let form = [("To", sms.to.as_str()), ("From", self.from.as_str()), ("Body", text.as_str())];
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.account, Some(&self.token))
            .form(&form)
            .send()
            .await
            // Without the URL: the error would name the provider's account path, and that is no one's business.
            .map_err(|e| SmsError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let code = body.get("code").filter(|c| c.is_number() || c.is_string()).map(|c| match c {
            serde_json::Value::String(s) => s.chars().filter(char::is_ascii_alphanumeric).take(16).collect(),
            other => other.to_string(),
        });
        Err(SmsError::Refused { status: status.as_u16(), code })
    }
}

impl SmsSender for HttpSender {
    fn send<'a>(&'a self, sms: &'a CodeSms<'a>) -> Sending<'a> {
        Box::pin(self.post(sms))
    }
}
