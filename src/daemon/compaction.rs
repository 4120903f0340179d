//! Compaction, wired: every `compact_every_secs`, each device's events
//! older than `history_keep_days` that the oldest kept checkpoint already
//! holds are written to the archive (fsynced), then removed from the live
//! log (see `domain::compaction` for which).
//!
//! The base is the **oldest** kept checkpoint: every checkpoint kept now or
//! later is at or past it, so any of them can start the daemon on the
//! compacted log. Without a usable checkpoint start-up folds the archive
//! first ([`seed_from_archive`]), so a release with other rules still
//! rebuilds every device.
//!
//! Nothing is removed that is not archived: a device whose archive write
//! fails keeps its events (said with the file), and a removal that fails
//! half-way leaves events that are both archived and live, which reading
//! the archive skips.

use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use super::checkpoint;
use crate::domain::{DeviceId, Timestamp, compaction};
use crate::effects::runner::{Clock, Runner};
use crate::projections::status::StatusBoard;
use crate::store::archive::Archive;
use crate::store::checkpoint::{CheckpointMeta, oldest_usable};
use crate::store::{EventLog, StoreError};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// The base checkpoint's position (0: there was none; nothing done).
    pub base: u64,
    pub devices: usize,
    pub archived: u64,
    pub removed: u64,
    /// Devices left as they were, each with why.
    pub failed: Vec<String>,
}

/// The oldest kept checkpoint that this release can start from.
async fn base(log: &dyn EventLog) -> Result<Option<(CheckpointMeta, StatusBoard)>, StoreError> {
    let Some(store) = log.checkpoints() else {
        return Ok(None);
    };
    let log_id = store.log_id();
    let usable = oldest_usable(
        store.as_ref(),
        checkpoint::wanted(&log_id),
        checkpoint::decode,
    )
    .await?;
    Ok(usable.map(|u| (u.meta, u.state)))
}

/// The followers that fold the log on their own (notification receivers,
/// the git repository) and where each is: compaction never removes what
/// one of them has not folded yet.
pub type Followers = std::sync::Arc<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

/// The time of each device's oldest live event, as the last pass left it:
/// a device whose oldest event is younger than the cut-off is not read
/// again (on JetStream each read is a consumer of its own).
pub type OldestLive = std::collections::BTreeMap<crate::domain::DeviceId, Timestamp>;

/// One compaction pass at `now`.
pub async fn pass(
    log: &dyn EventLog,
    archive: &Archive,
    keep_days: u64,
    now: Timestamp,
    followers: &[(String, u64)],
    oldest: &mut OldestLive,
) -> Result<Compacted, StoreError> {
    let Some((meta, board)) = base(log).await? else {
        return Ok(Compacted::default());
    };
    if let Some((name, at)) = followers.iter().find(|(_, at)| *at < meta.position) {
        return Ok(Compacted {
            base: meta.position,
            failed: vec![format!(
                "{name} has folded the log to {at}, short of the base checkpoint at {}: compaction waits for it",
                meta.position
            )],
            ..Compacted::default()
        });
    }
    let cutoff = Timestamp(now.0.saturating_sub(keep_days.saturating_mul(86_400_000)));
    let mut done = Compacted {
        base: meta.position,
        ..Compacted::default()
    };
    let due: Vec<(DeviceId, u64)> = board
        .states()
        .filter(|s| oldest.get(&s.device).is_none_or(|at| *at < cutoff))
        .map(|s| (s.device.clone(), s.seq))
        .collect();
    drop(board);
    // A few devices at a time: on JetStream each old event is a request
    // (latency-bound), and each device's archive file is fsynced apart.
    let mut outcomes = futures::stream::iter(due)
        .map(|(device, folded)| one_device(log, archive, device, folded, cutoff))
        .buffer_unordered(DEVICES_AT_ONCE);
    while let Some((device, outcome)) = outcomes.next().await {
        if let Some(at) = outcome.first_kept {
            oldest.insert(device.clone(), at);
        }
        done.archived += outcome.archived;
        done.removed += outcome.removed;
        match outcome.failed {
            Some(e) => done.failed.push(format!("device {device}: {e}")),
            None if outcome.archived > 0 => done.devices += 1,
            None => {}
        }
    }
    Ok(done)
}

