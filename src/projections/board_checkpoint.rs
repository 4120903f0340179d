//! The status board as a checkpoint body, and back.
//!
//! The body is gzip-compressed JSON lines: a head (the board's counters,
//! problems, blocked episodes, coverage samples, the newest policy's slot
//! count) and then one line per device (its machine state and what the
//! board keeps beside it). What follows from those (phase counts, tenant
//! and tag facets, coverage ends) is rebuilt on restore rather than stored,
//! so it cannot disagree with the rows. A body that does not read is
//! refused with the line it broke at.
//!
//! The runner's machines are the board's device states at the same
//! position (both are folds of the same log through the same `step`), so
//! one checkpoint restores both.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::domain::{DeviceState, StoredApart, Timestamp};
use crate::store::GlobalSeq;

use super::{BlockedTicks, Coverage, CoverageSample, Folded, LogProblem, StatusBoard, index};

/// The body's format; a release that stores the board otherwise bumps it.
pub const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    format: u32,
    rules: u32,
    position: GlobalSeq,
    devices: usize,
    slots: Option<usize>,
    #[serde(default)]
    slots_at: Timestamp,
    succeeded: u64,
    failed: u64,
    skipped: u64,
    finished: BTreeMap<String, u64>,
    problems: Vec<LogProblem>,
    problems_total: u64,
    blocked: BlockedTicks,
    coverage: Vec<CoverageSample>,
    next_sample: Option<Timestamp>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    state: DeviceState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enrolled_at: Option<Timestamp>,
    events: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    out_of_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored_apart: Option<StoredApart>,
}

/// The statuses `mikrotik_config_backup_total` counts finished attempts
/// under (the board keys them by `&'static str`).
const FINISHED: [&str; 4] = ["success", "error", "skipped", "skipped_offline"];

/// Why a checkpoint body was refused.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("{0}")]
    Other(String),
}

impl StatusBoard {
    /// The board as a checkpoint body (compressed), at its position.
    pub fn checkpoint_body(&self, rules: u32) -> std::io::Result<Vec<u8>> {
        let (coverage, next_sample) = self.coverage.saved();
        let head = Head {
            format: FORMAT,
            rules,
            position: self.checkpoint,
            devices: self.devices.len(),
            slots: self.slots,
            slots_at: self.slots_at,
            succeeded: self.succeeded,
            failed: self.failed,
            skipped: self.skipped,
            finished: self
                .finished
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            problems: self.problems.iter().cloned().collect(),
            problems_total: self.problems_total,
            blocked: self.blocked.clone(),
            coverage,
            next_sample,
        };
        // Buffered: serde writes token by token, and one deflate call per
        // token cost ~100 µs a device (11 s at 100 000 devices, under the
        // board's lock).
        let mut out = std::io::BufWriter::with_capacity(
            1 << 16,
            GzEncoder::new(Vec::new(), Compression::fast()),
        );
        serde_json::to_writer(&mut out, &head)?;
        out.write_all(b"\n")?;
        for folded in self.devices.values() {
            let row = RowRef {
                state: &folded.state,
                enrolled_at: folded.enrolled_at,
                events: folded.events,
                out_of_date: folded.out_of_date.as_deref(),
                stored_apart: folded.stored_apart.as_deref(),
            };
            serde_json::to_writer(&mut out, &row)?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.finish()
    }

    /// The board a checkpoint body holds, checked against the rules and
    /// position its meta names.
    pub fn from_checkpoint_body(
        body: &[u8],
        rules: u32,
        position: GlobalSeq,
    ) -> Result<StatusBoard, BodyError> {
        let mut lines = std::io::BufReader::new(GzDecoder::new(body)).lines();
        let line = |n: usize, reason: String| BodyError::Line { line: n, reason };
        let first = lines
            .next()
            .ok_or_else(|| BodyError::Other("empty body".into()))?
            .map_err(|e| line(1, e.to_string()))?;
        let head: Head = serde_json::from_str(&first).map_err(|e| line(1, e.to_string()))?;
        if (head.format, head.rules, head.position) != (FORMAT, rules, position) {
            return Err(line(
                1,
                format!(
                    "format {}, rules {}, position {} where the meta says {FORMAT}, {rules}, {position}",
                    head.format, head.rules, head.position
                ),
            ));
        }
        let mut rows = Vec::with_capacity(head.devices.min(1 << 24));
        for (n, text) in lines.enumerate() {
            let text = text.map_err(|e| line(n + 2, e.to_string()))?;
            let row: Row = serde_json::from_str(&text).map_err(|e| line(n + 2, e.to_string()))?;
            rows.push(row);
        }
        if rows.len() != head.devices {
            return Err(BodyError::Other(format!(
                "{} devices where the head says {} (truncated?)",
                rows.len(),
                head.devices
            )));
        }
        Ok(restore(head, rows))
    }

    /// Every device's machine state, for the runner (device-id order).
    pub fn states(&self) -> impl Iterator<Item = &DeviceState> {
        self.devices.values().map(|f| &f.state)
    }

    /// The slot count of the newest policy folded, if one was.
    pub fn slots(&self) -> Option<usize> {
        self.slots
    }
}

#[derive(Serialize)]
struct RowRef<'a> {
    state: &'a DeviceState,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrolled_at: Option<Timestamp>,
    events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    out_of_date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_apart: Option<&'a StoredApart>,
}

fn restore(head: Head, rows: Vec<Row>) -> StatusBoard {
    let mut board = StatusBoard {
        checkpoint: head.position,
        slots: head.slots,
        slots_at: head.slots_at,
        succeeded: head.succeeded,
        failed: head.failed,
        skipped: head.skipped,
        problems: head.problems.into_iter().collect(),
        problems_total: head.problems_total,
        blocked: head.blocked,
        ..StatusBoard::default()
    };
    for (name, n) in head.finished {
        if let Some(known) = FINISHED.iter().find(|k| **k == name) {
            board.finished.insert(known, n);
        }
    }
    let mut ends = Vec::new();
    for row in rows {
        let mut state = row.state;
        state.share(&mut board.shared);
        board.labels.count(&state.tenant, &state.tags, 1);
        if row.events > 0 {
            board.phases[index(state.phase.kind())] += 1;
        }
        if let Some(end) = super::coverage_end(&state) {
            ends.push((state.device.clone(), end));
        }
        let device = state.device.clone();
        board.devices.insert(
            device,
            Box::new(Folded {
                state,
                enrolled_at: row.enrolled_at,
                events: row.events,
                out_of_date: row.out_of_date,
                stored_apart: row.stored_apart.map(Box::new),
            }),
        );
    }
    board.coverage = Coverage::restore(head.coverage, head.next_sample, ends);
    board
}
