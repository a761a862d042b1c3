//! Languages a profile says its owner speaks: ISO 639-1 codes, one to [`MAX_LANGUAGES`]. Matching never pairs two
//! people who both chose theirs and share none (unless `matching.require_common_language` is off), and
//! `match.found` names the ones they share. A profile that never chose speaks its notification language (`tr` or
//! `en`) for what is named, but is refused by no one: clients set that language from the device's, which is no
//! promise of what its owner speaks.

use std::fmt;

/// How many languages a profile may list.
pub const MAX_LANGUAGES: usize = 3;

/// Every current ISO 639-1 code (183; the withdrawn `bh` and `sh` are not), in alphabetical order: a code's place is
/// its bit in [`Languages`], in memory only: stored, sent and queued as the codes themselves.
pub const CODES: [&str; 183] = [
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi", "bm", "bn", "bo",
    "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz", "ee", "el", "en", "eo",
    "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi",
    "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka",
    "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng",
    "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn",
    "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su",
    "sv", "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur",
    "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// A set of languages, one bit per code of [`CODES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Languages([u64; 3]);

/// As the list of codes (a queue entry in Redis carries it between nodes of different versions).
impl serde::Serialize for Languages {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.codes())
    }
}

impl<'de> serde::Deserialize<'de> for Languages {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let codes = <Vec<String> as serde::Deserialize>::deserialize(deserializer)?;
        let mut set = Languages::default();
        for bit in codes.iter().filter_map(|c| CODES.binary_search(&c.as_str()).ok()) {
            set.insert(bit);
        }
        Ok(set)
    }
}

/// Why a list of languages was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LanguagesError {
    #[error("unknown language {0:?}: an ISO 639-1 code such as \"tr\" or \"en\"")]
    Unknown(String),
    #[error("one to {MAX_LANGUAGES} languages")]
    Count,
}

impl Languages {
    /// The codes a client sent: each an ISO 639-1 code (lowercase), one to [`MAX_LANGUAGES`] distinct ones.
    pub fn parse<S: AsRef<str>>(codes: &[S]) -> Result<Self, LanguagesError> {
        let mut set = Languages::default();
        for code in codes {
            let code = code.as_ref();
            let bit = CODES.binary_search(&code).map_err(|_| LanguagesError::Unknown(code.to_owned()))?;
            set.insert(bit);
        }
        if set.is_empty() || set.len() > MAX_LANGUAGES {
            return Err(LanguagesError::Count);
        }
        Ok(set)
    }

    /// One language.
    pub fn only(code: &str) -> Self {
        let mut set = Languages::default();
        if let Ok(bit) = CODES.binary_search(&code) {
            set.insert(bit);
        }
        set
    }

    /// As stored (`users.languages`): the codes joined by `,`; empty means "never chosen" and reads as
    /// `default` (the notification language). Unknown codes are skipped: a stored profile always reads.
    pub fn from_stored(text: &str, default: &str) -> Self {
        let mut set = Languages::default();
        for code in text.split(',').filter(|s| !s.is_empty()) {
            if let Ok(bit) = CODES.binary_search(&code) {
                set.insert(bit);
            }
        }
        if set.is_empty() { Languages::only(default) } else { set }
    }

    pub fn to_stored(self) -> String {
        self.codes().collect::<Vec<_>>().join(",")
    }

    fn insert(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    /// The codes, in alphabetical order.
    pub fn codes(self) -> impl Iterator<Item = &'static str> {
        CODES.iter().enumerate().filter(move |(bit, _)| self.0[bit / 64] & (1 << (bit % 64)) != 0).map(|(_, c)| *c)
    }

    pub fn len(self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(self) -> bool {
        self.0 == [0; 3]
    }

    /// The languages both speak.
    pub fn shared(self, other: Languages) -> Languages {
        Languages([self.0[0] & other.0[0], self.0[1] & other.0[1], self.0[2] & other.0[2]])
    }
}

impl fmt::Display for Languages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_sorted_unique_two_letter_lowercase() {
        assert!(CODES.windows(2).all(|w| w[0] < w[1]), "sorted and unique: binary search relies on it");
        assert!(CODES.iter().all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_lowercase())));
        assert!(CODES.len() <= 192, "three words of bits");
    }

    #[test]
    fn one_to_three_known_codes() {
        let set = Languages::parse(&["tr", "en", "tr"]).unwrap();
        assert_eq!(set.codes().collect::<Vec<_>>(), ["en", "tr"]);
        assert_eq!(Languages::parse(&["tr", "xx"]), Err(LanguagesError::Unknown("xx".into())));
        assert_eq!(Languages::parse(&["TR"]), Err(LanguagesError::Unknown("TR".into())), "codes are lowercase");
        assert_eq!(Languages::parse::<&str>(&[]), Err(LanguagesError::Count));
        assert_eq!(Languages::parse(&["tr", "en", "de", "fr"]), Err(LanguagesError::Count));
        assert_eq!(Languages::parse(&["zu", "aa", "ku"]).unwrap().len(), 3);
    }

    #[test]
    fn a_profile_that_never_chose_speaks_its_notification_language() {
        assert_eq!(Languages::from_stored("", "en"), Languages::only("en"));
        assert_eq!(Languages::from_stored("de,tr", "en").to_stored(), "de,tr");
        assert_eq!(Languages::from_stored("qq", "tr"), Languages::only("tr"), "an unknown stored code is skipped");
    }

    #[test]
    fn a_set_travels_as_its_codes() {
        let set = Languages::parse(&["tr", "de"]).unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["de","tr"]"#);
        assert_eq!(serde_json::from_str::<Languages>(r#"["tr","de","qq"]"#).unwrap(), set);
    }

    #[test]
    fn shared_languages_are_the_intersection() {
        let a = Languages::parse(&["tr", "de"]).unwrap();
        let b = Languages::parse(&["de", "en"]).unwrap();
        assert_eq!(a.shared(b).codes().collect::<Vec<_>>(), ["de"]);
        assert!(a.shared(Languages::only("en")).is_empty());
    }
}
