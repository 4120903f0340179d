//! What Prometheus scrapes: `/metrics` (and `/healthz`) on their own
//! listener, `metrics_listen`.
//!
//! The platform's Prometheus scrapes its collector on port 9091 without a
//! token, so this router serves nothing that changes state or names a
//! secret: the metrics text (device ids appear nowhere in it) and `ok`.
//! The blocked devices' skipped ticks are set just before each render, from
//! the board and the clock, so they grow between folds without a timer.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::effects::runner::Clock;
use crate::projections::metrics::publish_blocked;
use crate::projections::status::StatusBoard;

use super::serve::{self, HttpLimits};

/// What a scrape needs.
#[derive(Clone)]
pub struct Scrape {
    pub status: Arc<Mutex<StatusBoard>>,
    pub clock: Arc<dyn Clock>,
    pub prometheus: Option<PrometheusHandle>,
}

impl Scrape {
    /// The Prometheus text, or why there is none.
    pub fn render(&self) -> Response {
        let Some(handle) = &self.prometheus else {
            return super::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "metrics are not enabled",
            );
        };
        if let Ok(board) = self.status.lock() {
            publish_blocked(&board, self.clock.now());
        }
        handle.render().into_response()
    }
}

/// The Prometheus listener's router: `/metrics`, `/healthz`, nothing else.
pub fn router(scrape: Scrape, limits: HttpLimits) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            super::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "this listener serves only /metrics and /healthz",
            )
        })
        .method_not_allowed_fallback(|| async {
            super::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this listener only answers GET",
            )
        })
        .with_state(scrape)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            limits.request_timeout,
            serve::time_limit,
        ))
}

async fn metrics(State(s): State<Scrape>) -> Response {
    s.render()
}
