//! The development sender: the code goes to the server's log instead of a phone, so `tanis serve` with no
//! configuration can register and verify accounts. The line names the account and the purpose and shows the
//! phone's last two digits at most, never the number. Production refuses this sender (src/config/mod.rs): whoever
//! reads the log could sign in as anyone.

use super::{CodeSms, Sending, SmsSender};
use crate::domain::UserId;

#[derive(Debug, Clone, Copy, Default)]
pub struct LogSender;

impl SmsSender for LogSender {
    fn send<'a>(&'a self, sms: &'a CodeSms<'a>) -> Sending<'a> {
        let number = sms.to.as_str();
        let last_two = &number[number.len().saturating_sub(2)..];
        tracing::info!(
            user_id = sms.user_id.map(UserId::get),
            purpose = sms.purpose,
            code = sms.code,
            phone_ends_with = last_two,
            "one-time code (development SMS sender; set sms.provider = \"http\" to send it by SMS)"
        );
        Box::pin(std::future::ready(Ok(())))
    }
}
