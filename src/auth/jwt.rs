//! Access tokens: HS256 JWTs that live ~15 minutes. Expiry is checked against the injected clock,
//! not the system's, so tests can expire a token by moving time.

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::LoginId;
use crate::domain::{Role, UserId};

/// What an access token says, field by field (JWT's registered names: `sub`, `iat`, `exp`, `jti`). Named
/// "fields", not "claims": a claim in tanis is a request for a refunded unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFields {
    /// The account id, as a string (JWT convention). Only ever sent to the account's own devices.
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token, for audit and future revocation lists.
    pub jti: String,
    /// The login (refresh-token family) the token was issued to: refused once that login is revoked, and what
    /// closes the sockets it opened. Every token this server issues names one; a token without it (which no
    /// revocation would reach) is refused by [`JwtKeys::verify`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl TokenFields {
    /// The login the token belongs to; a verified token's `sid` always parses.
    pub fn login(&self) -> Option<LoginId> {
        self.sid.as_deref().and_then(LoginId::parse)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: TimeDelta,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl: TimeDelta) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is ours to check (with the injected clock); everything else stays strict.
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "iat", "sub"].iter().map(|s| s.to_string()).collect();
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    /// Issues a token of the login `login`; returns it with its expiry.
    pub fn issue_for_login(
        &self,
        user_id: UserId,
        role: Role,
        login: LoginId,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        self.encode(user_id, role, Some(login), now)
    }

    fn encode(
        &self,
        user_id: UserId,
        role: Role,
        login: Option<LoginId>,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let exp = now + self.ttl;
        let fields = TokenFields {
            sub: user_id.to_string(),
            role,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: Uuid::new_v4().to_string(),
            sid: login.map(|l| l.to_string()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &fields, &self.encoding)
            .expect("HS256 encoding of plain fields cannot fail");
        (token, exp)
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<TokenFields, TokenError> {
        let data = jsonwebtoken::decode::<TokenFields>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let fields = data.claims;
        // A token must belong to a login, so that signing out, a password change or a ban reaches it.
        if fields.sid.as_deref().and_then(LoginId::parse).is_none() {
            return Err(TokenError::Invalid);
        }
        if fields.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(secret.as_bytes(), TimeDelta::minutes(15))
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let keys = keys("a-secret-of-at-least-thirty-two-bytes");
        let now = Utc::now();
        let (token, exp) = keys.issue_for_login(UserId(7), Role::User, LoginId::generate(), now);
        assert_eq!(exp, now + TimeDelta::minutes(15));
        let fields = keys.verify(&token, now + TimeDelta::minutes(14)).unwrap();
        assert_eq!((fields.sub.as_str(), fields.role.as_str()), ("7", "user"));
        assert_eq!(keys.verify(&token, now + TimeDelta::minutes(16)), Err(TokenError::Expired));
    }

    #[test]
    fn tokens_signed_with_another_secret_or_tampered_are_invalid() {
        let now = Utc::now();
        let (token, _) = keys("another-secret-of-thirty-two-bytes!!").issue_for_login(
            UserId(7),
            Role::User,
            LoginId::generate(),
            now,
        );
        assert_eq!(keys("a-secret-of-at-least-thirty-two-bytes").verify(&token, now), Err(TokenError::Invalid));
        let ours = keys("a-secret-of-at-least-thirty-two-bytes");
        let (token, _) = ours.issue_for_login(UserId(7), Role::User, LoginId::generate(), now);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = base64_json(r#"{"sub":"1","role":"admin","iat":0,"exp":9999999999,"jti":"x"}"#);
        assert_eq!(ours.verify(&parts.join("."), now), Err(TokenError::Invalid));
        assert_eq!(ours.verify("not a token", now), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_names_its_login_and_one_without_a_login_is_refused() {
        let keys = keys("a-secret-of-at-least-thirty-two-bytes");
        let now = Utc::now();
        let login = LoginId::generate();
        let (token, _) = keys.issue_for_login(UserId(7), Role::User, login, now);
        assert_eq!(keys.verify(&token, now).unwrap().login(), Some(login));
        // Correctly signed, unexpired, but of no login: no sign-out would ever reach it.
        let (token, _) = keys.encode(UserId(7), Role::User, None, now);
        assert_eq!(keys.verify(&token, now), Err(TokenError::Invalid));
    }

    #[test]
    fn the_none_algorithm_is_refused() {
        let header = base64_json(r#"{"alg":"none","typ":"JWT"}"#);
        let fields = base64_json(r#"{"sub":"1","role":"admin","iat":0,"exp":9999999999,"jti":"x"}"#);
        let forged = format!("{header}.{fields}.");
        let keys = keys("a-secret-of-at-least-thirty-two-bytes");
        assert_eq!(keys.verify(&forged, Utc::now()), Err(TokenError::Invalid));
    }

    fn base64_json(json: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }
}
