//! Age assurance as rules (issue 64 point 5; docs/privacy.md "Age assurance"): what a server asks an assured age
//! for (`age_assurance.required_for`), whether a find needs one ([`needs_assured_age`]), and where one assurance
//! stands ([`AssuranceStatus`]). Asking the provider and storing the answer are `crate::age`'s and the store's.

use serde::{Deserialize, Serialize};
use tanis_proto::MatchKind;

use super::stored_text;

/// What a server asks an assured age for. Self-declared age (`birth_year`) is not enough under the EU DSA Art. 28
/// guidelines or the UK OSA for these: an operator who must, turns it on for what its service offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredFor {
    /// Nothing: the assurance may be offered, and is never asked for.
    #[default]
    None,
    /// Video finds.
    Video,
    /// Finds that ask whom to meet by declared gender (`seeking`).
    GenderFilter,
    /// Every find.
    Everything,
}

impl RequiredFor {
    pub const ALL: [RequiredFor; 4] =
        [RequiredFor::None, RequiredFor::Video, RequiredFor::GenderFilter, RequiredFor::Everything];

    pub fn as_str(self) -> &'static str {
        match self {
            RequiredFor::None => "none",
            RequiredFor::Video => "video",
            RequiredFor::GenderFilter => "gender_filter",
            RequiredFor::Everything => "everything",
        }
    }
}

/// Whether a find of `kind`, asking whom to meet by gender when `seeking`, needs an assured age on a server that
/// asks one for `required_for`.
pub fn needs_assured_age(required_for: RequiredFor, kind: MatchKind, seeking: bool) -> bool {
    match required_for {
        RequiredFor::None => false,
        RequiredFor::Video => kind == MatchKind::Video,
        RequiredFor::GenderFilter => seeking,
        RequiredFor::Everything => true,
    }
}

stored_text! {
    /// Where one assurance session stands (`age_assurances.status`, whose CHECK allows exactly these). Only
    /// `pending` changes, once, when the provider's result is read.
    pub enum AssuranceStatus {
        /// Started at the provider; the user has not finished there, or the result was not read yet.
        Pending = "pending",
        /// The provider found the user at or over the threshold.
        Assured = "assured",
        /// The provider found the user under the threshold.
        Refused = "refused",
        /// The provider could not give a result (its `ERROR`: a face not recognised, a document not believed).
        Failed = "failed",
        /// The user abandoned the session at the provider.
        Cancelled = "cancelled",
        /// The provider's session ran out before the user finished.
        Expired = "expired",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn each_setting_asks_an_assured_age_for_what_it_names_and_nothing_else() {
        use MatchKind::{Text, Video};
        let cases = [
            // (required_for, kind, seeking) → needed
            (RequiredFor::None, Video, true, false),
            (RequiredFor::Video, Video, false, true),
            (RequiredFor::Video, Text, true, false),
            (RequiredFor::GenderFilter, Text, true, true),
            (RequiredFor::GenderFilter, Video, false, false),
            (RequiredFor::Everything, Text, false, true),
        ];
        for (required_for, kind, seeking, needed) in cases {
            assert_eq!(needs_assured_age(required_for, kind, seeking), needed, "{required_for:?} {kind:?} {seeking}");
        }
    }

    #[test]
    fn a_setting_is_written_as_the_configuration_takes_it() {
        for required_for in RequiredFor::ALL {
            let written = serde_json::to_value(required_for).unwrap();
            assert_eq!(written, required_for.as_str());
            assert_eq!(serde_json::from_value::<RequiredFor>(written).unwrap(), required_for);
        }
    }

    #[test]
    fn a_status_is_what_the_tables_check_allows() {
        assert_stored_as(
            AssuranceStatus::ALL,
            &["pending", "assured", "refused", "failed", "cancelled", "expired"],
            AssuranceStatus::as_str,
            AssuranceStatus::parse,
        );
    }
}
