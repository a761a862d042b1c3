//! An appeal's words: why the banned user says their ban should be lifted.

/// Longest appeal, in characters.
pub const MAX_APPEAL_CHARS: usize = 2000;

/// An appeal's text, trimmed: 1 to [`MAX_APPEAL_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealText(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text must have 1 to 2000 characters")]
pub struct AppealTextError;

impl AppealText {
    pub fn parse(text: &str) -> Result<Self, AppealTextError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_APPEAL_CHARS {
            return Err(AppealTextError);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appeal_is_trimmed_and_has_1_to_2000_characters() {
        let longest = "ğ".repeat(2000);
        let padded = format!("  {longest}\n");
        let (longest, padded) = (longest.as_str(), padded.as_str());
        let good: [(&str, &str); 4] =
            [("x", "x"), ("  I was joking \n", "I was joking"), (longest, longest), (padded, longest)];
        for (input, kept) in good {
            assert_eq!(AppealText::parse(input).unwrap().as_str(), kept, "{input:?}");
        }
        for bad in ["", "   ", "\n\t", "ğ".repeat(2001).as_str()] {
            assert_eq!(AppealText::parse(bad), Err(AppealTextError), "{bad:?}");
        }
        assert_eq!(AppealTextError.to_string(), "text must have 1 to 2000 characters");
    }
}
