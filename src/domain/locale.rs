//! The languages the server writes to users in (notifications, pushes, SMS); a user's `locale` setting picks one.

use serde::{Deserialize, Serialize};

/// The languages notifications are written in; a user's `locale` setting picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Tr,
    En,
}

impl Locale {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tr" => Some(Self::Tr),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tr => "tr",
            Self::En => "en",
        }
    }
}
