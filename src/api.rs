//! The daemon's HTTP API (axum): status, history, metrics, and the operator
//! commands (trigger, credentials updated, host key accept/reset).
//!
//! This is wiring, like `main.rs`: it joins the runner's command channel
//! (`effects`), the read models (`projections`) and the log (`store`), so it
//! lives beside them rather than inside one.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/v1/status` | fleet summary and one row per device |
//! | GET | `/v1/devices/{id}` | one device's status |
//! | GET | `/v1/devices/{id}/history` | the device's audit trail (every event with what it led to) |
//! | POST | `/v1/devices/{id}/trigger` | backup now; 200 success, 409 conflict, 423 blocked, 404 not found, 502 failed, 504 timeout |
//! | POST | `/api/tenants/{tenant}/devices/{id}/backup` | the same, at the path the platform we replace used |
//! | POST | `/v1/devices/{id}/credentials-updated` | 202: leave `AuthBlocked` |
//! | POST | `/v1/devices/{id}/host-key/reset` | 202: forget the trusted key, trust the next |
//! | POST | `/v1/devices/{id}/host-key/accept` `{"fingerprint": "SHA256:…"}` | 202: trust this key |
//! | GET | `/metrics` | Prometheus text |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, Envelope, Timestamp, TriggerReply};
use crate::effects::runner::{Clock, Command, RunnerHandle};
use crate::projections::status::{DeviceStatus, FleetSummary, StatusBoard};
use crate::store::EventLog;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub runner: RunnerHandle,
    pub status: Arc<Mutex<StatusBoard>>,
    pub log: Arc<dyn EventLog>,
    pub clock: Arc<dyn Clock>,
    /// How long a trigger waits for its attempt before answering "timeout".
    pub trigger_timeout: Duration,
    pub prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub node: String,
    pub requests: Arc<AtomicU64>,
}

/// The whole router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/devices/{device}", get(device_status))
        .route("/v1/devices/{device}/history", get(history))
        .route("/v1/devices/{device}/trigger", post(trigger))
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
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StatusResponse {
    pub now: Timestamp,
    pub summary: FleetSummary,
    pub devices: Vec<DeviceStatus>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (
        code,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

#[allow(clippy::result_large_err)] // a Response is what every handler returns anyway
fn parse_device(raw: &str) -> Result<DeviceId, Response> {
    DeviceId::parse(raw).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn status(State(s): State<ApiState>) -> Response {
    let now = s.clock.now();
    let Ok(board) = s.status.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "status unavailable");
    };
    Json(StatusResponse {
        now,
        summary: board.summary(now),
        devices: board.rows().cloned().collect(),
    })
    .into_response()
}

async fn device_status(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let row = s.status.lock().ok().and_then(|b| b.get(&device).cloned());
    match row {
        Some(row) => Json(row).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no device {device}")),
    }
}

async fn history(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut stream = s.log.device_history(&device);
    let mut events: Vec<Envelope> = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(env) => events.push(env),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
    if events.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no events for device {device}"),
        );
    }
    Json(events).into_response()
}

/// The answer to a trigger, as JSON and an HTTP status.
#[derive(Debug, Serialize, Deserialize)]
pub struct TriggerResponse {
    pub device: String,
    pub request: String,
    #[serde(flatten)]
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

async fn run_trigger(s: &ApiState, device: DeviceId) -> Response {
    let n = s.requests.fetch_add(1, Ordering::Relaxed);
    let request = format!("http-{}-{}-{}", s.node, s.clock.now().as_millis(), n);
    let reply = tokio::time::timeout(
        s.trigger_timeout,
        s.runner.trigger(device.clone(), request.clone()),
    )
    .await;
    let outcome = match reply {
        Ok(Some(r)) => TriggerOutcome::Reply(r),
        Ok(None) => return error(StatusCode::SERVICE_UNAVAILABLE, "the runner has stopped"),
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

async fn trigger(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    match parse_device(&device) {
        Ok(d) => run_trigger(&s, d).await,
        Err(r) => r,
    }
}

async fn trigger_tod(
    State(s): State<ApiState>,
    Path((_tenant, device)): Path<(String, String)>,
) -> Response {
    match parse_device(&device) {
        Ok(d) => run_trigger(&s, d).await,
        Err(r) => r,
    }
}

fn command(s: &ApiState, device: &str, make: impl FnOnce(DeviceId) -> Command) -> Response {
    let device = match parse_device(device) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let known = s
        .status
        .lock()
        .ok()
        .is_some_and(|b| b.get(&device).is_some());
    if !known {
        return error(StatusCode::NOT_FOUND, format!("no device {device}"));
    }
    if s.runner.send(make(device)) {
        StatusCode::ACCEPTED.into_response()
    } else {
        error(StatusCode::SERVICE_UNAVAILABLE, "the runner has stopped")
    }
}

async fn credentials_updated(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    command(&s, &device, |device| Command::CredentialsUpdated { device })
}

async fn host_key_reset(State(s): State<ApiState>, Path(device): Path<String>) -> Response {
    command(&s, &device, |device| Command::HostKeyReset { device })
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AcceptBody {
    pub fingerprint: String,
}

async fn host_key_accept(
    State(s): State<ApiState>,
    Path(device): Path<String>,
    Json(body): Json<AcceptBody>,
) -> Response {
    if !body.fingerprint.starts_with("SHA256:") {
        return error(
            StatusCode::BAD_REQUEST,
            "fingerprint must look like SHA256:<base64>, as `ssh-keygen -l` prints it",
        );
    }
    command(&s, &device, |device| Command::HostKeyAccepted {
        device,
        fingerprint: body.fingerprint,
    })
}

async fn metrics_text(State(s): State<ApiState>) -> Response {
    match &s.prometheus {
        Some(h) => h.render().into_response(),
        None => error(StatusCode::NOT_FOUND, "metrics are not enabled"),
    }
}
