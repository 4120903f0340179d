//! The API described as OpenAPI 3.1, generated from the handlers' own
//! annotations and answer types (utoipa), served at `/v1/openapi.json` and
//! committed as `docs/openapi.json`.
//!
//! A test keeps the committed file equal to what this build generates
//! (`CONFKEEP_BLESS=1` rewrites it), and another validates a running
//! daemon's answers against these schemas, so the document cannot drift
//! from what the daemon says. Events and a few domain values are
//! described as plain objects: their shape is the event log's, documented
//! with it, and the domain stays free of the HTTP face.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::reads::{HistoryPageResponse, SnapshotsResponse};
use super::{AcceptBody, DevicesResponse, ErrorBody, StatusResponse, TriggerResponse};
use crate::projections::snapshots::{ConfigDiff, SnapshotEntry};
use crate::projections::status::{
    DevicePage, DeviceStatus, Facets, FleetSummary, LastError, LogProblem,
};

/// The body of `POST /v1/trigger`, in the platform's request shape.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriggerBody {
    pub device_id: String,
    /// When given, the device must belong to this tenant (404 otherwise).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// The bearer token, as every write (and a diff) needs it once configured.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "confkeep",
        description = "Auditable configuration backups of a RouterOS fleet. Writes need \
            `Authorization: Bearer <token>` once a token is configured; off loopback reads do \
            too unless `api_public_reads`; a diff (config text) always does. Every error is \
            `{\"code\", \"error\"}`."
    ),
    paths(
        super::status,
        super::devices,
        super::device_status,
        super::history,
        super::snapshots,
        super::diff,
        super::trigger,
        super::trigger_body,
        super::trigger_tod,
        super::credentials_updated,
        super::host_key_reset,
        super::host_key_accept,
        super::gc,
        super::metrics_text,
    ),
    components(schemas(
        StatusResponse,
        DevicesResponse,
        DevicePage,
        Facets,
        FleetSummary,
        DeviceStatus,
        LastError,
        LogProblem,
        HistoryPageResponse,
        SnapshotsResponse,
        SnapshotEntry,
        ConfigDiff,
        TriggerResponse,
        TriggerBody,
        AcceptBody,
        ErrorBody,
        crate::daemon::retention::GcReport,
        crate::daemon::retention::Removed,
        crate::projections::notifications::ReceiverStatus,
    )),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// The document as this build generates it, pretty-printed as committed.
pub fn document_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

pub async fn serve() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
