//! An ad's words, as an admin writes them: a title and a content, each required and bounded. Who an ad is for
//! (`target_group`) is [`crate::ads::Target`].

/// Longest title and longest content, in characters.
pub const MAX_AD_TITLE_CHARS: usize = 100;
pub const MAX_AD_CONTENT_CHARS: usize = 1000;

/// An ad's title: 1 to [`MAX_AD_TITLE_CHARS`] characters, not blank. Kept as written (blanks around it included,
/// and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdTitle(String);

/// An ad's content: 1 to [`MAX_AD_CONTENT_CHARS`] characters, not blank. Kept as written, like [`AdTitle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdContent(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdTextError {
    #[error("title must have 1 to 100 characters")]
    Title,
    #[error("content must have 1 to 1000 characters")]
    Content,
}

/// Whether `text` has something besides blanks and at most `max` characters, blanks included.
fn fits(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && text.chars().count() <= max
}

impl AdTitle {
    pub fn parse(text: String) -> Result<Self, AdTextError> {
        fits(&text, MAX_AD_TITLE_CHARS).then_some(Self(text)).ok_or(AdTextError::Title)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AdContent {
    pub fn parse(text: String) -> Result<Self, AdTextError> {
        fits(&text, MAX_AD_CONTENT_CHARS).then_some(Self(text)).ok_or(AdTextError::Content)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_has_1_to_100_characters_kept_as_written() {
        for good in ["x", " Premium ", "ü".repeat(100).as_str(), format!(" {} ", "a".repeat(98)).as_str()] {
            assert_eq!(AdTitle::parse(good.to_owned()).unwrap().as_str(), good, "{good:?}");
        }
        for bad in ["", " ", "\n\t", "ü".repeat(101).as_str(), format!(" {} ", "a".repeat(99)).as_str()] {
            assert_eq!(AdTitle::parse(bad.to_owned()), Err(AdTextError::Title), "{bad:?}");
        }
    }

    #[test]
    fn a_content_has_1_to_1000_characters_kept_as_written() {
        for good in ["x", "  Go premium: no ads.  ", "ç".repeat(1000).as_str()] {
            assert_eq!(AdContent::parse(good.to_owned()).unwrap().as_str(), good, "{good:?}");
        }
        for bad in ["", "   ", "ç".repeat(1001).as_str(), format!("{} ", "a".repeat(1000)).as_str()] {
            assert_eq!(AdContent::parse(bad.to_owned()), Err(AdTextError::Content), "{bad:?}");
        }
    }

    #[test]
    fn the_messages_are_the_ones_clients_are_told() {
        assert_eq!(AdTextError::Title.to_string(), "title must have 1 to 100 characters");
        assert_eq!(AdTextError::Content.to_string(), "content must have 1 to 1000 characters");
    }
}
