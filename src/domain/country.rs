//! The country of an account: the ISO 3166-1 alpha-2 region of its phone number ([`super::Phone::country`]),
//! stored in `users.country` (empty: not known yet, for accounts made before migration 0021 until they sign in).
//! Matching restricts premium finds to it (`"region": "country"`); it is never shown to other users.

use std::fmt;

/// Two ASCII capital letters (`TR`, `DE`). `Copy` and two bytes: every waiting seeker carries one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// Two ASCII capital letters; `None` for anything else, the empty text of an unknown country included.
    pub fn parse(code: &str) -> Option<Self> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some(Self([a, b])),
            _ => None,
        }
    }

    /// A stored country: `None` when it is empty (not known yet).
    pub fn from_stored(stored: &str) -> Option<Self> {
        Self::parse(stored)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII letters")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

/// As its code (a queue entry in Redis carries it between nodes); a code that is not two capital letters reads as
/// an error, which the entry's `#[serde(default)]` does not hide: nodes only ever write good ones.
impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <String as serde::Deserialize>::deserialize(deserializer)?;
        Self::parse(&code).ok_or_else(|| serde::de::Error::custom(format!("not a country code: {code:?}")))
    }
}

/// Great-circle distance in km between two stored locations (latitude, longitude): what a nearby find and an
/// ad's region measure.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_country_is_two_capital_letters_and_empty_is_unknown() {
        assert_eq!(Country::parse("TR").map(|c| c.to_string()), Some("TR".to_owned()));
        for bad in ["", "T", "tr", "TUR", "T1", "Ü"] {
            assert_eq!(Country::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Country::from_stored(""), None);
    }

    #[test]
    fn a_country_travels_as_its_code() {
        let tr = Country::parse("TR").unwrap();
        assert_eq!(serde_json::to_string(&tr).unwrap(), r#""TR""#);
        assert_eq!(serde_json::from_str::<Country>(r#""TR""#).unwrap(), tr);
        assert!(serde_json::from_str::<Country>(r#""tr""#).is_err());
    }
}
