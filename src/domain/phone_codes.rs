//! What a one-time code sent by SMS is for.

use super::stored_text;

stored_text! {
    /// What a code is for (`phone_codes.purpose`, whose CHECK allows exactly these three).
    pub enum CodePurpose {
        /// The account's own phone, after registration or later.
        Verify = "verify",
        /// A new phone for the account: the code goes to the new one.
        Change = "change",
        /// A forgotten password: the code goes to the account's verified phone.
        Reset = "reset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn a_purpose_is_what_the_phone_codes_check_allows() {
        assert_stored_as(CodePurpose::ALL, &["verify", "change", "reset"], CodePurpose::as_str, CodePurpose::parse);
    }
}
