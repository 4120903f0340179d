//! Prometheus metrics folded from the log: devices per phase.
//!
//! The runner counts attempts live (`config_backup_total{status}`,
//! `config_backup_duration_seconds`, `config_backup_active`); this observer
//! keeps `config_backup_devices{phase}` right at replay and live. Rendering
//! is the `metrics-exporter-prometheus` recorder's job.

use std::collections::HashMap;

use crate::domain::observer::Observer;
use crate::domain::{DeviceId, DeviceState, Envelope, PhaseKind};

/// Keeps the per-phase device gauges.
#[derive(Debug, Default)]
pub struct PhaseGauges {
    phase: HashMap<DeviceId, PhaseKind>,
    counts: [i64; PhaseKind::ALL.len()],
}

fn index(p: PhaseKind) -> usize {
    PhaseKind::ALL.iter().position(|q| *q == p).unwrap_or(0)
}

impl PhaseGauges {
    pub fn new() -> Self {
        Self::default()
    }

    /// Devices currently in `phase`.
    pub fn count(&self, phase: PhaseKind) -> i64 {
        self.counts[index(phase)]
    }
}

impl Observer for PhaseGauges {
    fn recorded(&mut self, _envelope: &Envelope, state: &DeviceState) {
        let new = state.phase.kind();
        let old = self.phase.insert(state.device.clone(), new);
        if old == Some(new) {
            return;
        }
        if let Some(old) = old {
            self.counts[index(old)] -= 1;
            metrics::gauge!("config_backup_devices", "phase" => old.name())
                .set(self.counts[index(old)] as f64);
        }
        self.counts[index(new)] += 1;
        metrics::gauge!("config_backup_devices", "phase" => new.name())
            .set(self.counts[index(new)] as f64);
    }
}
