//! `[moderation]`: what a statement of reasons cites (docs/operations.md "Statements of reasons"): the clause of
//! the operator's terms behind each ban reason code, how a user appeals, and what the operator's export says of
//! the platform. The store copies the ground into each statement when the decision is taken, so changing the
//! terms later rewrites no statement.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};
use crate::domain::BanReason;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModerationConfig {
    /// The service's name in the operator's export.
    pub platform_name: String,
    /// The operator's terms of service (http(s)); a ground without a URL of its own points here, at its clause.
    pub terms_url: String,
    /// Where decisions apply, for the export: ISO 3166 two-letter codes, or `EU`, `EEA`, `EEA_no_IS`.
    pub territorial_scope: Vec<String>,
    /// How a banned user contests a ban; every ban's statement carries it.
    pub appeal_instructions: String,
    /// What is left once a decision is final (a decided appeal or report): outside the service.
    pub final_redress: String,
    /// The terms' clause behind each ban reason code (docs/admin.md lists the codes); a code left out keeps its
    /// default.
    pub grounds: BTreeMap<String, Ground>,
}

/// One clause of the operator's terms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ground {
    /// The clause's number or id, e.g. `4.2`.
    pub clause: String,
    /// What the clause forbids, in a sentence.
    pub text: String,
    /// The clause's own address; unset: `terms_url#clause-<clause>`.
    #[serde(default)]
    pub url: Option<String>,
    /// Set when the conduct is also illegal: the law relied on (e.g. "TCK 226"). The export then names the
    /// ground as illegal content rather than only a breach of the terms.
    #[serde(default)]
    pub law: Option<String>,
}

/// A ground as a statement stores it: resolved from the configuration at the time of the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedGround {
    pub key: BanReason,
    pub clause: String,
    pub text: String,
    pub url: String,
    pub law: Option<String>,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        let grounds = BanReason::ALL
            .iter()
            .map(|&code| {
                let (clause, text) = default_ground(code);
                (code.as_str().to_owned(), Ground { clause: clause.into(), text: text.into(), url: None, law: None })
            })
            .collect();
        Self {
            platform_name: "tanis".into(),
            terms_url: "https://tanis.example/terms".into(),
            territorial_scope: vec!["EEA".into()],
            appeal_instructions:
                "You can appeal once against this ban: sign in with your phone number and password on \
                                  the ban screen and write why it should be lifted. A moderator (a person) reviews \
                                  it and you are notified of the decision."
                    .into(),
            final_redress: "This decision is final within the service. You may turn to a certified out-of-court \
                            dispute settlement body or to the courts."
                .into(),
            grounds,
        }
    }
}

/// The default clause of each reason code; operators replace them with their own terms' numbering.
fn default_ground(code: BanReason) -> (&'static str, &'static str) {
    match code {
        BanReason::Spam => ("4.1", "No spam, advertising or repeated unsolicited messages."),
        BanReason::Harassment => ("4.2", "No harassment, insults or threats against the people you talk to."),
        BanReason::Hate => ("4.3", "No hate speech against people for who they are."),
        BanReason::SexualContent => ("4.4", "No sexual content or nudity without the other person's consent."),
        BanReason::Underage => ("3.1", "You must be old enough to use the service."),
        BanReason::ChildSexualAbuse => (
            "3.2",
            "No sexual content involving a child, and no sexual approach to a child, ever; we report it to the \
             authorities.",
        ),
        BanReason::Scam => ("4.5", "No scams, fraud or requests for money."),
        BanReason::Impersonation => ("4.6", "Do not pretend to be someone else."),
        BanReason::Violence => ("4.7", "No violence, threats of violence or content that promotes it."),
        BanReason::Reports => ("5.1", "An account reported by many of the people it was matched with is banned."),
        BanReason::Other => ("4.8", "Any other use that breaks these terms."),
    }
}

