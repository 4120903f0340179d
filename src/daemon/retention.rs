//! Retention of snapshot files: for every device with files, what the log
//! says it collected and when, the pure rule ([`RetentionRule`]) picks
//! what goes, and the files are removed (or, dry, only listed).
//!
//! The same pass answers `confkeep gc` on a stopped daemon's data
//! directory, `POST /v1/snapshots/gc` on a running one, and the daemon's
//! own periodic run (`[retention] every_hours`). It records nothing in the
//! event log: the log keeps saying what was collected (a diff against a
//! removed snapshot says it is missing), and removing files is not a step
//! of any device's lifecycle. A file the log does not know (another log's,
//! an operator's copy) is never removed, and neither is the one `latest`
//! points to.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::domain::{Collected, DeviceId, Event, Outcome, RetentionRule, TenantId, Timestamp};
use crate::effects::snapshot::SnapshotFiles;
use crate::effects::snapshot_files::StoredFile;
use crate::store::EventLog;

/// A snapshot file retention removed (or, dry, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Removed {
    pub tenant: String,
    pub device: String,
    pub sha256: String,
    /// When the log last saw this config collected (ms since the epoch).
    #[schema(value_type = u64)]
    pub last_collected: Timestamp,
    pub bytes: u64,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GcReport {
    pub dry_run: bool,
    #[schema(value_type = Object)]
    pub rule: RetentionRule,
    /// Devices with snapshot files.
    pub devices: usize,
    /// Files kept (the latest, the ones the rule keeps, the unknown).
    pub kept: usize,
    /// Files the log does not know: kept.
    pub not_in_log: usize,
    pub removed: Vec<Removed>,
    pub removed_bytes: u64,
    /// Files that could not be listed or removed, naming the path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("snapshot directory: {0}")]
    Files(#[from] crate::effects::snapshot_files::FilesError),
    #[error("event log of device {device}: {message}")]
    Log { device: String, message: String },
    #[error("{0}")]
    Rule(#[from] crate::domain::RetentionError),
}

/// One pass over every device with files.
pub async fn collect_garbage(
    log: &dyn EventLog,
    files: &SnapshotFiles,
    rule: RetentionRule,
    now: Timestamp,
    dry_run: bool,
) -> Result<GcReport, GcError> {
    rule.validate()?;
    let listing = files.clone();
    let devices = blocking(move || listing.stored_devices()).await?;
    let mut report = GcReport {
        dry_run,
        rule,
        devices: devices.len(),
        ..GcReport::default()
    };
    for (tenant, device) in devices {
        let lister = files.clone();
        let (t, d) = (tenant.clone(), device.clone());
        let stored = match blocking(move || lister.stored(&t, &d)).await {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(e.to_string());
                continue;
            }
        };
        let collected = last_collections(log, &device).await?;
        let pinned = files.latest(&tenant, &device);
        let doomed = choose(
            &stored,
            &collected,
            pinned.as_deref(),
            rule,
            now,
            &mut report,
        );
        remove(files, &tenant, &device, doomed, dry_run, &mut report).await;
    }
    Ok(report)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::effects::snapshot_files::FilesError> + Send + 'static,
) -> Result<T, crate::effects::snapshot_files::FilesError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(crate::effects::snapshot_files::FilesError {
            path: "snapshots".into(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// Each distinct config the device collected, with its last collection,
/// and the latest; streamed, so a long history is never held.
async fn last_collections(
    log: &dyn EventLog,
    device: &DeviceId,
) -> Result<(BTreeMap<String, Timestamp>, Option<String>), GcError> {
    let mut stream = log.device_history(device);
    let mut last: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut latest = None;
    while let Some(item) = stream.next().await {
        let env = item.map_err(|e| GcError::Log {
            device: device.to_string(),
            message: e.to_string(),
        })?;
        if let Event::AttemptFinished {
            outcome: Outcome::Collected { sha256, .. },
            ..
        } = &env.event
        {
            last.insert(sha256.clone(), env.at);
            latest = Some(sha256.clone());
        }
    }
    Ok((last, latest))
}

/// The files the rule removes; counts the rest as kept.
fn choose(
    stored: &[StoredFile],
    (last, latest): &(BTreeMap<String, Timestamp>, Option<String>),
    pinned: Option<&str>,
    rule: RetentionRule,
    now: Timestamp,
    report: &mut GcReport,
) -> Vec<(StoredFile, Timestamp)> {
    let known: Vec<Collected> = stored
        .iter()
        .filter_map(|f| {
            Some(Collected {
                sha256: f.sha256.clone(),
                last: *last.get(&f.sha256)?,
            })
        })
        .collect();
    report.not_in_log += stored.len() - known.len();
    let gone = rule.to_remove(&known, latest.as_deref(), now);
    let doomed: Vec<(StoredFile, Timestamp)> = stored
        .iter()
        .filter(|f| gone.contains(&f.sha256) && Some(f.sha256.as_str()) != pinned)
        .filter_map(|f| Some((f.clone(), *last.get(&f.sha256)?)))
        .collect();
    report.kept += stored.len() - doomed.len();
    doomed
}

async fn remove(
    files: &SnapshotFiles,
    tenant: &TenantId,
    device: &DeviceId,
    doomed: Vec<(StoredFile, Timestamp)>,
    dry_run: bool,
    report: &mut GcReport,
) {
    for (file, last_collected) in doomed {
        if !dry_run {
            let (f, t, d, sha) = (
                files.clone(),
                tenant.clone(),
                device.clone(),
                file.sha256.clone(),
            );
            if let Err(e) = blocking(move || f.remove(&t, &d, &sha)).await {
                report.problems.push(e.to_string());
                report.kept += 1;
                continue;
            }
        }
        report.removed_bytes += file.bytes;
        report.removed.push(Removed {
            tenant: tenant.to_string(),
            device: device.to_string(),
            sha256: file.sha256,
            last_collected,
            bytes: file.bytes,
        });
    }
}

/// The daemon's own pass: a minute after start, then every
/// `every_hours`; each says what it removed in one log line.
pub async fn every(
    log: std::sync::Arc<dyn EventLog>,
    files: SnapshotFiles,
    config: crate::effects::config::RetentionConfig,
    clock: std::sync::Arc<dyn crate::effects::runner::Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let period = std::time::Duration::from_secs(config.every_hours.max(1) * 3600);
    let mut wait = std::time::Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = period;
        match collect_garbage(&*log, &files, config.rule(), clock.now(), false).await {
            Ok(r) => tracing::info!(
                devices = r.devices,
                removed = r.removed.len(),
                removed_bytes = r.removed_bytes,
                kept = r.kept,
                not_in_log = r.not_in_log,
                problems = r.problems.len(),
                first_problem = r.problems.first().map(String::as_str).unwrap_or(""),
                "retention pass over the snapshot files"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "retention pass failed; the next is in every_hours")
            }
        }
    }
}
