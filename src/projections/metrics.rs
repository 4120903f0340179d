//! Prometheus metrics, folded from the log like the status board.
//!
//! The projector hands every [`Change`] the board folded to [`publish`]:
//! `config_backup_devices{phase}` and `config_backup_active` (devices whose
//! attempt is running, as the log says), `config_backup_total{status}` and
//! `config_backup_duration_seconds`. Replay folds the whole log, so after a
//! restart the counters start from the history, not from 0. Rendering is
//! the `metrics-exporter-prometheus` recorder's job.

use crate::domain::PhaseKind;

use super::status::{Change, StatusBoard};

/// Publish what one folded envelope changed.
pub fn publish(change: &Change, board: &StatusBoard) {
    if change.left == Some(change.entered) && change.finished.is_none() {
        return;
    }
    for phase in change.left.into_iter().chain([change.entered]) {
        metrics::gauge!("config_backup_devices", "phase" => phase.name())
            .set(board.count(phase) as f64);
    }
    metrics::gauge!("config_backup_active").set(board.count(PhaseKind::Running) as f64);
    if let Some((status, seconds)) = change.finished {
        metrics::counter!("config_backup_total", "status" => status).increment(1);
        if let Some(seconds) = seconds {
            metrics::histogram!("config_backup_duration_seconds").record(seconds);
        }
    }
}
