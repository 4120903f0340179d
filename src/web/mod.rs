//! The operator's web page, served by the daemon beside the API: the fleet
//! at `/`, one device at `/devices/{id}`, their script and style under
//! `/assets/`.
//!
//! The pages are rendered on the server from the same board and the same
//! log reads as the API and the CLI (askama templates compiled into the
//! binary; no Node build, nothing fetched from elsewhere). They are reads:
//! they show no config text. What changes state or shows config text —
//! the buttons, the diff — is done by the page's small script calling the
//! API with the token the operator typed, kept in the tab's
//! `sessionStorage` only, so the API's rules (see [`crate::api::auth`])
//! hold for the page exactly as for `curl`. The fleet page is paged (100
//! devices) and the device page shows the newest events of a history that
//! is streamed, never loaded whole.

pub mod views;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::api::ApiState;
use crate::api::reads::{self, ReadFailure};
use crate::api::requests;
use crate::domain::{DeviceId, PhaseKind, Timestamp};
use crate::effects::snapshot::rfc3339;
use crate::projections::snapshots::SnapshotList;
use crate::projections::status::{DeviceFilter, StatusBoard};

use self::views::{
    DevicePageView, FleetPage, PhaseCount, ProblemPage, chart, device_row, event_rows, filter_form,
    fleet_href, page_range, percent, snapshot_rows,
};

/// Events on one page of a device's timeline.
const TIMELINE_PAGE: usize = 50;
/// Snapshots listed on the device page (the newest).
const SNAPSHOTS_SHOWN: usize = 100;
/// Blocked devices listed on the fleet page, each with its action.
const BLOCKED_SHOWN: usize = 50;

const SCRIPT: &str = include_str!("../../assets/confkeep.js");
const STYLE: &str = include_str!("../../assets/confkeep.css");

/// The page routes, to merge into the API's router (behind its access rule).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(fleet))
        .route("/devices/{device}", get(device))
        .route("/assets/confkeep.js", get(script))
        .route("/assets/confkeep.css", get(style))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page did not render\n",
            )
                .into_response()
        }
    }
}

fn problem(s: &ApiState, status: StatusCode, title: &str, message: String) -> Response {
    let page = ProblemPage {
        node: s.node.clone(),
        now: rfc3339(s.clock.now()),
        title: title.into(),
        message,
    };
    render(status, &page)
}

async fn fleet(State(s): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    let q = match requests::device_query(query.as_deref(), requests::DEFAULT_DEVICES_PAGE) {
        Ok(q) => q,
        Err(e) => return problem(&s, StatusCode::BAD_REQUEST, "Bad filter", e.to_string()),
    };
    let now = s.clock.now();
    let page = {
        let Ok(board) = s.status.lock() else {
            return problem(
                &s,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Status unavailable",
                "the status board is unavailable".into(),
            );
        };
        fleet_page(&s.node, &board, &q.filter, q.offset, q.limit, now)
    };
    render(StatusCode::OK, &page)
}

/// The fleet page's HTML for `query` (what `GET /` answers; public for
/// the benchmark).
pub fn fleet_html(
    node: &str,
    board: &StatusBoard,
    query: &requests::DeviceQuery,
    now: Timestamp,
) -> Result<String, askama::Error> {
    fleet_page(node, board, &query.filter, query.offset, query.limit, now).render()
}

