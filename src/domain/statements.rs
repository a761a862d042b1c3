//! Statements of reasons: the vocabulary of a moderation decision's statement (what was decided, where it came
//! from, how automated, its DSA category) and the pure rules that write its facts. The store writes a statement in
//! the decision's own transaction (src/store/statements.rs); docs/admin.md "Statements of reasons" lists the fields.
//!
//! The facts are generated here from counts and codes only: never a moderator's note, a reporter's identity or
//! anyone's words, because the same text goes to the operator's export, which must carry no personal data.

use chrono::{DateTime, Utc};

use super::{BanReason, stored_text};

stored_text! {
    /// What a statement records (`statements.decision`).
    pub enum Decision {
        /// A ban until lifted.
        Ban = "ban",
        /// A ban with an end.
        TemporaryBan = "temporary_ban",
        /// A ban lifted by a moderator or ended by its time.
        BanLifted = "ban_lifted",
        /// A report a moderator dismissed; it concerns the reporter (the outcome of their notice).
        ReportDismissed = "report_dismissed",
        /// A report a moderator upheld; it concerns the reported user.
        ReportActioned = "report_actioned",
        /// An appeal accepted (its ban, if it still held, lifted with it).
        AppealAccepted = "appeal_accepted",
        AppealRejected = "appeal_rejected",
        /// The declared gender stopped being used for matching by gender: enough people reported the account
        /// "not as declared" (docs/admin.md "Declarations").
        DeclarationSuspended = "declaration_suspended",
        /// A moderator cleared that suspension: the declaration is used again.
        DeclarationCleared = "declaration_cleared",
        /// Video matching held, automatically, on a child-safety report from a reporter the trust rules count
        /// (docs/admin.md "Child safety first").
        VideoHeld = "video_held",
        /// A moderator decided the last open child-safety report about the account: video matching again.
        VideoHoldLifted = "video_hold_lifted",
    }
}

stored_text! {
    /// How far the decision was taken by automated means (DSA Art. 17(3)(c)).
    pub enum Automation {
        /// By a job, without a person (the automatic ban, a ban's expiry).
        Fully = "fully",
        /// By a person on an automated suggestion.
        Partially = "partially",
        /// By a moderator.
        Not = "not",
    }
}

stored_text! {
    /// What brought the matter to the service: users' reports (notices, DSA Art. 16) or its own initiative.
    pub enum Source {
        Notice = "notice",
        Voluntary = "voluntary",
    }
}

stored_text! {
    /// The DSA Transparency Database's category of a decision (its `STATEMENT_CATEGORY_*` values).
    pub enum Category {
        IllegalOrHarmfulSpeech = "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        PornographyOrSexualizedContent = "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
        ProtectionOfMinors = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        ScamsAndFraud = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        ScopeOfPlatformService = "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
        Violence = "STATEMENT_CATEGORY_VIOLENCE",
    }
}

impl Decision {
    /// Whether the decision restricts the account (the Transparency Database takes only those).
    pub fn restricts(self) -> bool {
        matches!(self, Decision::Ban | Decision::TemporaryBan)
    }
}

/// The category a ban reason falls under. The automatic ban (`reports`) takes the category of what most of its
/// reports named ([`ground_of_reports`]) before it gets here, so `reports` itself is only the fallback.
pub fn category(reason: BanReason) -> Category {
    match reason {
        BanReason::Harassment | BanReason::Hate => Category::IllegalOrHarmfulSpeech,
        BanReason::SexualContent => Category::PornographyOrSexualizedContent,
        BanReason::Underage | BanReason::ChildSexualAbuse => Category::ProtectionOfMinors,
        BanReason::Scam | BanReason::Impersonation => Category::ScamsAndFraud,
        BanReason::Violence => Category::Violence,
        BanReason::Spam | BanReason::Reports | BanReason::Other => Category::ScopeOfPlatformService,
    }
}

/// The ban reason code a report's reason (tanis_proto's `ReportReason`, as stored) corresponds to: the ground a
/// decision on that report relies on.
pub fn ground_of_report(reason: &str) -> BanReason {
    match reason {
        "spam" => BanReason::Spam,
        "harassment" => BanReason::Harassment,
        "nudity" => BanReason::SexualContent,
        "hate" => BanReason::Hate,
        "scam" => BanReason::Scam,
        "underage" => BanReason::Underage,
        "child_sexual_abuse" => BanReason::ChildSexualAbuse,
        _ => BanReason::Other,
    }
}

/// What most of the reports behind an automatic ban named, as a ban reason code: the most frequent reason,
/// ties going to the reason listed first in docs/admin.md (so the same reports always give the same answer).
pub fn ground_of_reports(counts: &[(String, i64)]) -> BanReason {
    let mut best: Option<(BanReason, i64)> = None;
    for (reason, n) in counts {
        let code = ground_of_report(reason);
        let rank = |c: BanReason| BanReason::ALL.iter().position(|r| *r == c);
        let better = match best {
            None => true,
            Some((b, m)) => *n > m || (*n == m && rank(code) < rank(b)),
        };
        if better {
            best = Some((code, *n));
        }
    }
    best.map_or(BanReason::Reports, |(code, _)| code)
}

