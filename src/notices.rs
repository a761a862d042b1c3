//! Notifications: what the server tells a user outside a conversation (a ban and its end, an appeal's outcome, a
//! claim's verdict, a referral reward, an admin's broadcast). Each is stored as a [`Notice`] — a template name and
//! its parameters — and rendered in the user's language when it is read or delivered, so a user who switches
//! language sees their whole list in the new one. The texts are here, in Turkish and English; nothing else in
//! the server writes notification text.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tanis_proto::MatchKind;

pub use crate::domain::Locale;
use crate::domain::{BanReason, NotificationKind};
use crate::store::{NewNotification, NotificationRow};

/// One notification's meaning. Serialised as `{"template": …, "params": {…}}`: the two columns it is stored in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "template", content = "params", rename_all = "snake_case")]
pub enum Notice {
    /// The account was banned; `ends_at` is `None` for a ban until lifted.
    Banned { reason_code: BanReason, ends_at: Option<DateTime<Utc>> },
    /// A moderator lifted the ban.
    Unbanned {},
    /// A temporary ban ran out.
    BanExpired {},
    /// The appeal was accepted: the ban is lifted.
    AppealAccepted {},
    /// The appeal was rejected; the moderator's note is shown.
    AppealRejected { note: String },
    /// A claim was approved and one unit of `kind` refunded.
    ClaimApproved { kind: MatchKind },
    /// A "not as declared" report refunded one unit of `kind`.
    DeclarationRefund { kind: MatchKind },
    /// Enough people reported the declared gender as untrue: it is not used for matching by gender.
    DeclarationSuspended {},
    /// A moderator cleared that: the declared gender is used again.
    DeclarationCleared {},
    /// A report of a risk to a child holds video matching until a moderator reviews it.
    VideoHeld {},
    /// A moderator reviewed it: video matching works again.
    VideoHoldLifted {},
    /// Bonus text matches from a referral.
    ReferralReward { units: i32 },
    /// An admin's message, written in both languages.
    Broadcast { tr: String, en: String },
}

impl Notice {
    /// The `type` column: `claim` for a claim's refund, `system` for the rest.
    pub fn kind(&self) -> NotificationKind {
        match self {
            Notice::ClaimApproved { .. } | Notice::DeclarationRefund { .. } => NotificationKind::Claim,
            _ => NotificationKind::System,
        }
    }

    /// The template name and its parameters, as stored.
    pub fn to_columns(&self) -> (String, String) {
        let value = serde_json::to_value(self).expect("notices serialise");
        let template = value["template"].as_str().expect("tagged").to_owned();
        (template, value["params"].to_string())
    }

    /// Back from the stored columns; `None` for an unknown template (a newer server's) or bad parameters.
    pub fn from_columns(template: &str, params: &str) -> Option<Self> {
        let params: serde_json::Value = serde_json::from_str(params).ok()?;
        serde_json::from_value(serde_json::json!({ "template": template, "params": params })).ok()
    }

    /// The row the store writes: its type, template and parameters, and its English text (the `message` column,
    /// which a server that does not know the template shows instead).
    pub fn to_row(&self) -> NewNotification {
        let (template, params) = self.to_columns();
        NewNotification { kind: self.kind(), template, params, message: self.render(Locale::En) }
    }

