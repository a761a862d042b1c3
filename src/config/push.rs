//! `[push]`: where push notifications go (FCM HTTP v1). Unset, no pushes are queued; nothing to check here,
//! src/push reads the key file when it starts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Push notifications through FCM HTTP v1 (docs/operations.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// The Firebase service account key (JSON). Unset: no pushes are queued or sent.
    pub fcm_service_account_file: Option<PathBuf>,
    /// FCM's base URL (a stand-in in tests).
    pub fcm_base_url: String,
    /// Overrides the key file's `token_uri` (a stand-in in tests).
    pub fcm_token_uri: Option<String>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self { fcm_service_account_file: None, fcm_base_url: "https://fcm.googleapis.com".into(), fcm_token_uri: None }
    }
}
