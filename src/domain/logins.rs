//! What a sign-in attempt came to.

use super::stored_text;

stored_text! {
    /// A sign-in attempt's outcome (`login_attempts.outcome`, whose CHECK allows exactly these four).
    pub enum LoginOutcome {
        Success = "success",
        /// Wrong password or unknown phone: the only outcome that counts toward throttling.
        BadCredentials = "bad_credentials",
        Throttled = "throttled",
        Banned = "banned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn an_outcome_is_what_the_login_attempts_check_allows() {
        assert_stored_as(
            LoginOutcome::ALL,
            &["success", "bad_credentials", "throttled", "banned"],
            LoginOutcome::as_str,
            LoginOutcome::parse,
        );
    }
}
