//! A broadcast's words: what an admin sends to everyone or a group, written once in Turkish and once in English.

/// Longest text in each language, in characters.
pub const MAX_BROADCAST_CHARS: usize = 1000;

/// Both texts of a broadcast, trimmed, each 1 to [`MAX_BROADCAST_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastText {
    tr: String,
    en: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tr and en must have 1 to 1000 characters")]
pub struct BroadcastTextError;

impl BroadcastText {
    pub fn parse(tr: &str, en: &str) -> Result<Self, BroadcastTextError> {
        let (tr, en) = (tr.trim(), en.trim());
        for text in [tr, en] {
            if text.is_empty() || text.chars().count() > MAX_BROADCAST_CHARS {
                return Err(BroadcastTextError);
            }
        }
        Ok(Self { tr: tr.to_owned(), en: en.to_owned() })
    }

    pub fn tr(&self) -> &str {
        &self.tr
    }

    pub fn en(&self) -> &str {
        &self.en
    }

    /// The Turkish text, then the English one.
    pub fn into_texts(self) -> (String, String) {
        (self.tr, self.en)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_texts_are_trimmed_and_have_1_to_1000_characters() {
        let longest = "ı".repeat(1000);
        let longest = longest.as_str();
        let good: [(&str, &str, &str, &str); 3] = [
            ("Merhaba", "Hello", "Merhaba", "Hello"),
            ("  Bakım gecesi \n", "\tMaintenance tonight ", "Bakım gecesi", "Maintenance tonight"),
            (longest, longest, longest, longest),
        ];
        for (tr, en, kept_tr, kept_en) in good {
            let text = BroadcastText::parse(tr, en).unwrap();
            assert_eq!((text.tr(), text.en()), (kept_tr, kept_en));
        }
        let too_long = "ı".repeat(1001);
        let too_long = too_long.as_str();
        let bad = [
            ("", "Hello"),
            ("Merhaba", ""),
            ("  ", "Hello"),
            ("Merhaba", "\n"),
            (too_long, "Hello"),
            ("Merhaba", too_long),
        ];
        for (tr, en) in bad {
            assert_eq!(BroadcastText::parse(tr, en), Err(BroadcastTextError), "{tr:?} {en:?}");
        }
        assert_eq!(BroadcastTextError.to_string(), "tr and en must have 1 to 1000 characters");
    }
}
