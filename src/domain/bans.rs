//! Ban reason codes: why an account is banned, as the banned user is shown it; and where an appeal against a ban
//! stands.

use super::stored_text;

stored_text! {
    /// A ban's reason code (`bans.reason_code`, and `users.ban_reason` while the ban holds). The user is shown
    /// the code; docs/admin.md explains each, and a moderator's ban (`POST /v1/admin/users/{id}/ban`) must name
    /// one of them. The column has no CHECK: migration 0010 turned older free-text reasons into `reports` or
    /// `other`.
    pub enum BanReason {
        Spam = "spam",
        Harassment = "harassment",
        Hate = "hate",
        SexualContent = "sexual_content",
        Underage = "underage",
        Scam = "scam",
        Impersonation = "impersonation",
        Violence = "violence",
        /// The automatic ban: enough distinct reporters (the moderation job).
        Reports = "reports",
        /// Anything else; the moderator's note says what.
        Other = "other",
    }
}

stored_text! {
    /// Where an appeal stands (`appeals.status`, whose CHECK allows exactly these three). A moderator decides a
    /// `pending` one once.
    pub enum AppealStatus {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn a_ban_reason_is_one_of_the_codes_docs_admin_md_lists() {
        let doc = include_str!("../../docs/admin.md");
        let table = doc.split("| code | for |").nth(1).expect("the reason codes' table");
        let listed: Vec<&str> = table
            .lines()
            .map(str::trim)
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .map(|l| l.split('`').nth(1).unwrap())
            .collect();
        assert_stored_as(BanReason::ALL, &listed, BanReason::as_str, BanReason::parse);
    }

    #[test]
    fn an_appeal_status_is_what_the_appeals_check_allows() {
        assert_stored_as(
            AppealStatus::ALL,
            &["pending", "accepted", "rejected"],
            AppealStatus::as_str,
            AppealStatus::parse,
        );
    }
}
