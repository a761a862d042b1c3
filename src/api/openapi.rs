//! The OpenAPI document's shared parts: the bearer scheme, and the error answers that every operation can give
//! for reasons of its own shape rather than its logic. Mobile teams generate clients from this document, so a
//! status the server can return must be listed; adding these here, by what each operation takes (a body, a
//! token, a path parameter), keeps the list exact without repeating it on every handler.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                add_common_errors(operation);
            }
        }
    }
}

fn add_common_errors(operation: &mut Operation) {
    let mut errors: Vec<(&str, &str)> = vec![
        ("408", "request_timeout: the request did not complete within `request_timeout_ms`"),
        ("500", "internal: see the server's log"),
    ];
    if operation.request_body.is_some() {
        errors.extend([
            ("400", "malformed_json: the body is not JSON"),
            ("413", "payload_too_large: the body is over `max_body_bytes`"),
            ("415", "unsupported_media_type: the body is not sent as application/json"),
            ("422", "invalid_request or invalid_text: JSON of the wrong shape, or a string holding U+0000"),
        ]);
    }
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        errors.push(("401", "missing_token, invalid_token or token_expired"));
        // Every signed-in request checks the account's ban (the fuzzing as a moderator who banned themselves found
        // it undocumented).
        errors.push(("403", "account_banned: the account is banned"));
    }
    let has_path_parameter = operation.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => p.parameter_in == ParameterIn::Path,
        RefOr::Ref(_) => false,
    });
    if has_path_parameter {
        errors.push(("400", "invalid_parameter: a path parameter is not of its type"));
    }
    for (status, description) in errors {
        // An operation's own answer for the same status (with its own description) is kept.
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
            RefOr::T(ResponseBuilder::new().description(description).content("application/json", body).build())
        });
    }
}
