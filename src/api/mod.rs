//! The daemon's HTTP API (axum): status, history, metrics, and the operator
//! commands (trigger, credentials updated, host key accept/reset).
//!
//! This is wiring, like `main.rs`: it joins the runner's command channel
//! (`effects`), the read models (`projections`) and the log (`store`), so it
//! lives beside them rather than inside one. Who may call what is in
//! [`auth`]; where it may listen, TLS and the limits in [`serve`]; what
//! clients send is parsed in [`requests`].
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/healthz` | `ok` (never needs the token) |
//! | GET | `/`, `/devices/{id}`, `/assets/…` | the web page (see [`crate::web`]) |
//! | GET | `/v1/status` | fleet summary and one row per device |
//! | GET | `/v1/devices/{id}` | one device's status |
//! | GET | `/v1/devices/{id}/history?after=SEQ&limit=N` | one page of the device's audit trail, `next_after` for the next |
//! | POST | `/v1/devices/{id}/trigger` | backup now; 200 success, 409 conflict, 423 blocked, 404 not found, 502 failed, 504 timeout |
//! | POST | `/v1/trigger` `{"device_id", "tenant_id"?}` | the same, in the platform's request shape |
//! | POST | `/api/tenants/{tenant}/devices/{id}/backup` | the same, at the path the platform we replace used |
//! | POST | `/v1/devices/{id}/credentials-updated` | 202: leave `AuthBlocked` |
//! | POST | `/v1/devices/{id}/host-key/reset` | 202: forget the trusted key, trust the next |
//! | POST | `/v1/devices/{id}/host-key/accept` `{"fingerprint": "SHA256:…"}` | 202: trust this key |
//! | GET | `/v1/openapi.json` | this table as OpenAPI 3.1 (see [`openapi`]) |
//! | POST | `/v1/snapshots/gc?dry_run=&keep=&keep_days=` | a retention pass over the snapshot files (the configured rule unless given) |
//! | GET | `/metrics` | Prometheus text (also alone on `metrics_listen`, see [`scrape`]) |
//!
//! Every error is JSON: `{"code": "...", "error": "..."}`, the message
//! naming the field or device that was wrong.

pub mod auth;
pub mod nats_trigger;
pub mod openapi;
pub mod reads;
pub mod requests;
pub mod scrape;
pub mod serve;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, TenantId, Timestamp, TriggerReply};
use crate::effects::runner::{Clock, Command, RunnerHandle};
use crate::effects::snapshot_read::SnapshotReader;
use crate::projections::snapshots::ConfigDiff;
use crate::projections::status::{
    DeviceFilter, DevicePage, DeviceStatus, Facets, FleetSummary, StatusBoard,
};

use crate::store::EventLog;
pub use reads::HistoryPageResponse;

use self::auth::Access;
use self::requests::RequestError;
use self::serve::HttpLimits;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub runner: RunnerHandle,
    pub status: Arc<Mutex<StatusBoard>>,
    pub log: Arc<dyn EventLog>,
    pub clock: Arc<dyn Clock>,
    /// How long a trigger waits for its attempt before answering "timeout".
    pub trigger_timeout: Duration,
    pub scrape: scrape::Scrape,
    pub node: String,
    pub requests: Arc<AtomicU64>,
    /// Where snapshot texts are read back from (for diffs), when they can be.
    pub snapshots: Option<Arc<SnapshotReader>>,
    /// The configured `[retention]` (empty: none), for `POST /v1/snapshots/gc`.
    pub retention: crate::domain::RetentionRule,
}

/// The whole router, behind the access rule and the limits.
pub fn router(state: ApiState, access: Access, limits: HttpLimits) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/status", get(status))
        .route("/v1/devices/{device}", get(device_status))
        .route("/v1/devices", get(devices))
        .route("/v1/devices/{device}/history", get(history))
        .route("/v1/devices/{device}/snapshots", get(snapshots))
        .route("/v1/devices/{device}/diff", get(diff))
        .route("/v1/devices/{device}/trigger", post(trigger))
        .route("/v1/trigger", post(trigger_body))
        .route(
            "/api/tenants/{tenant}/devices/{device}/backup",
            post(trigger_tod),
        )
        .route(
            "/v1/devices/{device}/credentials-updated",
            post(credentials_updated),
        )
        .route("/v1/devices/{device}/host-key/reset", post(host_key_reset))
        .route(
            "/v1/devices/{device}/host-key/accept",
            post(host_key_accept),
        )
        .route("/v1/snapshots/gc", post(gc))
        .route("/metrics", get(metrics_text))
        .route("/v1/openapi.json", get(openapi::serve))
        .merge(crate::web::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such path") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path does not take that method",
            )
        })
        .with_state(state)
        .layer(axum::middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            limits.request_timeout,
            serve::time_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(access, auth::require))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusResponse {
    #[schema(value_type = u64)]
    pub now: Timestamp,
    pub summary: FleetSummary,
    pub devices: Vec<DeviceStatus>,
}

impl StatusResponse {
    /// The answer of `/v1/status` and of `confkeep status` from the log.
    pub fn of(board: &StatusBoard, filter: &DeviceFilter, now: Timestamp) -> StatusResponse {
        StatusResponse {
            now,
            summary: board.summary(now),
            devices: board.query(filter, 0, usize::MAX, now).devices,
        }
    }
}

/// Every error answer: a stable code and a message for a human.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: String,
    pub error: String,
}

/// A JSON error answer.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.into(),
            error: message.into(),
        }),
    )
        .into_response()
}

/// Errors that axum's extractors answer in plain text (a path that does
/// not decode, a query that does not parse) become JSON like every other.
async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // The web page's own error pages stay HTML.
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    error(status, code, message)
}

fn bad_request(e: RequestError) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
}

fn no_device(device: &DeviceId) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no device {device}"),
    )
}

#[allow(clippy::result_large_err)] // a Response is what every handler returns anyway
fn parse_device(raw: &str) -> Result<DeviceId, Response> {
    DeviceId::parse(raw).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))
}

fn board_unavailable() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "status unavailable",
    )
}

/// The fleet summary and every device the filters leave (all without).
#[utoipa::path(get, path = "/v1/status", tag = "status", params(("tenant" = Option<String>, Query, description = "only this tenant"), ("tag" = Option<String>, Query, description = "only devices with this tag"), ("phase" = Option<String>, Query, description = "only this phase (auth_blocked, idle, …)"), ("stale" = Option<bool>, Query, description = "only devices without a success in two intervals"), ("q" = Option<String>, Query, description = "a piece of the id or address, any case")), responses((status = 200, description = "the fleet summary and every matching device", body = StatusResponse), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn status(State(s): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    board_answer(&s, query.as_deref(), usize::MAX, |board, q, now| {
        StatusResponse::of(board, &q.filter, now)
    })
}

/// A device query's answer from the board; encoded after the lock is let
/// go, so the projector folds meanwhile.
fn board_answer<T: Serialize>(
    s: &ApiState,
    query: Option<&str>,
    default_limit: usize,
    answer: impl FnOnce(&StatusBoard, &requests::DeviceQuery, Timestamp) -> T,
) -> Response {
    let q = match requests::device_query(query, default_limit) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let now = s.clock.now();
    let answer = match s.status.lock() {
        Ok(board) => answer(&board, &q, now),
        Err(_) => return board_unavailable(),
    };
    Json(answer).into_response()
}

/// One page of the devices the filters leave, with the whole fleet's
/// summary and the tenants and tags to filter by.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DevicesResponse {
    #[schema(value_type = u64)]
    pub now: Timestamp,
    pub summary: FleetSummary,
    pub facets: Facets,
    #[serde(flatten)]
    pub page: DevicePage,
}

#[utoipa::path(get, path = "/v1/devices", tag = "status", params(("tenant" = Option<String>, Query, description = "only this tenant"), ("tag" = Option<String>, Query, description = "only devices with this tag"), ("phase" = Option<String>, Query, description = "only this phase (auth_blocked, idle, …)"), ("stale" = Option<bool>, Query, description = "only devices without a success in two intervals"), ("q" = Option<String>, Query, description = "a piece of the id or address, any case"), ("offset" = Option<usize>, Query, description = "skip this many matching devices"), ("limit" = Option<usize>, Query, description = "page size, 1..=1000 (default 100)")), responses((status = 200, description = "one page of matching devices", body = DevicesResponse), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn devices(State(s): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    let limit = requests::DEFAULT_DEVICES_PAGE;
    board_answer(&s, query.as_deref(), limit, DevicesResponse::of)
}

impl DevicesResponse {
    /// The answer of `GET /v1/devices` for `query` at `now`.
    pub fn of(board: &StatusBoard, query: &requests::DeviceQuery, now: Timestamp) -> Self {
        DevicesResponse {
            now,
            summary: board.summary(now),
            facets: board.facets(),
            page: board.query(&query.filter, query.offset, query.limit, now),
        }
    }
}

fn row(s: &ApiState, device: &DeviceId) -> Option<DeviceStatus> {
    s.status.lock().ok().and_then(|b| b.get(device))
}

#[utoipa::path(get, path = "/v1/devices/{device}", tag = "status", params(("device" = String, Path, description = "the device id")), responses((status = 200, description = "the device", body = DeviceStatus), (status = 404, description = "no such device", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn device_status(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match row(&s, &device) {
        Some(row) => Json(row).into_response(),
        None => no_device(&device),
    }
}

#[utoipa::path(get, path = "/v1/devices/{device}/history", tag = "history", params(("device" = String, Path, description = "the device id"), ("after" = Option<u64>, Query, description = "start after this device sequence"), ("limit" = Option<usize>, Query, description = "page size, at most 5000"), ("since" = Option<u64>, Query, description = "recorded at or after (ms since the epoch)"), ("until" = Option<u64>, Query, description = "recorded at or before (ms since the epoch)")), responses((status = 200, description = "one page of the audit trail", body = HistoryPageResponse), (status = 404, description = "no events for the device", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn history(
    State(s): State<ApiState>,
    Path(device): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let page = match requests::history_page(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    match reads::history_page(&*s.log, &device, page).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => read_failure(e),
    }
}

#[utoipa::path(get, path = "/v1/devices/{device}/snapshots", tag = "history", params(("device" = String, Path, description = "the device id")), responses((status = 200, description = "every collection, oldest first", body = reads::SnapshotsResponse), (status = 404, description = "no events for the device", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn snapshots(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match reads::snapshots(&*s.log, &device).await {
        Ok((tenant, list)) => Json(reads::SnapshotsResponse {
            device: device.to_string(),
            tenant: tenant.to_string(),
            snapshots: list.into_entries(),
        })
        .into_response(),
        Err(e) => read_failure(e),
    }
}

#[utoipa::path(get, path = "/v1/devices/{device}/diff", tag = "history", security(("token" = [])), params(("device" = String, Path, description = "the device id"), ("old" = Option<String>, Query, description = "hash or prefix (default: before `new`)"), ("new" = Option<String>, Query, description = "hash or prefix (default: the latest)")), responses((status = 200, description = "the unified diff (config text: always needs the token when one is set)", body = ConfigDiff), (status = 404, description = "no such device or snapshot", body = ErrorBody), (status = 503, description = "the log or the snapshot store cannot be read", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
/// Config text: needs the token whenever one is set (see [`auth`]).
async fn diff(
    State(s): State<ApiState>,
    Path(device): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (old, new) = match requests::diff_query(query.as_deref()) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let Some(reader) = &s.snapshots else {
        return error(
            StatusCode::NOT_FOUND,
            "no_snapshots",
            "this daemon cannot read its snapshots back",
        );
    };
    match reads::diff(&*s.log, reader, &device, old.as_deref(), new.as_deref()).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => read_failure(e),
    }
}

fn read_failure(e: reads::ReadFailure) -> Response {
    match e {
        reads::ReadFailure::NotFound(m) => error(StatusCode::NOT_FOUND, "not_found", m),
        reads::ReadFailure::BadRequest(m) => error(StatusCode::BAD_REQUEST, "bad_request", m),
        reads::ReadFailure::Log(m) => error(StatusCode::SERVICE_UNAVAILABLE, "log", m),
        reads::ReadFailure::Snapshot(
            e @ crate::effects::snapshot_read::ReadError::Missing { .. },
        ) => error(StatusCode::NOT_FOUND, "snapshot_missing", e.to_string()),
        reads::ReadFailure::Snapshot(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "snapshot_unreadable",
            e.to_string(),
        ),
    }
}

/// The answer to a trigger, as JSON and an HTTP status.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriggerResponse {
    pub device: String,
    pub request: String,
    /// `reply` (`success`, `conflict`, `blocked`, `not_found`, `failed`,
    /// `skipped`, `timeout`) and what goes with it.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub reply: TriggerOutcome,
}

/// A trigger's reply, or "timeout" when the attempt outlived the wait.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TriggerOutcome {
    Reply(TriggerReply),
    Timeout { reply: String },
}

pub fn trigger_status(reply: &TriggerOutcome) -> StatusCode {
    match reply {
        TriggerOutcome::Reply(TriggerReply::Success { .. }) => StatusCode::OK,
        TriggerOutcome::Reply(TriggerReply::Conflict { .. }) => StatusCode::CONFLICT,
        TriggerOutcome::Reply(TriggerReply::Blocked { .. }) => StatusCode::LOCKED,
        TriggerOutcome::Reply(TriggerReply::NotFound) => StatusCode::NOT_FOUND,
        TriggerOutcome::Reply(TriggerReply::Failed { .. }) => StatusCode::BAD_GATEWAY,
        TriggerOutcome::Reply(TriggerReply::Skipped { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        TriggerOutcome::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
    }
}

async fn run_trigger(s: &ApiState, device: DeviceId, tenant: Option<TenantId>) -> Response {
    if let Some(tenant) = &tenant
        && row(s, &device).is_some_and(|r| r.tenant != tenant.as_str())
    {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no device {device} in tenant {tenant}"),
        );
    }
    let n = s.requests.fetch_add(1, Ordering::Relaxed);
    let request = format!("http-{}-{}-{}", s.node, s.clock.now().as_millis(), n);
    let reply = tokio::time::timeout(
        s.trigger_timeout,
        s.runner.trigger(device.clone(), request.clone()),
    )
    .await;
    let outcome = match reply {
        Ok(Some(r)) => TriggerOutcome::Reply(r),
        Ok(None) => return stopped(),
        Err(_) => TriggerOutcome::Timeout {
            reply: "timeout".into(),
        },
    };
    let code = trigger_status(&outcome);
    (
        code,
        Json(TriggerResponse {
            device: device.to_string(),
            request,
            reply: outcome,
        }),
    )
        .into_response()
}

fn stopped() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "stopped",
        "the runner has stopped",
    )
}

#[utoipa::path(post, path = "/v1/devices/{device}/trigger", tag = "commands", security(("token" = [])), params(("device" = String, Path, description = "the device id")), responses((status = 200, description = "collected", body = TriggerResponse), (status = 404, description = "no such device", body = TriggerResponse), (status = 409, description = "an attempt is already running", body = TriggerResponse), (status = 423, description = "blocked: an operator must act", body = TriggerResponse), (status = 502, description = "the attempt failed", body = TriggerResponse), (status = 503, description = "skipped, or the runner stopped", body = ErrorBody), (status = 504, description = "still running when the wait ended", body = TriggerResponse), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn trigger(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    match parse_device(&device) {
        Ok(d) => run_trigger(&s, d, None).await,
        Err(r) => r,
    }
}

#[utoipa::path(post, path = "/v1/trigger", tag = "commands", security(("token" = [])), request_body = openapi::TriggerBody, responses((status = 200, description = "collected", body = TriggerResponse), (status = 404, description = "no such device", body = TriggerResponse), (status = 409, description = "an attempt is already running", body = TriggerResponse), (status = 423, description = "blocked: an operator must act", body = TriggerResponse), (status = 502, description = "the attempt failed", body = TriggerResponse), (status = 503, description = "skipped, or the runner stopped", body = ErrorBody), (status = 504, description = "still running when the wait ended", body = TriggerResponse), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
/// Bodies past the cap are refused by the extractor (413, made JSON by
/// `json_errors`) before they are read whole.
async fn trigger_body(State(s): State<ApiState>, raw: Bytes) -> Response {
    match requests::trigger(&raw) {
        Ok(t) => run_trigger(&s, t.device, t.tenant).await,
        Err(e) => bad_request(e),
    }
}

#[utoipa::path(post, path = "/api/tenants/{tenant}/devices/{device}/backup", tag = "commands", security(("token" = [])), params(("tenant" = String, Path, description = "the tenant id"), ("device" = String, Path, description = "the device id")), responses((status = 200, description = "collected", body = TriggerResponse), (status = 404, description = "no such device", body = TriggerResponse), (status = 409, description = "an attempt is already running", body = TriggerResponse), (status = 423, description = "blocked: an operator must act", body = TriggerResponse), (status = 502, description = "the attempt failed", body = TriggerResponse), (status = 503, description = "skipped, or the runner stopped", body = ErrorBody), (status = 504, description = "still running when the wait ended", body = TriggerResponse), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn trigger_tod(
    State(s): State<ApiState>,
    Path((tenant, device)): Path<(String, String)>,
) -> Response {
    let tenant = match TenantId::parse(&tenant) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    match parse_device(&device) {
        Ok(d) => run_trigger(&s, d, Some(tenant)).await,
        Err(r) => r,
    }
}

fn command(s: &ApiState, device: &str, make: impl FnOnce(DeviceId) -> Command) -> Response {
    let device = match parse_device(device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if row(s, &device).is_none() {
        return no_device(&device);
    }
    if s.runner.send(make(device)) {
        StatusCode::ACCEPTED.into_response()
    } else {
        stopped()
    }
}

#[utoipa::path(post, path = "/v1/devices/{device}/credentials-updated", tag = "commands", security(("token" = [])), params(("device" = String, Path, description = "the device id")), responses((status = 202, description = "recorded as the device's next event"), (status = 404, description = "no such device", body = ErrorBody), (status = 503, description = "the runner stopped", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn credentials_updated(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    command(&s, &device, |device| Command::CredentialsUpdated { device })
}

#[utoipa::path(post, path = "/v1/devices/{device}/host-key/reset", tag = "commands", security(("token" = [])), params(("device" = String, Path, description = "the device id")), responses((status = 202, description = "recorded as the device's next event"), (status = 404, description = "no such device", body = ErrorBody), (status = 503, description = "the runner stopped", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn host_key_reset(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    command(&s, &device, |device| Command::HostKeyReset { device })
}

/// The body of `host-key/accept`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AcceptBody {
    pub fingerprint: String,
}

#[utoipa::path(post, path = "/v1/devices/{device}/host-key/accept", tag = "commands", security(("token" = [])), params(("device" = String, Path, description = "the device id")), request_body = AcceptBody, responses((status = 202, description = "recorded as the device's next event"), (status = 404, description = "no such device", body = ErrorBody), (status = 503, description = "the runner stopped", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn host_key_accept(
    State(s): State<ApiState>,
    Path(device): Path<String>,
    raw: Bytes,
) -> Response {
    match requests::host_key_accept(&raw) {
        Ok(fingerprint) => command(&s, &device, |device| Command::HostKeyAccepted {
            device,
            fingerprint,
        }),
        Err(e) => bad_request(e),
    }
}

#[utoipa::path(post, path = "/v1/snapshots/gc", tag = "commands", security(("token" = [])), params(("dry_run" = Option<bool>, Query, description = "only say what would be removed"), ("keep" = Option<usize>, Query, description = "distinct snapshots kept per device (default: [retention] keep)"), ("keep_days" = Option<u64>, Query, description = "remove those last collected longer ago (default: [retention] keep_days)")), responses((status = 200, description = "what the pass removed (or would)", body = crate::daemon::retention::GcReport), (status = 404, description = "no snapshot files (JetStream keeps snapshots in its stream)", body = ErrorBody), (status = 503, description = "the log could not be read", body = ErrorBody), (status = 400, description = "a parameter is wrong (named in the error)", body = ErrorBody), (status = 401, description = "the token is missing or wrong", body = ErrorBody)))]
async fn gc(State(s): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    let (dry_run, rule) = match requests::gc_query(query.as_deref(), s.retention) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let Some(SnapshotReader::Files(files)) = s.snapshots.as_deref() else {
        return error(
            StatusCode::NOT_FOUND,
            "no_snapshot_files",
            "this daemon keeps no snapshot files: on JetStream, bound the snapshot stream (max_age, max_msgs_per_subject)",
        );
    };
    match crate::daemon::retention::collect_garbage(&*s.log, files, rule, s.clock.now(), dry_run)
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(crate::daemon::retention::GcError::Rule(e)) => {
            error(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "retention", e.to_string()),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "status", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics_text(State(s): State<ApiState>) -> Response {
    s.scrape.render()
}
