//! What the API and the CLI read from a log: one page of a device's
//! history, its snapshot list, a diff between two of its configs.
//!
//! The same functions answer `GET /v1/devices/{id}/history` and `confkeep
//! history --data-dir`, so the two can never disagree. Each reads one
//! device's events as a stream and keeps only what it returns: a device
//! with a million events is paged, never loaded whole.

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, Envelope, PhaseKind, TenantId};
use crate::effects::snapshot_read::{ReadError, SnapshotReader};
use crate::projections::snapshots::{ConfigDiff, FindError, SnapshotEntry, SnapshotList};
use crate::store::EventLog;

use super::requests::HistoryPage;

/// One page of a device's audit trail.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryPageResponse {
    pub device: String,
    /// The envelopes, oldest first (see the README's "The event log").
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Envelope>,
    /// Ask again with `after=` this for the next page; absent on the last.
    pub next_after: Option<u64>,
}

/// A device's snapshots, oldest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotsResponse {
    pub device: String,
    pub tenant: String,
    pub snapshots: Vec<SnapshotEntry>,
}

/// Why a read could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadFailure {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Log(String),
    #[error(transparent)]
    Snapshot(#[from] ReadError),
}

/// The page of `device`'s history that `page` asks for.
pub async fn history_page(
    log: &dyn EventLog,
    device: &DeviceId,
    page: HistoryPage,
) -> Result<HistoryPageResponse, ReadFailure> {
    let mut stream = log.device_history(device);
    let mut events: Vec<Envelope> = Vec::with_capacity(page.limit.min(64));
    let (mut more, mut any) = (false, false);
    let wanted = |env: &Envelope| {
        page.since.is_none_or(|s| env.at >= s) && page.until.is_none_or(|u| env.at <= u)
    };
    while let Some(item) = stream.next().await {
        let env = item.map_err(|e| ReadFailure::Log(e.to_string()))?;
        any = true;
        if env.seq <= page.after || !wanted(&env) {
            continue;
        }
        if events.len() == page.limit {
            more = true;
            break;
        }
        events.push(env);
    }
    if !any {
        return Err(ReadFailure::NotFound(format!(
            "no events for device {device}"
        )));
    }
    let next_after = more.then(|| events.last().map_or(page.after, |e| e.seq));
    Ok(HistoryPageResponse {
        device: device.to_string(),
        events,
        next_after,
    })
}

/// Every snapshot `device` collected, from its history.
pub async fn snapshots(
    log: &dyn EventLog,
    device: &DeviceId,
) -> Result<(TenantId, SnapshotList), ReadFailure> {
    let mut stream = log.device_history(device);
    let mut list = SnapshotList::default();
    let mut tenant = None;
    while let Some(item) = stream.next().await {
        let env = item.map_err(|e| ReadFailure::Log(e.to_string()))?;
        list.push(&env);
        tenant = Some(env.tenant);
    }
    match tenant {
        Some(t) => Ok((t, list)),
        None => Err(ReadFailure::NotFound(format!(
            "no events for device {device}"
        ))),
    }
}

/// The diff between two of `device`'s configs, named by hash or prefix;
/// without them, its last change.
pub async fn diff(
    log: &dyn EventLog,
    reader: &SnapshotReader,
    device: &DeviceId,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<ConfigDiff, ReadFailure> {
    let (tenant, list) = snapshots(log, device).await?;
    let pick = |prefix: &str| {
        list.find(prefix)
            .map(|e| e.sha256.clone())
            .map_err(|e| match e {
                FindError::None(_) => ReadFailure::NotFound(format!("device {device}: {e}")),
                FindError::Ambiguous(_) => ReadFailure::BadRequest(format!("device {device}: {e}")),
            })
    };
    let latest = || list.entries().last().map(|e| e.sha256.clone());
    let (old, new) = match (old, new) {
        (Some(o), Some(n)) => (pick(o)?, pick(n)?),
        (Some(o), None) => (pick(o)?, latest().unwrap_or_default()),
        (None, Some(n)) => {
            let new = pick(n)?;
            let before = list
                .entries()
                .iter()
                .take_while(|e| e.sha256 != new)
                .last()
                .map(|e| e.sha256.clone());
            (before.unwrap_or_else(|| new.clone()), new)
        }
        (None, None) => match list.last_change() {
            Some((o, n)) => (o.sha256.clone(), n.sha256.clone()),
            None => {
                let only = latest().ok_or_else(|| {
                    ReadFailure::NotFound(format!("device {device} has no snapshot yet"))
                })?;
                (only.clone(), only)
            }
        },
    };
    let old_text = reader.text(&tenant, device, &old).await?;
    let new_text = if new == old {
        old_text.clone()
    } else {
        reader.text(&tenant, device, &new).await?
    };
    Ok(ConfigDiff::between(&old, &new, &old_text, &new_text))
}

/// One row of a device's timeline: the event and the phase it left.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineRow {
    pub env: Envelope,
    /// The phase before the event, as the previous event recorded it.
    pub before: Option<PhaseKind>,
}

/// The newest events of a device before a sequence, newest first: what the
/// device page shows. The history is streamed and only the page is kept,
/// so a device with a million events costs one pass, never its memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline {
    pub rows: Vec<TimelineRow>,
    /// `before=` this for the next older page; absent on the oldest.
    pub older: Option<u64>,
    /// `before=` this for the next newer page; absent on the newest.
    pub newer: Option<u64>,
    /// Events of the device in the log.
    pub total: u64,
}

/// Up to `limit` of `device`'s events with a sequence below `before`
/// (all: the newest page); every event also goes into `snapshots` (a
/// [`SnapshotList::bounded`] one for the page), so the page reads the
/// history once.
pub async fn timeline(
    log: &dyn EventLog,
    device: &DeviceId,
    before: Option<u64>,
    limit: usize,
    snapshots: &mut SnapshotList,
) -> Result<Timeline, ReadFailure> {
    let limit = limit.max(1);
    let before = before.unwrap_or(u64::MAX);
    let mut stream = log.device_history(device);
    let mut kept: std::collections::VecDeque<TimelineRow> = Default::default();
    let (mut previous, mut total, mut dropped, mut later) = (None, 0u64, false, false);
    while let Some(item) = stream.next().await {
        let env = item.map_err(|e| ReadFailure::Log(e.to_string()))?;
        total += 1;
        snapshots.push(&env);
        let next_before = env.after.as_ref().map(|a| a.phase);
        if env.seq >= before {
            later = true;
        } else {
            if kept.len() == limit {
                kept.pop_front();
                dropped = true;
            }
            kept.push_back(TimelineRow {
                env,
                before: previous,
            });
        }
        previous = next_before.or(previous);
    }
    if total == 0 {
        return Err(ReadFailure::NotFound(format!(
            "no events for device {device}"
        )));
    }
    let older = dropped.then(|| kept.front().map_or(0, |r| r.env.seq));
    let newer = later.then(|| kept.back().map_or(before, |r| r.env.seq) + limit as u64 + 1);
    Ok(Timeline {
        rows: kept.into_iter().rev().collect(),
        older,
        newer,
        total,
    })
}
