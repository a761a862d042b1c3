//! Where a claim (a user's "I was there" for a match, for quota) stands.

use super::stored_text;

stored_text! {
    /// A claim's status (`claims.status`, whose CHECK allows exactly these three). The claims job decides a
    /// `pending` one once.
    pub enum ClaimStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn a_claim_status_is_what_the_claims_check_allows() {
        assert_stored_as(
            ClaimStatus::ALL,
            &["pending", "approved", "rejected"],
            ClaimStatus::as_str,
            ClaimStatus::parse,
        );
    }
}
