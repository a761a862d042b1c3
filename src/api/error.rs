//! The one error shape every REST endpoint answers with: `{"error":{"code":"…","message":"…"}}`.
//! Codes are stable and documented in docs/errors.md; internal causes are logged once, never sent.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::AppState;
use crate::accounts::AccountError;
use crate::domain::{
    AdTextError, AliasError, AppealTextError, BanDurationError, BroadcastTextError, HandleError, NoteError,
    PasswordError, PhoneError,
};

/// Machine-readable error codes. Renaming one breaks clients: add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // The request itself.
    MalformedJson,
    InvalidRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    InvalidParameter,
    InvalidText,
    RequestTimeout,
    UpgradeRequired,
    NotFound,
    MethodNotAllowed,
    // Registration and profile fields.
    InvalidPhone,
    WeakPassword,
    PasswordTooLong,
    InvalidAlias,
    ReservedAlias,
    ConsentRequired,
    StaleNoticeVersion,
    InvalidBirthYear,
    Underage,
    InvalidReferralCode,
    InvalidLocation,
    InvalidInterests,
    InvalidLanguages,
    PhoneTaken,
    AliasExhausted,
    // Claims and moderation.
    NotMatched,
    // Reports from a video call.
    NotVideo,
    SnapshotTooLarge,
    SnapshotType,
    RateLimited,
    ClaimExists,
    Forbidden,
    AlreadyBanned,
    NotBanned,
    /// A moderator's clearance of a declaration that is not suspended.
    NotSuspended,
    AppealExists,
    AlreadyDecided,
    // Authentication.
    InvalidCredentials,
    TooManyAttempts,
    AccountBanned,
    MissingToken,
    InvalidToken,
    TokenExpired,
    TokenReused,
    WrongPassword,
    InvalidSignature,
    // One-time codes by SMS.
    PhoneAlreadyVerified,
    SamePhone,
    TooManyCodes,
    SmsUnavailable,
    WrongCode,
    CodeExpired,
    TooManyCodeAttempts,
    // Age assurance by an outside provider.
    AgeAssuranceNotOffered,
    AgeAlreadyAssured,
    AgeAssuranceUnavailable,
    // The server.
    ServerBusy,
    Unavailable,
    JobsStalled,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            MalformedJson => StatusCode::BAD_REQUEST,
            InvalidRequest | InvalidText | InvalidPhone | WeakPassword | PasswordTooLong | InvalidAlias
            | ReservedAlias | ConsentRequired | InvalidBirthYear | InvalidReferralCode | InvalidLocation
            | InvalidInterests | InvalidLanguages => StatusCode::UNPROCESSABLE_ENTITY,
            InvalidParameter => StatusCode::BAD_REQUEST,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            StaleNoticeVersion => StatusCode::CONFLICT,
            Underage => StatusCode::FORBIDDEN,
            PhoneTaken | AliasExhausted | ClaimExists | AlreadyBanned | NotBanned | NotSuspended | AppealExists
            | AlreadyDecided => StatusCode::CONFLICT,
            NotMatched => StatusCode::NOT_FOUND,
            NotVideo => StatusCode::UNPROCESSABLE_ENTITY,
            SnapshotTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SnapshotType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Forbidden => StatusCode::FORBIDDEN,
            InvalidCredentials | MissingToken | InvalidToken | TokenExpired | TokenReused | InvalidSignature => {
                StatusCode::UNAUTHORIZED
            }
            TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AccountBanned => StatusCode::FORBIDDEN,
            // Not 401: the caller's token is fine, and a client that refreshes on 401 must not do so here.
            WrongPassword => StatusCode::FORBIDDEN,
            ServerBusy | Unavailable | JobsStalled => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            PhoneAlreadyVerified => StatusCode::CONFLICT,
            SamePhone | WrongCode | CodeExpired => StatusCode::UNPROCESSABLE_ENTITY,
            TooManyCodes | TooManyCodeAttempts => StatusCode::TOO_MANY_REQUESTS,
            SmsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AgeAssuranceNotOffered => StatusCode::NOT_FOUND,
            AgeAlreadyAssured => StatusCode::CONFLICT,
            AgeAssuranceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error on its way to a client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, sent as `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Logs `cause` as the reason for this error (a warning: the client gets the error itself).
    pub fn log(self, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(code = ?self.code, error = %cause, "request failed");
        self
    }

    /// Logs the cause here, once, and tells the client only that something went wrong.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut response = (self.code.status(), Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

// What the layers below refuse, as clients see it: the domain's refusals carry their message, the code is added
// here; the account service's errors map in `AppState::api_error`.

/// Refusals of a request field's words or range (`invalid_request`), with the domain's message.
macro_rules! invalid_request_from {
    ($($error:ty),+ $(,)?) => {
        $(impl From<$error> for ApiError {
            fn from(e: $error) -> Self {
                ApiError::new(ErrorCode::InvalidRequest, e.to_string())
            }
        })+
    };
}

invalid_request_from!(AdTextError, AppealTextError, BanDurationError, BroadcastTextError, NoteError);

/// A query parameter naming a user by handle: `invalid_parameter`.
impl From<HandleError> for ApiError {
    fn from(e: HandleError) -> Self {
        ApiError::new(ErrorCode::InvalidParameter, e.to_string())
    }
}

impl From<PhoneError> for ApiError {
    fn from(e: PhoneError) -> Self {
        ApiError::new(ErrorCode::InvalidPhone, e.to_string())
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        let code = match e {
            PasswordError::TooLong => ErrorCode::PasswordTooLong,
            PasswordError::TooShort | PasswordError::Common => ErrorCode::WeakPassword,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<AliasError> for ApiError {
    fn from(e: AliasError) -> Self {
        let code = match e {
            AliasError::Invalid => ErrorCode::InvalidAlias,
            AliasError::Reserved => ErrorCode::ReservedAlias,
        };
        ApiError::new(code, e.to_string())
    }
}

impl AppState {
    /// Maps an account error to what the client sees; internal causes are logged, not sent.
    pub(crate) fn api_error(&self, e: AccountError) -> ApiError {
        let retry_after = e.retry_after_secs(self.accounts.now());
        let code = match &e {
            AccountError::ConsentRequired => ErrorCode::ConsentRequired,
            AccountError::StaleNoticeVersion { .. } => ErrorCode::StaleNoticeVersion,
            AccountError::InvalidBirthYear => ErrorCode::InvalidBirthYear,
            AccountError::Underage { .. } => ErrorCode::Underage,
            AccountError::InvalidReferralCode => ErrorCode::InvalidReferralCode,
            AccountError::InvalidLocation => ErrorCode::InvalidLocation,
            AccountError::PhoneTaken => ErrorCode::PhoneTaken,
            AccountError::AliasExhausted => ErrorCode::AliasExhausted,
            AccountError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AccountError::Throttled { .. } => ErrorCode::TooManyAttempts,
            AccountError::InvalidToken => ErrorCode::InvalidToken,
            AccountError::TokenExpired => ErrorCode::TokenExpired,
            AccountError::TokenReused { .. } => ErrorCode::TokenReused,
            AccountError::WrongPassword => ErrorCode::WrongPassword,
            AccountError::NoSuchSession => ErrorCode::NotFound,
            AccountError::Busy => return ApiError::new(ErrorCode::ServerBusy, e.to_string()).retry_after(1),
            AccountError::Banned { .. } => ErrorCode::AccountBanned,
            AccountError::NotBanned => ErrorCode::NotBanned,
            AccountError::PhoneBanned { .. } => ErrorCode::AccountBanned,
            AccountError::PhoneAlreadyVerified => ErrorCode::PhoneAlreadyVerified,
            AccountError::SamePhone => ErrorCode::SamePhone,
            AccountError::TooManyCodes { .. } => ErrorCode::TooManyCodes,
            AccountError::SmsUnavailable => ErrorCode::SmsUnavailable,
            AccountError::WrongCode { .. } => ErrorCode::WrongCode,
            AccountError::CodeExpired => ErrorCode::CodeExpired,
            AccountError::TooManyCodeAttempts => ErrorCode::TooManyCodeAttempts,
            AccountError::Store(_) | AccountError::Hash(_) | AccountError::Phone(_) => return ApiError::internal(e),
        };
        let error = ApiError::new(code, e.to_string());
        match retry_after {
            Some(seconds) => error.retry_after(seconds),
            None => error,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::new(ErrorCode::InvalidRequest, e.body_text()),
            JsonRejection::JsonSyntaxError(_) => ApiError::new(ErrorCode::MalformedJson, "the body is not valid JSON"),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(ErrorCode::PayloadTooLarge, "the body is too large")
            }
            other => ApiError::new(ErrorCode::MalformedJson, other.body_text()),
        }
    }
}

/// `Json` whose rejections use our error shape.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// As axum's `Json`, with the refusals of [`decode_body`] between reading the body and decoding it.
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as application/json"));
        }
        let AppBytes(bytes) = AppBytes::from_request(req, state).await?;
        decode_body(&bytes).map(Self)
    }
}

/// A JSON body, once read: a string holding U+0000 (`invalid_text`), in any field of any body at any depth or in
/// a key, is refused before anything is decoded (see `tanis_proto::has_nul`); then anything but an object; then
/// what does not fit `T`.
pub fn decode_body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if std::str::from_utf8(bytes).is_ok_and(tanis_proto::has_nul) {
        return Err(ApiError::new(ErrorCode::InvalidText, "a string holds U+0000, which is not stored"));
    }
    // Every body of this API is a JSON object; serde would also fill a struct from an array (`[null, null]`
    // made a valid `PATCH /v1/me`), which no client means and the OpenAPI document does not allow.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<serde_json::Value>(bytes).is_ok() {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "the body must be a JSON object"));
    }
    let Json(value) = Json::<T>::from_bytes(bytes)?;
    Ok(value)
}

/// The raw body, for an endpoint that must see its bytes before decoding them (the billing webhook checks a
/// signature over them first): axum's `Bytes`, whose refusals (over `max_body_bytes`, a body that broke off)
/// answer `text/plain`, with ours instead.
pub struct AppBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for AppBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(Self).map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::PayloadTooLarge, "the body is too large"),
            _ => ApiError::new(ErrorCode::MalformedJson, e.body_text()),
        })
    }
}

/// `application/json` or any `application/…+json`, as axum's `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `Path` whose rejections use our error shape: a path parameter of the wrong type (`/v1/blocks/abc`) is
/// `400 invalid_parameter`, not axum's `text/plain`.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::new(ErrorCode::InvalidParameter, e.body_text()))
            }
            Err(other) => Err(ApiError::internal(other.body_text())),
        }
    }
}

