//! What the two pages show, as plain values the templates print: times
//! already in words ("3 min ago"), links already built, one row per
//! device or event. The handlers fill them from the board and the log;
//! the templates (in `templates/`, compiled into the binary by askama)
//! only lay them out.

use askama::Template;

use crate::api::reads::{Timeline, TimelineRow};
use crate::cli::history::what_happened;
use crate::domain::{PhaseKind, Timestamp};
use crate::effects::snapshot::rfc3339;
use crate::projections::coverage::CoverageSample;
use crate::projections::snapshots::SnapshotEntry;
use crate::projections::status::{DeviceFilter, DevicePage, DeviceStatus, StatusBoard};

/// The fleet page.
#[derive(Template)]
#[template(path = "fleet.html")]
pub struct FleetPage {
    pub node: String,
    pub now: String,
    pub devices: usize,
    pub stale: usize,
    pub phases: Vec<PhaseCount>,
    pub coverage: String,
    pub covered: usize,
    pub active: usize,
    pub chart: Chart,
    pub blocked: Vec<DeviceRow>,
    pub blocked_total: usize,
    pub form: FilterForm,
    pub rows: Vec<DeviceRow>,
    pub matching: usize,
    pub first: usize,
    pub last: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub receivers: Vec<crate::projections::notifications::ReceiverStatus>,
}

/// A phase and how many devices are in it, linking to them.
pub struct PhaseCount {
    pub name: &'static str,
    pub count: usize,
    pub href: String,
}

/// The filter form, as the operator left it.
pub struct FilterForm {
    pub tenants: Vec<Choice>,
    pub tags: Vec<Choice>,
    pub phases: Vec<Choice>,
    pub stale: bool,
    pub q: String,
}

/// One option of a select.
pub struct Choice {
    pub value: String,
    pub selected: bool,
}

/// One device in a table of the fleet page.
pub struct DeviceRow {
    pub device: String,
    pub href: String,
    pub tenant: String,
    pub tags: String,
    pub phase: &'static str,
    pub since: String,
    pub last_success: String,
    pub every: String,
    pub next_due: String,
    pub failures: u32,
    pub problem: String,
    pub stale: bool,
    pub presented_key: Option<String>,
}

/// The coverage chart: an SVG polyline over the kept samples.
pub struct Chart {
    pub points: String,
    pub from: String,
    pub to: String,
    pub samples: usize,
    pub lowest: String,
    /// Where now is on the chart (a dot: a line needs two samples).
    pub now_x: String,
    pub now_y: String,
}

/// The device page.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DevicePageView {
    pub node: String,
    pub now: String,
    pub row: DeviceRow,
    pub host: String,
    pub since_at: String,
    pub last_hash: String,
    pub trusted_key: String,
    pub last_error: String,
    pub events: u64,
    pub timeline: Vec<EventRow>,
    pub older: Option<String>,
    pub newer: Option<String>,
    pub snapshots: Vec<SnapshotRow>,
    pub snapshots_total: usize,
    pub can_diff: bool,
}

/// One event of the device's timeline.
pub struct EventRow {
    pub seq: u64,
    pub at: String,
    pub what: String,
    pub before: &'static str,
    pub after: &'static str,
    pub node: String,
    pub correlation: String,
}

/// One snapshot of the device.
pub struct SnapshotRow {
    pub sha256: String,
    pub short: String,
    pub at: String,
    pub attempt: String,
    pub bytes: u64,
    pub changed: bool,
}

/// An error page naming what was wrong.
#[derive(Template)]
#[template(path = "problem.html")]
pub struct ProblemPage {
    pub node: String,
    pub now: String,
    pub title: String,
    pub message: String,
}

