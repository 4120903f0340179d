//! Checkpoints and compaction in virtual time (a scenario's `[history]`).
//!
//! The daemon keeps its log short to fold: every so often it writes a
//! checkpoint (every device's machine state at a log position) and keeps
//! the newest few; compaction moves each device's events that are older
//! than the cut-off **and** folded into the base checkpoint (the oldest
//! kept) from the live log into the archive, as
//! [`keep_from`](crate::domain::compaction::keep_from) decides; a new
//! process takes up the newest checkpoint and folds only the live log's
//! events after it. [`History`] is that, in memory: the live log with each
//! envelope's global position, the checkpoints kept, the archive.
//!
//! What it must not change is what the fleet does: the simulation runs a
//! `[history]` scenario twice (with and without) and compares a digest of
//! every device's outcome ([`outcomes_sha256`]) and the logs' digests.
//! Everything is kept in vectors in log order; nothing iterates a hash map.

use std::collections::VecDeque;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::scenario::HistorySettings;
use crate::domain::compaction::keep_from;
use crate::domain::{AttemptId, DeviceId, DeviceState, Envelope, Phase, Timestamp};

/// One envelope of the log, where it is in the log (from 1) and whose it
/// is (the harness's device index, so no lookup by id is needed).
#[derive(Debug, Clone)]
pub struct Logged {
    pub position: u64,
    pub device: u32,
    pub envelope: Envelope,
}

/// Every device's folded machine at a log position, as a checkpoint holds
/// it.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The last log position folded in.
    pub position: u64,
    /// In device-id order.
    pub states: Vec<DeviceState>,
    /// The slot count of the policy folded in (`None`: nothing enrolled).
    pub slots: Option<usize>,
    /// Per device index, the sequence folded in (0: not enrolled then):
    /// what compaction may remove when this is the base.
    folded: Vec<u64>,
}

/// What the history did over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub checkpoints: u64,
    /// Compaction passes that had a base checkpoint to work from.
    pub compactions: u64,
    pub archived: u64,
    /// The most events the live log held at once.
    pub live_peak: u64,
    pub restarts_from_checkpoint: u64,
}

/// The live log, the kept checkpoints and the archive of one run.
#[derive(Debug)]
pub struct History {
    settings: HistorySettings,
    /// Position of the last envelope appended (0: none yet).
    position: u64,
    /// In position order (compaction removes from the middle, never
    /// reorders).
    live: Vec<Logged>,
    /// Oldest first.
    checkpoints: VecDeque<Checkpoint>,
    /// In the order archived: per device, in sequence order.
    archive: Vec<Logged>,
    /// Per device index, the last sequence archived: the next one archived
    /// must follow it (no hole between archive and live log).
    archived_to: Vec<u64>,
    pub tally: Tally,
}

impl History {
    /// An empty history for a fleet of `devices` (indices `0..devices`).
    pub fn new(settings: HistorySettings, devices: u32) -> Self {
        History {
            settings,
            position: 0,
            live: Vec::new(),
            checkpoints: VecDeque::new(),
            archive: Vec::new(),
            archived_to: vec![0; devices as usize],
            tally: Tally::default(),
        }
    }

    pub fn settings(&self) -> &HistorySettings {
        &self.settings
    }

    /// Position of the last envelope appended.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Append one recorded envelope of device `device`.
    pub fn append(&mut self, device: u32, envelope: Envelope) {
        self.position += 1;
        self.live.push(Logged {
            position: self.position,
            device,
            envelope,
        });
        self.tally.live_peak = self.tally.live_peak.max(self.live.len() as u64);
    }

    /// Record a checkpoint at the current position: `states` as the fleet
    /// holds them now, `folded` their sequences by device index. Only the
    /// newest `checkpoints_kept` are kept.
    pub fn checkpoint(&mut self, states: Vec<DeviceState>, slots: Option<usize>, folded: Vec<u64>) {
        self.checkpoints.push_back(Checkpoint {
            position: self.position,
            states,
            slots,
            folded,
        });
        while self.checkpoints.len() > self.settings.checkpoints_kept {
            self.checkpoints.pop_front();
        }
        self.tally.checkpoints += 1;
    }