/// What the facts of a statement are built from: counts and codes, nothing anyone wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub decision: Decision,
    /// Who decided: `None` for a job.
    pub by_moderator: bool,
    /// The ban reason code relied on (for a report, its reason's code; for the automatic ban, what most of its
    /// reports named).
    pub reason: BanReason,
    /// The terms' clause relied on (for the automatic ban, the `reports` clause).
    pub clause: String,
    /// Distinct people whose reports counted (for a report decision: 1).
    pub reporters: i64,
    /// Of those reports, how many carried verified evidence (report_evidence rows).
    pub with_evidence: i64,
    /// The automatic ban's threshold (`jobs.report_threshold`: distinct people whose reports count, each once),
    /// when a job banned.
    pub threshold: Option<i64>,
    /// A temporary ban's end.
    pub ends_at: Option<DateTime<Utc>>,
    /// For an accepted appeal: whether its ban still held (and was lifted by it).
    pub lifted: bool,
}

/// The statement's facts, in plain English, from [`Facts`] alone.
pub fn facts(f: &Facts) -> String {
    let reason = f.reason.as_str().replace('_', " ");
    let reported = reports_sentence(f.reporters, f.with_evidence);
    match f.decision {
        Decision::Ban | Decision::TemporaryBan if !f.by_moderator => {
            // Each person counts once, with or without evidence: evidence shows who wrote a message, and a
            // moderator, not the count, decides whether it broke the rules.
            let threshold = f.threshold.map(|t| format!(" (the threshold is {t} people)")).unwrap_or_default();
            format!(
                "The account was banned automatically under clause {}: enough different people who were matched \
                 with it reported it{threshold}. {reported} Most reports named {reason}.",
                f.clause
            )
        }
        Decision::Ban | Decision::TemporaryBan => {
            let until = f.ends_at.map(|e| format!(" until {}", e.to_rfc3339())).unwrap_or_default();
            let mut text = format!("A moderator banned the account{until} for {reason}, clause {}.", f.clause);
            if f.reporters > 0 {
                text.push(' ');
                text.push_str(&reported);
            }
            text
        }
        Decision::BanLifted if f.by_moderator => "A moderator lifted the ban.".to_owned(),
        Decision::BanLifted => "The temporary ban ended at the time set when it was imposed.".to_owned(),
        Decision::AppealAccepted if f.lifted => {
            "A moderator reviewed the appeal against the ban and accepted it; the ban was lifted.".to_owned()
        }
        Decision::AppealAccepted => {
            "A moderator reviewed the appeal against the ban and accepted it; the ban had already ended.".to_owned()
        }
        Decision::AppealRejected => {
            "A moderator reviewed the appeal against the ban and rejected it; the ban stays.".to_owned()
        }
        Decision::ReportDismissed => format!(
            "A moderator reviewed a report for {reason} and dismissed it: no breach of clause {} was found. {}",
            f.clause,
            evidence_sentence(f.with_evidence)
        ),
        Decision::DeclarationSuspended => format!(
            "The declared gender stopped being used for matching by gender, automatically: {} who were matched with \
             the account reported that it was not as declared{}. The account is not otherwise restricted; a \
             moderator can clear this.",
            people(f.reporters),
            f.threshold.map(|t| format!(" (the threshold is {})", people(t))).unwrap_or_default()
        ),
        Decision::DeclarationCleared => "A moderator reviewed the reports that the account was not as declared and \
             cleared them: the declared gender is used for matching again."
            .to_owned(),
        Decision::VideoHeld => format!(
            "Video matching was held automatically, until a moderator reviews it: a person matched with the account \
             reported a risk to a child ({reason}). Text matching and everything else work as before."
        ),
        Decision::VideoHoldLifted => "A moderator reviewed the reports of a risk to a child about the account: video \
             matching works again."
            .to_owned(),
        Decision::ReportActioned => format!(
            "A moderator reviewed a report about the account for {reason} and upheld it under clause {}. {}",
            f.clause,
            evidence_sentence(f.with_evidence)
        ),
    }
}

fn people(n: i64) -> String {
    if n == 1 { "1 person".to_owned() } else { format!("{n} people") }
}

fn reports_sentence(reporters: i64, with_evidence: i64) -> String {
    let people = people(reporters);
    let evidence = match with_evidence {
        0 => "none of the reports carried verified evidence".to_owned(),
        1 => "1 report carried verified evidence".to_owned(),
        n => format!("{n} reports carried verified evidence"),
    };
    format!("Reported by {people}; {evidence}.")
}

