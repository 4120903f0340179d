//! Prometheus metrics under the platform's names, folded from the log like
//! the status board.
//!
//! The projector hands every [`Change`] the board folded to [`publish`]:
//! - `mikrotik_config_backup_total{status}`: `success`, `error`, `skipped`
//!   (another holder has the lock), `skipped_offline`, and the blocked
//!   devices' ticks `skipped_auth_blocked` / `skipped_hostkey_blocked`
//!   (counted without ticking them, see [`super::blocked_ticks`]; set at
//!   scrape time by [`publish_blocked`]);
//! - `mikrotik_config_backup_duration_seconds` (buckets [`DURATION_BUCKETS`]);
//! - `mikrotik_config_backup_active`: devices whose attempt is running;
//! - confkeep's own detail: `confkeep_devices{phase}` and
//!   `confkeep_backup_failures_total{kind}` (why the `error`s failed).
//!
//! Replay folds the whole log, so after a restart the counters start from
//! the history, not from 0. Rendering is the `metrics-exporter-prometheus`
//! recorder's job.

use crate::domain::{PhaseKind, Timestamp};

use super::blocked_ticks::Block;
use super::status::{Change, StatusBoard};

/// The platform's backup counter.
pub const BACKUP_TOTAL: &str = "mikrotik_config_backup_total";
/// The platform's duration histogram.
pub const DURATION: &str = "mikrotik_config_backup_duration_seconds";
/// The platform's histogram buckets (seconds).
pub const DURATION_BUCKETS: [f64; 7] = [1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Publish what one folded envelope changed.
pub fn publish(change: &Change, board: &StatusBoard) {
    if change.left == Some(change.entered) && change.finished.is_none() {
        return;
    }
    for phase in change.left.into_iter().chain([change.entered]) {
        metrics::gauge!("confkeep_devices", "phase" => phase.name()).set(board.count(phase) as f64);
    }
    metrics::gauge!("mikrotik_config_backup_active").set(board.count(PhaseKind::Running) as f64);
    let Some(done) = change.finished else {
        return;
    };
    metrics::counter!(BACKUP_TOTAL, "status" => done.status).increment(1);
    if let Some(kind) = done.failure {
        metrics::counter!("confkeep_backup_failures_total", "kind" => kind).increment(1);
    }
    if let Some(seconds) = done.seconds {
        metrics::histogram!(DURATION).record(seconds);
    }
}

/// Set the blocked devices' skipped ticks as of `now` (before a render).
pub fn publish_blocked(board: &StatusBoard, now: Timestamp) {
    for block in [Block::Auth, Block::HostKey] {
        metrics::counter!(BACKUP_TOTAL, "status" => block.status())
            .absolute(board.blocked_ticks(block, now));
    }
}
