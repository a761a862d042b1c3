//! `/v1/interests`: the vocabulary of topics a profile may list (src/domain/interests.rs), with both labels. It is
//! the same for everyone and changes only with a release, so it needs no token: a client can show it before
//! registration.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::AppJson;
use crate::domain::{MAX_INTERESTS, TOPICS};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(interests))
}

/// One topic.
#[derive(Serialize, ToSchema)]
pub struct Topic {
    /// Stable id: what `PATCH /v1/me` takes and `match.found` names.
    #[schema(example = "music")]
    id: &'static str,
    #[schema(example = "Müzik")]
    tr: &'static str,
    #[schema(example = "Music")]
    en: &'static str,
}

/// The vocabulary, in the order to show it, and how many a profile may hold.
#[derive(Serialize, ToSchema)]
pub struct Vocabulary {
    topics: Vec<Topic>,
    #[schema(example = 10)]
    max_per_profile: usize,
}

/// Every topic a profile may list, with its Turkish and English label.
#[utoipa::path(get, path = "/v1/interests", tag = "account", responses((status = 200, body = Vocabulary)))]
async fn interests() -> AppJson<Vocabulary> {
    let topics = TOPICS.iter().map(|t| Topic { id: t.id, tr: t.tr, en: t.en }).collect();
    AppJson(Vocabulary { topics, max_per_profile: MAX_INTERESTS })
}