    /// The checkpoint a new process starts from.
    pub fn newest(&self) -> Option<&Checkpoint> {
        self.checkpoints.back()
    }

    /// The live log's envelopes after `position`, in order.
    pub fn after(&self, position: u64) -> &[Logged] {
        let from = self.live.partition_point(|l| l.position <= position);
        &self.live[from..]
    }

    pub fn live(&self) -> &[Logged] {
        &self.live
    }

    pub fn archive(&self) -> &[Logged] {
        &self.archive
    }

    /// One compaction pass at `now`: per device, the prefix
    /// [`keep_from`] lets go (older than `keep` before `now` and folded
    /// into the oldest kept checkpoint) moves from the live log to the
    /// archive. Without `keep` or a checkpoint nothing moves. Returns the
    /// problems seen (a device whose archive would have a hole), by device
    /// index.
    pub fn compact(&mut self, now: Timestamp) -> Vec<(u32, String)> {
        let (Some(keep), Some(base)) = (self.settings.keep, self.checkpoints.front()) else {
            return Vec::new();
        };
        self.tally.compactions += 1;
        let cutoff = Timestamp(now.0.saturating_sub(keep.0));
        let mut histories: Vec<Vec<(u64, Timestamp)>> = vec![Vec::new(); self.archived_to.len()];
        for l in &self.live {
            if let Some(h) = histories.get_mut(l.device as usize) {
                h.push((l.envelope.seq, l.envelope.at));
            }
        }
        let keep_seq: Vec<u64> = histories
            .iter()
            .enumerate()
            .map(|(i, h)| keep_from(h, cutoff, base.folded.get(i).copied().unwrap_or(0)))
            .collect();
        let mut problems = Vec::new();
        let old = std::mem::take(&mut self.live);
        self.live.reserve(old.len());
        for l in old {
            let i = l.device as usize;
            if l.envelope.seq >= keep_seq.get(i).copied().unwrap_or(0) {
                self.live.push(l);
                continue;
            }
            let expected = self.archived_to[i] + 1;
            if l.envelope.seq != expected {
                problems.push((
                    l.device,
                    format!(
                        "compaction archives sequence {}, the archive ends before {expected}",
                        l.envelope.seq
                    ),
                ));
            }
            self.archived_to[i] = l.envelope.seq;
            self.archive.push(l);
            self.tally.archived += 1;
        }
        problems
    }
}

/// What a device ended with, as the outcome digest reads it.
#[derive(Serialize)]
struct DeviceOutcome<'a> {
    device: &'a DeviceId,
    #[serde(flatten)]
    phase: &'a Phase,
    seq: u64,
    attempts: AttemptId,
    successes: u64,
    failures: u64,
    failures_in_a_row: u32,
    last_success: Option<Timestamp>,
    last_hash: Option<&'a str>,
    trusted_host_key: Option<&'a str>,
}

