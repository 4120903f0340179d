//! What the API and the CLI read from a log: one page of a device's
//! history, its snapshot list, a diff between two of its configs.
//!
//! The same functions answer `GET /v1/devices/{id}/history` and `confkeep
//! history --data-dir`, so the two can never disagree. Each reads one
//! device's events as a stream and keeps only what it returns: a device
//! with a million events is paged, never loaded whole.

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, Envelope, TenantId};
use crate::effects::snapshot_read::{ReadError, SnapshotReader};
use crate::projections::snapshots::{ConfigDiff, FindError, SnapshotEntry, SnapshotList};
use crate::store::EventLog;

use super::requests::HistoryPage;

/// One page of a device's audit trail.
#[derive(Debug, Serialize, Deserialize)]
pub struct HistoryPageResponse {
    pub device: String,
    pub events: Vec<Envelope>,
    /// Ask again with `after=` this for the next page; absent on the last.
    pub next_after: Option<u64>,
}

/// A device's snapshots, oldest first.
#[derive(Debug, Serialize, Deserialize)]
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