/// Everything the fleet page shows, read under one lock of the board.
fn fleet_page(
    node: &str,
    board: &StatusBoard,
    filter: &DeviceFilter,
    offset: usize,
    limit: usize,
    now: Timestamp,
) -> FleetPage {
    let summary = board.summary(now);
    let phases = PhaseKind::ALL
        .iter()
        .filter(|p| board.count(**p) > 0)
        .map(|p| PhaseCount {
            name: p.name(),
            count: board.count(*p),
            href: fleet_href(
                &DeviceFilter {
                    phase: Some(*p),
                    ..DeviceFilter::default()
                },
                0,
            ),
        })
        .collect();
    let (current, samples) = board.coverage(now);
    let mut blocked = Vec::new();
    let mut blocked_total = 0;
    for phase in [PhaseKind::AuthBlocked, PhaseKind::HostKeyBlocked] {
        let only = DeviceFilter {
            phase: Some(phase),
            ..DeviceFilter::default()
        };
        let page = board.query(&only, 0, BLOCKED_SHOWN, now);
        blocked_total += page.matching;
        blocked.extend(page.devices.iter().map(|r| device_row(r, now)));
    }
    blocked.truncate(BLOCKED_SHOWN);
    let facets = board.facets();
    let page = board.query(filter, offset, limit, now);
    let (first, last) = page_range(&page);
    FleetPage {
        node: node.to_owned(),
        now: rfc3339(now),
        devices: summary.devices,
        stale: summary.stale,
        phases,
        coverage: percent(current.share()),
        covered: current.covered,
        active: current.devices,
        chart: chart(&samples, current),
        blocked,
        blocked_total,
        form: filter_form(
            filter,
            facets.tenants.into_keys().collect(),
            facets.tags.into_keys().collect(),
        ),
        rows: page.devices.iter().map(|r| device_row(r, now)).collect(),
        matching: page.matching,
        first,
        last,
        prev: (offset > 0).then(|| fleet_href(filter, offset.saturating_sub(limit))),
        next: page.next_offset.map(|o| fleet_href(filter, o)),
        receivers: summary.notifications,
    }
}

async fn device(
    State(s): State<ApiState>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let device = match DeviceId::parse(&raw) {
        Ok(d) => d,
        Err(e) => return problem(&s, StatusCode::BAD_REQUEST, "Bad device id", e.to_string()),
    };
    let before = match requests::timeline_before(query.as_deref()) {
        Ok(b) => b,
        Err(e) => return problem(&s, StatusCode::BAD_REQUEST, "Bad page", e.to_string()),
    };
    let now = s.clock.now();
    let Some(row) = s.status.lock().ok().and_then(|b| b.get(&device)) else {
        return problem(
            &s,
            StatusCode::NOT_FOUND,
            "No such device",
            format!("no device {device} in this fleet"),
        );
    };
    let mut snapshots = SnapshotList::bounded(SNAPSHOTS_SHOWN);
    let timeline =
        match reads::timeline(&*s.log, &device, before, TIMELINE_PAGE, &mut snapshots).await {
            Ok(t) => t,
            Err(e) => return read_problem(&s, &device, e),
        };
    let href = |b: u64| format!("/devices/{device}?before={b}");
    let view = DevicePageView {
        node: s.node.clone(),
        now: rfc3339(now),
        host: format!("{}:{}", row.host, row.port),
        since_at: rfc3339(row.since),
        last_hash: row.last_hash.clone().unwrap_or_else(|| "none yet".into()),
        trusted_key: row
            .trusted_host_key
            .clone()
            .unwrap_or_else(|| "none yet (trusted on first use)".into()),
        last_error: row
            .last_error
            .as_ref()
            .map(|e| format!("{} ({}): {}", e.kind, rfc3339(e.at), e.message))
            .unwrap_or_default(),
        events: timeline.total,
        timeline: event_rows(&timeline),
        older: timeline.older.map(href),
        newer: timeline.newer.map(href),
        snapshots: snapshot_rows(snapshots.entries(), SNAPSHOTS_SHOWN),
        snapshots_total: snapshots.total(),
        can_diff: s.snapshots.is_some(),
        row: device_row(&row, now),
    };
    render(StatusCode::OK, &view)
}

fn read_problem(s: &ApiState, device: &DeviceId, e: ReadFailure) -> Response {
    let status = match e {
        ReadFailure::NotFound(_) => StatusCode::NOT_FOUND,
        ReadFailure::BadRequest(_) => StatusCode::BAD_REQUEST,
        ReadFailure::Log(_) | ReadFailure::Snapshot(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    problem(
        s,
        status,
        "The log could not be read",
        format!("device {device}: {e}"),
    )
}