/// `Query` whose rejections use our error shape: a query parameter of the wrong type or an unknown one is
/// `400 invalid_parameter`.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::new(ErrorCode::InvalidParameter, e.body_text())),
        }
    }
}

/// Longest body of a non-JSON error answer read to become the message (axum's rejections are one line).
const MAX_REWRITTEN_TEXT: usize = 1024;

/// The last word on every answer's shape: an error answer that is not JSON is rewritten into ours, with the
/// code documented for its status. Our handlers and extractors never need it; it is there for what answers on
/// its own outside them — an axum extractor a new route takes as is, the Swagger UI's files (`/docs/…`) — so no
/// route can leak `text/plain` or an empty body. Each rewrite is logged: a route of ours should get its own
/// refusal instead.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REWRITTEN_TEXT).await.ok();
    let text = text.and_then(|b| String::from_utf8(b.to_vec()).ok()).filter(|t| !t.trim().is_empty());
    let (code, fallback) = match status {
        StatusCode::BAD_REQUEST => (ErrorCode::InvalidParameter, "the request could not be read"),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "this endpoint does not take that method"),
        StatusCode::REQUEST_TIMEOUT => (ErrorCode::RequestTimeout, "the request did not complete in time"),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, "the body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (ErrorCode::UnsupportedMediaType, "send the body as application/json"),
        StatusCode::UNPROCESSABLE_ENTITY => (ErrorCode::InvalidRequest, "the request is not of the expected shape"),
        StatusCode::UPGRADE_REQUIRED => (ErrorCode::UpgradeRequired, "this endpoint takes a WebSocket handshake"),
        StatusCode::SERVICE_UNAVAILABLE => (ErrorCode::Unavailable, "try again later"),
        // Nothing outside our code answers another status; should something, it is a fault of ours to find.
        _ => (ErrorCode::Internal, "internal error"),
    };
    // At debug, or anyone could fill the log by asking for `/docs/nowhere`; a status nothing should answer warns.
    let text_or_empty = text.as_deref().unwrap_or("");
    if code == ErrorCode::Internal {
        tracing::warn!(status = status.as_u16(), text = text_or_empty, "an unexpected non-JSON error answer");
    } else {
        tracing::debug!(status = status.as_u16(), text = text_or_empty, "a non-JSON error answer was given our shape");
    }
    let message = match (code, text) {
        (ErrorCode::Internal | ErrorCode::Unavailable, _) | (_, None) => fallback.to_owned(),
        (_, Some(text)) => text.trim().to_owned(),
    };
    let mut rewritten = ApiError::new(code, message).into_response();
    // What else the answer said stays: `Allow` on a 405, `Retry-After` on a 503.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !rewritten.headers().contains_key(name) {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}
