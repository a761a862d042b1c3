//! Values parsed once at the edge. Inner code takes these types and never re-checks strings.

mod alias;
mod password;
mod phone;

pub use alias::{Alias, AliasError, TAG_SPACE, Tag, lookup_key};
pub use password::{Password, PasswordError};
pub use phone::{Phone, PhoneError};
