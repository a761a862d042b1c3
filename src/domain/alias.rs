use std::fmt;

use rand::Rng;
use unicode_normalization::UnicodeNormalization;

/// Names strangers could mistake for staff. Compared after lower-casing and dropping digits and
/// underscores, so `Admin_1` and `moderator99` are refused too.
const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "moderator",
    "mod",
    "tanis",
    "system",
    "support",
    "staff",
    "official",
    "root",
    "yonetici",
    "destek",
];

/// The public name, NFKC-normalised: 3–20 Unicode letters, digits or underscores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("the alias must have 3 to 20 letters, digits or underscores")]
    Invalid,
    #[error("the alias is reserved")]
    Reserved,
}

impl Alias {
    pub fn parse(input: &str) -> Result<Self, AliasError> {
        if input.len() > 200 {
            return Err(AliasError::Invalid);
        }
        let alias: String = input.nfkc().collect();
        let chars = alias.chars().count();
        if !(3..=20).contains(&chars) || !alias.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(AliasError::Invalid);
        }
        let stem: String = alias.to_lowercase().chars().filter(|c| c.is_alphabetic()).collect();
        if RESERVED.contains(&stem.as_str()) {
            return Err(AliasError::Reserved);
        }
        Ok(Self(alias))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key under which tags are unique: `KediAdam#9021` and `kediadam#9021` cannot
    /// both exist, so nobody can impersonate a stranger by changing case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// How many distinct tags one alias can have (`0000`–`9999`).
pub const TAG_SPACE: u16 = 10_000;

/// The four digits after `#` that tell apart people with the same alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(u16);

impl Tag {
    pub fn random() -> Self {
        Self(rand::rng().random_range(0..TAG_SPACE))
    }

    pub fn from_index(n: u16) -> Option<Self> {
        (n < TAG_SPACE).then_some(Self(n))
    }

    /// Parses the stored form (`"0042"`).
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Self(s.parse().expect("four digits")))
    }

    pub fn index(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_letters_digits_and_underscore_are_accepted() {
        assert_eq!(Alias::parse("kediadam").unwrap().as_str(), "kediadam");
        assert_eq!(Alias::parse("Çılgın_Kedi42").unwrap().as_str(), "Çılgın_Kedi42");
        assert_eq!(Alias::parse("猫猫猫").unwrap().as_str(), "猫猫猫");
    }

    #[test]
    fn nfkc_folds_compatibility_forms_before_the_rules_apply() {
        // Full-width letters are the same alias as ASCII ones.
        assert_eq!(Alias::parse("ｋｅｄｉ").unwrap().as_str(), "kedi");
    }

    #[test]
    fn length_and_character_rules_are_enforced() {
        for bad in ["ab", "a".repeat(21).as_str(), "kedi adam", "kedi-adam", "kedi😀", ""] {
            assert_eq!(Alias::parse(bad), Err(AliasError::Invalid), "{bad:?}");
        }
        assert!(Alias::parse(&"ş".repeat(20)).is_ok());
    }

    #[test]
    fn reserved_names_are_refused_in_any_disguise() {
        for bad in ["admin", "Admin_1", "MODERATOR99", "tanis", "ｔａｎｉｓ", "Support"] {
            assert_eq!(Alias::parse(bad), Err(AliasError::Reserved), "{bad:?}");
        }
        assert!(Alias::parse("modern").is_ok());
    }

    #[test]
    fn tags_are_four_digits_with_leading_zeros() {
        assert_eq!(Tag::from_index(42).unwrap().to_string(), "0042");
        assert_eq!(Tag::parse("0042"), Tag::from_index(42));
        assert_eq!(Tag::from_index(TAG_SPACE), None);
        assert_eq!(Tag::parse("42"), None);
    }
}
