//! Text messages to phones: only one-time codes (phone verification, phone change, password reset), through
//! whichever [`SmsSender`] the configuration names (`sms.provider`):
//!
//! - [`http`]: an SMS provider's HTTP API in Twilio's Messages format, which most providers also accept;
//! - [`log`]: the development sender, which writes the code to the server's log so that the zero-setup
//!   `tanis serve` works without a provider. Production refuses it (src/config/mod.rs).
//!
//! This module owns the wire and the text; when and to whom a code goes, and the limits on it, are `accounts`'.
//! A phone number reaches this module only to be handed to the provider: no log line and no error here carries
//! it (the development sender shows its last two digits, so a developer can tell two test phones apart).

pub mod http;
pub mod log;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::{SmsConfig, SmsProvider};
use crate::domain::{Phone, UserId};
use crate::notices::Locale;

/// One code on its way to a phone.
#[derive(Debug, Clone)]
pub struct CodeSms<'a> {
    pub to: &'a Phone,
    /// The six digits.
    pub code: &'a str,
    /// The language of the text (the account's; Turkish when there is no account).
    pub locale: Locale,
    /// Minutes the code lives, as the text states it.
    pub valid_minutes: u32,
    /// Whose code it is, for the log; `None` never happens today (no code goes to a phone without an account).
    pub user_id: Option<UserId>,
    /// `verify`, `change` or `reset`: for the log and the metrics.
    pub purpose: &'static str,
}

impl CodeSms<'_> {
    /// The text the person receives: the code and its lifetime, nothing else (no link, no name of the account).
    pub fn text(&self) -> String {
        let (code, minutes) = (self.code, self.valid_minutes);
        match self.locale {
            Locale::Tr => format!("tanis doğrulama kodunuz: {code}. Kod {minutes} dakika geçerlidir."),
            Locale::En => format!("Your tanis code is {code}. It expires in {minutes} minutes."),
        }
    }
}

/// Why a message did not go out. Never holds the phone number or the provider's credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The provider answered, but not with success.
    #[error("the SMS provider refused the message: HTTP {status}{}", provider_code(.code))]
    Refused { status: u16, code: Option<String> },
    /// No answer in time, or no connection.
    #[error("the SMS provider could not be reached: {0}")]
    Unreachable(String),
}

fn provider_code(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" (provider code {c})")).unwrap_or_default()
}

/// What `send` returns: a boxed future, so senders can be chosen at run time (`Arc<dyn SmsSender>`).
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// A way to get a code to a phone. `Ok` means the provider accepted the message, not that it arrived.
pub trait SmsSender: Send + Sync + 'static {
    fn send<'a>(&'a self, sms: &'a CodeSms<'a>) -> Sending<'a>;
}

/// The sender the configuration asks for (validated at load: an `http` provider has its URL and credentials).
pub fn sender(config: &SmsConfig) -> anyhow::Result<Arc<dyn SmsSender>> {
    Ok(match config.provider {
        SmsProvider::Log => Arc::new(log::LogSender),
        SmsProvider::Http => Arc::new(http::HttpSender::new(config)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(locale: Locale) -> String {
        let phone = Phone::parse("+905321234567").unwrap();
        CodeSms { to: &phone, code: "042917", locale, valid_minutes: 5, user_id: Some(UserId(7)), purpose: "verify" }
            .text()
    }

    #[test]
    fn the_text_says_the_code_and_its_lifetime_in_the_users_language_and_nothing_else() {
        assert_eq!(sms(Locale::Tr), "tanis doğrulama kodunuz: 042917. Kod 5 dakika geçerlidir.");
        assert_eq!(sms(Locale::En), "Your tanis code is 042917. It expires in 5 minutes.");
    }

    #[test]
    fn errors_name_no_phone() {
        let e = SmsError::Refused { status: 400, code: Some("21211".into()) };
        assert_eq!(e.to_string(), "the SMS provider refused the message: HTTP 400 (provider code 21211)");
    }
}