/// A span of seconds in an operator's words.
pub fn span(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// When `t` was or will be, seen from `now`.
pub fn relative(now: Timestamp, t: Timestamp) -> String {
    if t <= now {
        format!("{} ago", span(now.millis_since(t) / 1000))
    } else {
        format!("in {}", span(t.millis_since(now) / 1000))
    }
}

fn maybe(now: Timestamp, t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".into(), |t| relative(now, t))
}

/// A link to the fleet page with these filters and offset.
pub fn fleet_href(filter: &DeviceFilter, offset: usize) -> String {
    let q = crate::api::requests::device_query_string(filter, offset);
    if q.is_empty() {
        "/".into()
    } else {
        format!("/?{q}")
    }
}

/// A link to a device's page (ids are of a URL-safe alphabet).
pub fn device_href(device: &str) -> String {
    format!("/devices/{device}")
}

pub fn device_row(row: &DeviceStatus, now: Timestamp) -> DeviceRow {
    let problem = row
        .last_error
        .as_ref()
        .map(|e| format!("{}: {}", e.kind, e.message))
        .or_else(|| row.out_of_date.clone())
        .unwrap_or_default();
    DeviceRow {
        device: row.device.clone(),
        href: device_href(&row.device),
        tenant: row.tenant.clone(),
        tags: row.tags.join(", "),
        phase: row.phase.name(),
        since: relative(now, row.since),
        last_success: maybe(now, row.last_success),
        every: span(row.interval_secs),
        next_due: row
            .next_due
            .map_or_else(|| "-".into(), |t| relative(now, t)),
        failures: row.failures,
        problem,
        stale: StatusBoard::is_stale(row, now),
        presented_key: row.presented_host_key.clone(),
    }
}

/// The filter form for `filter`, with every tenant and tag of the fleet.
pub fn filter_form(filter: &DeviceFilter, tenants: Vec<String>, tags: Vec<String>) -> FilterForm {
    let choices = |all: Vec<String>, chosen: Option<&str>| {
        all.into_iter()
            .map(|value| Choice {
                selected: chosen == Some(value.as_str()),
                value,
            })
            .collect()
    };
    FilterForm {
        tenants: choices(tenants, filter.tenant.as_deref()),
        tags: choices(tags, filter.tag.as_deref()),
        phases: choices(
            PhaseKind::ALL.iter().map(|p| p.name().to_owned()).collect(),
            filter.phase.map(|p| p.name()),
        ),
        stale: filter.stale,
        q: filter.search.clone().unwrap_or_default(),
    }
}

/// The chart's polyline in a 700×120 box: time left to right over the
/// kept samples and now, coverage bottom (0 %) to top (100 %).
pub fn chart(samples: &[CoverageSample], current: CoverageSample) -> Chart {
    let mut all: Vec<CoverageSample> = samples.to_vec();
    all.push(current);
    let (start, end) = (all[0].at.as_millis(), current.at.as_millis());
    let width = end.saturating_sub(start).max(1) as f64;
    let place = |s: &CoverageSample| {
        let x = (s.at.as_millis().saturating_sub(start)) as f64 / width * 700.0;
        let y = 120.0 - s.share() * 120.0;
        (format!("{x:.1}"), format!("{y:.1}"))
    };
    let points = all
        .iter()
        .map(|s| {
            let (x, y) = place(s);
            format!("{x},{y}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let (now_x, now_y) = place(&current);
    let lowest = all.iter().map(CoverageSample::share).fold(1.0, f64::min);
    Chart {
        points,
        from: rfc3339(all[0].at),
        to: rfc3339(current.at),
        samples: all.len(),
        lowest: percent(lowest),
        now_x,
        now_y,
    }
}

pub fn percent(share: f64) -> String {
    format!("{:.1}", share * 100.0)
}

/// The timeline's rows, as the page shows them.
pub fn event_rows(timeline: &Timeline) -> Vec<EventRow> {
    timeline.rows.iter().map(event_row).collect()
}

fn event_row(r: &TimelineRow) -> EventRow {
    let env = &r.env;
    EventRow {
        seq: env.seq,
        at: rfc3339(env.at),
        what: what_happened(env),
        before: r.before.map_or("-", |p| p.name()),
        after: env.after.as_ref().map_or("-", |a| a.phase.name()),
        node: env.node.clone(),
        correlation: env.correlation.clone().unwrap_or_default(),
    }
}

/// The newest snapshots first, at most `keep`.
pub fn snapshot_rows(entries: &[SnapshotEntry], keep: usize) -> Vec<SnapshotRow> {
    entries
        .iter()
        .rev()
        .take(keep)
        .map(|e| SnapshotRow {
            sha256: e.sha256.clone(),
            short: e.sha256.get(..12).unwrap_or(&e.sha256).to_owned(),
            at: rfc3339(e.at),
            attempt: e.attempt.to_string(),
            bytes: e.bytes,
            changed: e.changed,
        })
        .collect()
}

/// The range "first–last of matching" of a page, counted from 1.
pub fn page_range(page: &DevicePage) -> (usize, usize) {
    if page.devices.is_empty() {
        (0, 0)
    } else {
        (page.offset + 1, page.offset + page.devices.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_an_operator_speaks() {
        assert_eq!(span(45), "45 s");
        assert_eq!(span(600), "10 min");
        assert_eq!(span(3 * 3600), "3 h");
        assert_eq!(span(3 * 86_400), "3 d");
        let now = Timestamp(10_000_000);
        assert_eq!(relative(now, Timestamp(9_940_000)), "60 s ago");
        assert_eq!(relative(now, Timestamp(10_300_000)), "in 5 min");
    }

    #[test]
    fn links_keep_the_filters() {
        let filter = DeviceFilter {
            tenant: Some("acme corp".into()),
            phase: Some(PhaseKind::AuthBlocked),
            stale: true,
            ..DeviceFilter::default()
        };
        assert_eq!(
            fleet_href(&filter, 200),
            "/?tenant=acme+corp&phase=auth_blocked&stale=1&offset=200"
        );
        assert_eq!(fleet_href(&DeviceFilter::default(), 0), "/");
    }
}
