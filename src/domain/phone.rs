use std::fmt;

use phonenumber::country;

use super::Country;

/// A phone number in E.164 form (`+905321234567`). Parsing uses libphonenumber's metadata with Turkey as
/// the default region, so `0532 123 45 67` and `+90 532 123 45 67` are the same account.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid phone number")]
pub struct PhoneError;

impl Phone {
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        // Longer than any real number with spacing: refuse before handing it to the parser.
        if input.len() > 32 {
            return Err(PhoneError);
        }
        let number = phonenumber::parse(Some(country::Id::TR), input).map_err(|_| PhoneError)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError);
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country the number belongs to (ISO 3166-1 alpha-2, by libphonenumber's ranges: `+1 613…` is Canada,
    /// not the United States); `None` for a number of no single country (`+800…`, international freephone).
    pub fn country(&self) -> Option<Country> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        Country::parse(number.country().id()?.as_ref())
    }

    /// A number tanis stored itself: written from a `Phone`, sealed (and authenticated when opened) or, before
    /// migration 0014, as plaintext. Not parsed again.
    pub(crate) fn from_stored(e164: String) -> Self {
        Self(e164)
    }
}

/// Phone numbers must never reach logs: Debug shows only the country code.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({}…)", &self.0[..self.0.len().min(3)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms_normalise_to_the_same_e164() {
        let national = Phone::parse("0532 123 45 67").unwrap();
        let international = Phone::parse("+90 (532) 123-45-67").unwrap();
        assert_eq!(national, international);
        assert_eq!(national.as_str(), "+905321234567");
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(Phone::parse("+44 20 7946 0958").unwrap().as_str(), "+442079460958");
    }

    #[test]
    fn the_country_is_the_region_of_the_number_not_only_of_its_calling_code() {
        let country = |number: &str| Phone::parse(number).unwrap().country().map(|c| c.to_string());
        assert_eq!(country("0532 123 45 67").as_deref(), Some("TR"));
        assert_eq!(country("+49 30 123456").as_deref(), Some("DE"));
        assert_eq!(country("+1 613 782 7274").as_deref(), Some("CA"), "+1 is shared");
        assert_eq!(country("+1 520 878 2491").as_deref(), Some("US"));
        assert_eq!(country("+800 1234 0000"), None, "international freephone: no country");
    }

    #[test]
    fn garbage_short_and_overlong_inputs_are_refused() {
        for bad in ["", "hello", "123", "+90 532", "0000000000", &"5".repeat(40)] {
            assert_eq!(Phone::parse(bad), Err(PhoneError), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_number() {
        let phone = Phone::parse("+905321234567").unwrap();
        assert!(!format!("{phone:?}").contains("5321234567"));
    }
}
