//! A moderator's note: what a moderator writes for the audit trail and the other moderators when they ban,
//! resolve a report or decide an appeal. Never shown to the user it is about.

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// A note, trimmed: 1 to [`MAX_NOTE_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeratorNote(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A decision (a report resolved, an appeal decided) must say why.
    #[error("note must have 1 to 1000 characters")]
    Required,
    /// A ban may go without a note, but not with a longer one.
    #[error("note must have at most 1000 characters")]
    TooLong,
}

impl ModeratorNote {
    /// The note a decision must carry: blank or too long is refused.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
            return Err(NoteError::Required);
        }
        Ok(Self(text.to_owned()))
    }

    /// The note a ban may carry: absent or blank is no note; too long is refused.
    pub fn optional(text: Option<&str>) -> Result<Option<Self>, NoteError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > MAX_NOTE_CHARS {
            return Err(NoteError::TooLong);
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_note_is_trimmed_and_has_1_to_1000_characters() {
        let longest = "ş".repeat(1000);
        let longest = longest.as_str();
        let good: [(&str, &str); 4] =
            [("x", "x"), ("  spam links  ", "spam links"), ("\tçok\n", "çok"), (longest, longest)];
        for (input, kept) in good {
            assert_eq!(ModeratorNote::parse(input).unwrap().as_str(), kept, "{input:?}");
        }
        let too_long = "ş".repeat(1001);
        for bad in ["", "   ", "\n\t", too_long.as_str()] {
            assert_eq!(ModeratorNote::parse(bad), Err(NoteError::Required), "{bad:?}");
        }
        // Surrounding blanks do not count toward the length.
        assert!(ModeratorNote::parse(&format!("  {longest}  ")).is_ok());
    }

    #[test]
    fn a_ban_note_may_be_absent_or_blank_but_not_too_long() {
        let longest = "a".repeat(1000);
        let longest = longest.as_str();
        let good: [(Option<&str>, Option<&str>); 5] = [
            (None, None),
            (Some(""), None),
            (Some("   "), None),
            (Some(" repeat offender "), Some("repeat offender")),
            (Some(longest), Some(longest)),
        ];
        for (input, kept) in good {
            let note = ModeratorNote::optional(input).unwrap();
            assert_eq!(note.as_ref().map(ModeratorNote::as_str), kept, "{input:?}");
        }
        assert_eq!(ModeratorNote::optional(Some(&"a".repeat(1001))), Err(NoteError::TooLong));
        assert_eq!(ModeratorNote::optional(Some(&"ğ".repeat(1001))), Err(NoteError::TooLong), "counted in characters");
    }

    #[test]
    fn the_messages_are_the_ones_clients_are_told() {
        assert_eq!(NoteError::Required.to_string(), "note must have 1 to 1000 characters");
        assert_eq!(NoteError::TooLong.to_string(), "note must have at most 1000 characters");
    }
}