/// SHA-256 of every device's outcome, one JSON line each in device-id
/// order: its final phase (with its times), sequence, attempts, successes
/// and failures recorded over the run, failures in a row, last success,
/// last hash and trusted host key. `counts` gives a device's `(successes,
/// failures)`.
pub fn outcomes_sha256(
    states: &[&DeviceState],
    mut counts: impl FnMut(&DeviceId) -> (u64, u64),
) -> String {
    let mut hasher = Sha256::new();
    let mut line = Vec::with_capacity(512);
    for s in states {
        let (successes, failures) = counts(&s.device);
        let outcome = DeviceOutcome {
            device: &s.device,
            phase: &s.phase,
            seq: s.seq,
            attempts: s.attempts,
            successes,
            failures,
            failures_in_a_row: s.failures,
            last_success: s.last_success,
            last_hash: s.last_hash.as_deref(),
            trusted_host_key: s.trusted_host_key.as_deref(),
        };
        line.clear();
        // Serializing these types cannot fail.
        let _ = serde_json::to_writer(&mut line, &outcome);
        line.push(b'\n');
        hasher.update(&line);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Event, TenantId};
    use crate::simulation::SimDuration;

    const DAY: u64 = 86_400_000;

    fn env(device: &str, seq: u64, at: u64) -> Envelope {
        Envelope {
            schema: crate::domain::event::SCHEMA_VERSION,
            device: DeviceId::parse(device).expect("id"),
            tenant: TenantId::parse("sim").expect("tenant"),
            seq,
            at: Timestamp(at),
            node: "sim-1".into(),
            correlation: None,
            event: Event::CredentialsUpdated,
            after: None,
        }
    }

    fn history(keep_days: u64, kept: usize) -> History {
        History::new(
            HistorySettings {
                checkpoints_kept: kept,
                keep: Some(SimDuration(keep_days * DAY)),
                ..HistorySettings::default()
            },
            2,
        )
    }

    #[test]
    fn compaction_moves_old_folded_prefixes_and_keeps_each_devices_last_event() {
        let mut h = history(1, 2);
        // Device 0: days 0, 1, 2; device 1: day 0 only.
        h.append(0, env("a", 1, 0));
        h.append(1, env("b", 1, 0));
        h.append(0, env("a", 2, DAY));
        h.checkpoint(Vec::new(), None, vec![2, 1]);
        h.append(0, env("a", 3, 2 * DAY));
        // Nothing before a checkpoint, then only what the base folded.
        assert!(
            History::new(h.settings().clone(), 2)
                .compact(Timestamp(9 * DAY))
                .is_empty()
        );
        assert!(h.compact(Timestamp(10 * DAY)).is_empty());
        let archived: Vec<(u32, u64)> = h
            .archive()
            .iter()
            .map(|l| (l.device, l.envelope.seq))
            .collect();
        assert_eq!(
            archived,
            [(0, 1), (0, 2)],
            "b's last event and a's unfolded stay"
        );
        assert_eq!(h.live().len(), 2);
        assert_eq!(h.after(3).len(), 1, "the live log keeps its positions");
        assert_eq!(h.after(3)[0].position, 4);
        assert_eq!(h.tally.archived, 2);
        assert_eq!(h.tally.live_peak, 4);
    }

    #[test]
    fn the_base_is_the_oldest_kept_checkpoint() {
        let mut h = history(0, 2);
        for seq in 1..=4 {
            h.append(0, env("a", seq, seq * DAY));
            h.checkpoint(Vec::new(), None, vec![seq, 0]);
        }
        // Kept: the checkpoints at 3 and 4; the base folded sequence 3.
        assert_eq!(h.newest().map(|c| c.position), Some(4));
        h.compact(Timestamp(100 * DAY));
        assert_eq!(h.archive().len(), 3);
        assert_eq!(h.live()[0].envelope.seq, 4);
    }

    #[test]
    fn a_hole_between_archive_and_live_log_is_reported() {
        let mut h = history(1, 3);
        h.append(0, env("a", 2, 0));
        h.append(0, env("a", 3, 5 * DAY));
        h.checkpoint(Vec::new(), None, vec![3, 0]);
        let problems = h.compact(Timestamp(10 * DAY));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("sequence 2"), "{problems:?}");
    }

    #[test]
    fn the_outcome_digest_reads_each_devices_outcome() {
        let state = |seq| {
            let mut s = DeviceState::new(
                DeviceId::parse("a").expect("id"),
                TenantId::parse("sim").expect("tenant"),
            );
            s.seq = seq;
            s
        };
        let (a, b) = (state(1), state(2));
        let digest = |s: &DeviceState, n| outcomes_sha256(&[s], |_| (n, 0));
        assert_eq!(digest(&a, 1), digest(&a, 1));
        assert_ne!(digest(&a, 1), digest(&b, 1));
        assert_ne!(digest(&a, 1), digest(&a, 2));
        assert_eq!(digest(&a, 1).len(), 64);
    }
}
