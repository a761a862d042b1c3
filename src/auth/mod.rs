//! Proving who someone is: bcrypt on a bounded blocking pool, short-lived access JWTs and opaque
//! refresh tokens. The HTTP side (the `AuthUser` extractor) lives in `api`.

mod hasher;
mod jwt;
mod login;
mod refresh;

pub use hasher::{HashError, PasswordHasher};
pub use jwt::{JwtKeys, TokenError, TokenFields};
pub use login::LoginId;
pub use refresh::RefreshToken;