/// Devices a pass works on at once.
const DEVICES_AT_ONCE: usize = 8;

/// What a pass did to one device.
#[derive(Default)]
struct DeviceOutcome {
    first_kept: Option<Timestamp>,
    archived: u64,
    removed: u64,
    failed: Option<String>,
}

/// Archive, then remove, `device`'s events below what it keeps.
async fn one_device(
    log: &dyn EventLog,
    archive: &Archive,
    device: DeviceId,
    folded: u64,
    cutoff: Timestamp,
) -> (DeviceId, DeviceOutcome) {
    let mut outcome = DeviceOutcome::default();
    let events = match log.oldest_events(&device, cutoff).await {
        Ok(events) => events,
        Err(e) => {
            outcome.failed = Some(e.to_string());
            return (device, outcome);
        }
    };
    let times: Vec<_> = events.iter().map(|e| (e.seq, e.at)).collect();
    let keep = compaction::keep_from(&times, cutoff, folded);
    let (old, kept): (Vec<_>, Vec<_>) = events.into_iter().partition(|e| e.seq < keep);
    outcome.first_kept = kept.first().map(|e| e.at);
    if old.is_empty() {
        return (device, outcome);
    }
    let (archive, count) = (archive.clone(), old.len() as u64);
    let written = tokio::task::spawn_blocking(move || archive.append(&old))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    if let Err(e) = written {
        outcome.failed = Some(e);
        return (device, outcome);
    }
    outcome.archived = count;
    match log.compact(&device, keep).await {
        Ok(n) => outcome.removed = n,
        Err(e) => outcome.failed = Some(format!("archived, not removed from the live log: {e}")),
    }
    (device, outcome)
}

/// Run a pass every `every` until `stop` changes.
pub async fn every(
    log: std::sync::Arc<dyn EventLog>,
    archive: Archive,
    keep_days: u64,
    every: Duration,
    clock: std::sync::Arc<dyn Clock>,
    followers: Followers,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    let mut oldest = OldestLive::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let behind = followers();
        match pass(
            log.as_ref(),
            &archive,
            keep_days,
            clock.now(),
            &behind,
            &mut oldest,
        )
        .await
        {
            Ok(c) if c.base == 0 => {
                tracing::info!("no checkpoint yet: compaction waits for one");
            }
            Ok(c) => {
                for why in &c.failed {
                    tracing::warn!(archive = %archive.dir().display(), problem = %why, "a device was not compacted");
                }
                tracing::info!(base = c.base, devices = c.devices, archived = c.archived, removed = c.removed,
                    failed = c.failed.len(), archive = %archive.dir().display(), "compaction pass");
            }
            Err(e) => {
                tracing::warn!(error = %e, "compaction could not run; the live log is as it was")
            }
        }
    }
}

/// Without a usable checkpoint, a compacted log is not whole: fold each
/// archived device's events into the board and the runner first (device
/// by device: a device's machine depends on its own events only), then the
/// live log from its start goes on after them. Returns the events folded.
pub fn seed_from_archive(
    archive: &Archive,
    board: &Mutex<StatusBoard>,
    runner: &mut Runner,
) -> u64 {
    let mut seeded = StatusBoard::new();
    let mut n = 0;
    archive.for_each(
        |env| {
            seeded.apply_archived(env);
            n += 1;
        },
        |p| tracing::error!(problem = %p, "an archived record does not read; its device's status may be out of date"),
    );
    if n == 0 {
        return 0;
    }
    runner.restore(0, seeded.states().cloned(), seeded.slots());
    if let Ok(mut b) = board.lock() {
        *b = seeded;
    }
    n
}
