use std::fmt;

/// Passwords that attackers try first, lower-cased. A short list on purpose: it blocks the obvious,
/// the length rule and throttling do the rest.
const COMMON: &str = include_str!("common_passwords.txt");

/// bcrypt silently ignores everything after 72 bytes, so longer passwords are refused rather than truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A password that passed the rules. Its Debug output is redacted so it cannot leak into logs.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least 8 characters")]
    TooShort,
    #[error("the password must be at most 72 bytes")]
    TooLong,
    #[error("the password is too common")]
    Common,
}

impl Password {
    pub fn parse(input: String) -> Result<Self, PasswordError> {
        if input.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if input.chars().count() < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        let lower = input.to_lowercase();
        let one_repeated_char = lower.chars().all(|c| lower.starts_with(c));
        if one_repeated_char || COMMON.lines().any(|common| common == lower) {
            return Err(PasswordError::Common);
        }
        Ok(Self(input))
    }

    /// For login: no strength rules (the account may predate them), only what bcrypt can take.
    pub fn for_login(input: String) -> Result<Self, PasswordError> {
        if input.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(input))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters_and_capped_in_bytes() {
        assert_eq!(Password::parse("kısa123".into()).unwrap_err(), PasswordError::TooShort);
        assert!(Password::parse("çğıöşü12".into()).is_ok(), "8 characters, 14 bytes");
        assert_eq!(Password::parse("ş".repeat(37)).unwrap_err(), PasswordError::TooLong, "74 bytes");
        assert!(Password::parse("a1".repeat(36)).is_ok(), "exactly 72 bytes");
    }

    #[test]
    fn common_and_repeated_passwords_are_refused_whatever_their_case() {
        for bad in ["password", "PassWord1", "12345678", "qwertyuiop", "zzzzzzzzzz"] {
            assert_eq!(Password::parse(bad.into()).unwrap_err(), PasswordError::Common, "{bad}");
        }
    }

    #[test]
    fn debug_output_is_redacted() {
        let p = Password::parse("correct horse battery".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