    pub fn render(&self, locale: Locale) -> String {
        let en = locale == Locale::En;
        match self {
            Notice::Banned { reason_code, ends_at } => match (en, ends_at) {
                (true, Some(end)) => format!("Your account is banned ({reason_code}) until {}.", end.to_rfc3339()),
                (true, None) => format!("Your account is banned ({reason_code})."),
                (false, Some(end)) => {
                    format!("Hesabın {} tarihine kadar yasaklandı ({reason_code}).", end.to_rfc3339())
                }
                (false, None) => format!("Hesabın yasaklandı ({reason_code})."),
            },
            Notice::Unbanned {} if en => "Your ban was lifted.".into(),
            Notice::Unbanned {} => "Hesabındaki yasak kaldırıldı.".into(),
            Notice::BanExpired {} if en => "Your ban has ended.".into(),
            Notice::BanExpired {} => "Hesabındaki yasağın süresi doldu.".into(),
            Notice::AppealAccepted {} if en => "Your appeal was accepted and your ban lifted.".into(),
            Notice::AppealAccepted {} => "İtirazın kabul edildi, yasağın kaldırıldı.".into(),
            Notice::AppealRejected { note } if en => format!("Your appeal was rejected: {note}"),
            Notice::AppealRejected { note } => format!("İtirazın reddedildi: {note}"),
            Notice::ClaimApproved { kind } if en => {
                format!("Your claim was approved: one {} match was refunded.", kind.as_str())
            }
            Notice::ClaimApproved { kind } => {
                format!("Talebin onaylandı: bir {} eşleşme hakkın iade edildi.", turkish(*kind))
            }
            Notice::DeclarationRefund { kind } if en => {
                format!("Thank you for your report: one {} match was refunded.", kind.as_str())
            }
            Notice::DeclarationRefund { kind } => {
                format!("Bildirimin için teşekkürler: bir {} eşleşme hakkın iade edildi.", turkish(*kind))
            }
            Notice::DeclarationSuspended {} if en => "Several people you were matched with reported that you are not \
                the gender you declared. Until a moderator reviews it, your declaration is not used for matching by \
                gender; everything else works as before."
                .into(),
            Notice::DeclarationSuspended {} => {
                "Eşleştiğin birkaç kişi beyan ettiğin cinsiyette olmadığını bildirdi. Bir \
                moderatör inceleyene kadar beyanın cinsiyete göre eşleşmede kullanılmıyor; geri kalan her şey aynen \
                çalışıyor."
                    .into()
            }
            Notice::DeclarationCleared {} if en => {
                "A moderator reviewed the reports: your declared gender is used for matching again.".into()
            }
            Notice::DeclarationCleared {} => {
                "Bir moderatör bildirimleri inceledi: beyan ettiğin cinsiyet eşleşmede yeniden kullanılıyor.".into()
            }
            Notice::VideoHeld {} if en => {
                "Someone you were matched with reported a risk to a child. Until a moderator \
                reviews the report, you cannot start video matches; text matches work as before."
                    .into()
            }
            Notice::VideoHeld {} => "Eşleştiğin biri bir çocuk için risk bildirdi. Bir moderatör bildirimi inceleyene \
                kadar görüntülü eşleşme başlatamazsın; yazılı eşleşmeler aynen çalışıyor."
                .into(),
            Notice::VideoHoldLifted {} if en => {
                "A moderator reviewed the report: you can start video matches again.".into()
            }
            Notice::VideoHoldLifted {} => {
                "Bir moderatör bildirimi inceledi: yeniden görüntülü eşleşme başlatabilirsin.".into()
            }
            Notice::ReferralReward { units } if en => format!("Referral reward: {units} bonus text matches."),
            Notice::ReferralReward { units } => format!("Davet ödülü: {units} ek yazılı eşleşme hakkı."),
            Notice::Broadcast { en: text, .. } if en => text.clone(),
            Notice::Broadcast { tr, .. } => tr.clone(),
        }
    }
}

/// A match kind as the Turkish texts name it.
fn turkish(kind: MatchKind) -> &'static str {
    match kind {
        MatchKind::Video => "görüntülü",
        MatchKind::Text => "yazılı",
    }
}

impl NotificationRow {
    /// The text in `locale`.
    pub fn text(&self, locale: Locale) -> String {
        text_of(self.template.as_deref(), &self.params, &self.message, locale)
    }
}

/// The text of a stored notification in `locale`: from its template when it has one, else the text stored with
/// it (rows from before templates).
pub fn text_of(template: Option<&str>, params: &str, stored: &str, locale: Locale) -> String {
    template.and_then(|t| Notice::from_columns(t, params)).map_or_else(|| stored.to_owned(), |n| n.render(locale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_round_trips_through_its_columns_and_renders_in_both_languages() {
        let end = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
        let all = [
            Notice::Banned { reason_code: BanReason::Spam, ends_at: Some(end) },
            Notice::Banned { reason_code: BanReason::Spam, ends_at: None },
            Notice::Unbanned {},
            Notice::BanExpired {},
            Notice::AppealAccepted {},
            Notice::AppealRejected { note: "kanıt açık".into() },
            Notice::ClaimApproved { kind: MatchKind::Video },
            Notice::DeclarationRefund { kind: MatchKind::Text },
            Notice::DeclarationSuspended {},
            Notice::DeclarationCleared {},
            Notice::VideoHeld {},
            Notice::VideoHoldLifted {},
            Notice::ReferralReward { units: 3 },
            Notice::Broadcast { tr: "Merhaba".into(), en: "Hello".into() },
        ];
        for notice in all {
            let (template, params) = notice.to_columns();
            assert_eq!(Notice::from_columns(&template, &params).as_ref(), Some(&notice), "{template} {params}");
            let (tr, en) = (notice.render(Locale::Tr), notice.render(Locale::En));
            assert!(!tr.is_empty() && !en.is_empty());
            assert_ne!(tr, en, "{template} has a text per language");
        }
    }

    #[test]
    fn rows_without_a_known_template_keep_their_stored_text() {
        assert_eq!(text_of(None, "{}", "eski metin", Locale::En), "eski metin");
        assert_eq!(text_of(Some("from_the_future"), "{}", "stored", Locale::Tr), "stored");
        assert_eq!(text_of(Some("unbanned"), "{}", "stored", Locale::En), "Your ban was lifted.");
        assert_eq!(text_of(Some("banned"), "{\"reason_code\": 7}", "stored", Locale::En), "stored");
        assert_eq!(text_of(Some("banned"), "{\"reason_code\": \"rude\"}", "stored", Locale::En), "stored");
    }
}