impl ModerationConfig {
    /// The ground for `code` as a statement stores it. `validate` has checked that every configured key is a
    /// code; a code the file left out keeps its default (figment merges the file over the defaults).
    pub fn ground(&self, code: BanReason) -> ResolvedGround {
        let fallback;
        let ground = match self.grounds.get(code.as_str()) {
            Some(g) => g,
            None => {
                let (clause, text) = default_ground(code);
                fallback = Ground { clause: clause.into(), text: text.into(), url: None, law: None };
                &fallback
            }
        };
        let url = ground.url.clone().unwrap_or_else(|| format!("{}#clause-{}", self.terms_url, ground.clause));
        ResolvedGround {
            key: code,
            clause: ground.clause.clone(),
            text: ground.text.clone(),
            url,
            law: ground.law.clone(),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let text_ok = |s: &str, max: usize| !s.trim().is_empty() && s.chars().count() <= max;
        if !text_ok(&self.platform_name, 100) {
            return Err(invalid("moderation.platform_name", "must be 1 to 100 characters"));
        }
        if !is_http_url(&self.terms_url) {
            return Err(invalid("moderation.terms_url", "must be an http:// or https:// URL"));
        }
        let scope_ok = |s: &String| {
            matches!(s.as_str(), "EU" | "EEA" | "EEA_no_IS")
                || (s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase()))
        };
        if self.territorial_scope.is_empty() || !self.territorial_scope.iter().all(scope_ok) {
            return Err(invalid(
                "moderation.territorial_scope",
                "must list ISO 3166 two-letter codes (upper case) or EU, EEA, EEA_no_IS",
            ));
        }
        if !text_ok(&self.appeal_instructions, 2000) || !text_ok(&self.final_redress, 2000) {
            return Err(invalid("moderation", "appeal_instructions and final_redress must be 1 to 2000 characters"));
        }
        for (key, ground) in &self.grounds {
            if BanReason::parse(key).is_none() {
                return Err(invalid("moderation.grounds", format!("{key:?} is no ban reason code (docs/admin.md)")));
            }
            let fine = text_ok(&ground.clause, 50)
                && text_ok(&ground.text, 1000)
                && ground.url.as_deref().is_none_or(is_http_url)
                && ground.law.as_deref().is_none_or(|l| text_ok(l, 500));
            if !fine {
                return Err(invalid(
                    "moderation.grounds",
                    format!("{key}: clause 1 to 50 characters, text 1 to 1000, url http(s), law 1 to 500"),
                ));
            }
        }
        Ok(())
    }
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() <= 500 && !s.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_ban_reason_has_a_default_ground_pointing_at_the_terms() {
        let config = ModerationConfig::default();
        config.validate().unwrap();
        for &code in BanReason::ALL {
            let ground = config.ground(code);
            assert!(ground.url.starts_with("https://tanis.example/terms#clause-"), "{ground:?}");
        }
    }

    #[test]
    fn bad_grounds_scopes_and_urls_are_refused_naming_the_key() {
        type Spoil = fn(&mut ModerationConfig);
        let bad: [(&str, Spoil); 6] = [
            ("moderation.terms_url", |m| m.terms_url = "ftp://x".into()),
            ("moderation.territorial_scope", |m| m.territorial_scope = vec!["tr".into()]),
            ("moderation.territorial_scope", |m| m.territorial_scope.clear()),
            ("moderation.grounds", |m| {
                m.grounds
                    .insert("rudeness".into(), Ground { clause: "1".into(), text: "x".into(), url: None, law: None });
            }),
            ("moderation.grounds", |m| m.grounds.get_mut("spam").unwrap().clause = " ".into()),
            ("moderation.platform_name", |m| m.platform_name = String::new()),
        ];
        for (key, spoil) in bad {
            let mut config = Config::default();
            spoil(&mut config.moderation);
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn a_file_replaces_one_ground_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tanis.toml");
        std::fs::write(
            &file,
            "[moderation]\nterms_url = \"https://op.example/kurallar\"\n\
             [moderation.grounds.scam]\nclause = \"7\"\ntext = \"Dolandırıcılık yasak.\"\nlaw = \"TCK 158\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        let scam = config.moderation.ground(BanReason::Scam);
        assert_eq!((scam.clause.as_str(), scam.url.as_str()), ("7", "https://op.example/kurallar#clause-7"));
        assert_eq!(scam.law.as_deref(), Some("TCK 158"));
        assert_eq!(config.moderation.ground(BanReason::Spam).clause, "4.1");
    }
}