fn evidence_sentence(with_evidence: i64) -> &'static str {
    if with_evidence > 0 {
        "The report carried verified evidence (messages checked against what was sent)."
    } else {
        "The report carried no verified evidence."
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    fn base(decision: Decision) -> Facts {
        Facts {
            decision,
            by_moderator: true,
            reason: BanReason::Spam,
            clause: "4.2".into(),
            reporters: 0,
            with_evidence: 0,
            threshold: None,
            ends_at: None,
            lifted: false,
        }
    }

    #[test]
    fn the_decisions_are_the_eleven_the_schema_allows() {
        let allowed = [
            "ban",
            "temporary_ban",
            "ban_lifted",
            "report_dismissed",
            "report_actioned",
            "appeal_accepted",
            "appeal_rejected",
            "declaration_suspended",
            "declaration_cleared",
            "video_held",
            "video_hold_lifted",
        ];
        assert_stored_as(Decision::ALL, &allowed, Decision::as_str, Decision::parse);
        let restricting: Vec<_> = Decision::ALL.iter().filter(|d| d.restricts()).collect();
        assert_eq!(restricting, [&Decision::Ban, &Decision::TemporaryBan]);
    }

    #[test]
    fn every_ban_reason_has_a_category() {
        let table = [
            (BanReason::Spam, Category::ScopeOfPlatformService),
            (BanReason::Harassment, Category::IllegalOrHarmfulSpeech),
            (BanReason::Hate, Category::IllegalOrHarmfulSpeech),
            (BanReason::SexualContent, Category::PornographyOrSexualizedContent),
            (BanReason::Underage, Category::ProtectionOfMinors),
            (BanReason::ChildSexualAbuse, Category::ProtectionOfMinors),
            (BanReason::Scam, Category::ScamsAndFraud),
            (BanReason::Impersonation, Category::ScamsAndFraud),
            (BanReason::Violence, Category::Violence),
            (BanReason::Reports, Category::ScopeOfPlatformService),
            (BanReason::Other, Category::ScopeOfPlatformService),
        ];
        assert_eq!(table.len(), BanReason::ALL.len());
        for (reason, expected) in table {
            assert_eq!(category(reason), expected, "{reason}");
        }
    }

    #[test]
    fn a_report_reason_maps_to_a_ban_reason_and_the_most_named_wins() {
        let table: [(&[(&str, i64)], BanReason); 5] = [
            (&[], BanReason::Reports),
            (&[("nudity", 3), ("spam", 1)], BanReason::SexualContent),
            (&[("hate", 2), ("spam", 2)], BanReason::Spam),
            (&[("harassment", 1), ("scam", 4), ("underage", 4)], BanReason::Underage),
            (&[("something new", 5)], BanReason::Other),
        ];
        for (counts, expected) in table {
            let counts: Vec<(String, i64)> = counts.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
            assert_eq!(ground_of_reports(&counts), expected, "{counts:?}");
        }
    }

    #[test]
    fn facts_say_what_was_decided_and_on_what_without_anyones_words() {
        let auto = Facts {
            by_moderator: false,
            reason: BanReason::Harassment,
            reporters: 12,
            with_evidence: 3,
            threshold: Some(10),
            ..base(Decision::Ban)
        };
        let ends = "2026-12-01T00:00:00Z".parse().unwrap();
        let table = [
            (
                auto,
                "The account was banned automatically under clause 4.2: enough different people who were matched \
                 with it reported it (the threshold is 10 people). Reported by 12 people; 3 reports carried verified \
                 evidence. Most reports named harassment.",
            ),
            (base(Decision::Ban), "A moderator banned the account for spam, clause 4.2."),
            (
                Facts { ends_at: Some(ends), reporters: 1, ..base(Decision::TemporaryBan) },
                "A moderator banned the account until 2026-12-01T00:00:00+00:00 for spam, clause 4.2. Reported by 1 \
                 person; none of the reports carried verified evidence.",
            ),
            (base(Decision::BanLifted), "A moderator lifted the ban."),
            (
                Facts { by_moderator: false, ..base(Decision::BanLifted) },
                "The temporary ban ended at the time set when it was imposed.",
            ),
            (
                Facts { lifted: true, ..base(Decision::AppealAccepted) },
                "A moderator reviewed the appeal against the ban and accepted it; the ban was lifted.",
            ),
            (
                base(Decision::AppealRejected),
                "A moderator reviewed the appeal against the ban and rejected it; the ban stays.",
            ),
            (
                Facts { reason: BanReason::SexualContent, with_evidence: 2, ..base(Decision::ReportDismissed) },
                "A moderator reviewed a report for sexual content and dismissed it: no breach of clause 4.2 was \
                 found. The report carried verified evidence (messages checked against what was sent).",
            ),
            (
                base(Decision::ReportActioned),
                "A moderator reviewed a report about the account for spam and upheld it under clause 4.2. The \
                 report carried no verified evidence.",
            ),
        ];
        for (input, expected) in table {
            assert_eq!(facts(&input), expected);
        }
    }
}
