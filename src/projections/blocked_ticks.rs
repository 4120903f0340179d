//! The platform's `skipped_auth_blocked` / `skipped_hostkey_blocked`
//! counters, without ticking blocked devices.
//!
//! The platform's scheduler wakes every blocked device at each of its
//! intervals and counts a skip. confkeep sets no timer for a blocked device
//! (nothing is due until an operator acts), so the fold counts the ticks the
//! platform would have counted instead: a blocking episode that began at
//! `since` with interval `i` has skipped `floor((now − since) / i)` ticks by
//! `now`. Closed episodes are summed when they end; open ones are evaluated
//! at scrape time. The value only grows (time only moves forward, and an
//! ended episode keeps what it counted), so it is a proper Prometheus
//! counter, and it agrees after any restart because it is folded from the
//! log's own timestamps.

use std::collections::BTreeMap;

use crate::domain::{DeviceId, PhaseKind, Timestamp};

/// Which block a device sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Block {
    Auth,
    HostKey,
}

impl Block {
    /// The block a phase is, if it is one.
    pub fn of(phase: PhaseKind) -> Option<Block> {
        match phase {
            PhaseKind::AuthBlocked => Some(Block::Auth),
            PhaseKind::HostKeyBlocked => Some(Block::HostKey),
            PhaseKind::Unenrolled
            | PhaseKind::Jitter
            | PhaseKind::Idle
            | PhaseKind::Running
            | PhaseKind::Backoff
            | PhaseKind::Retired => None,
        }
    }

    /// The `mikrotik_config_backup_total` status its ticks count under.
    pub fn status(self) -> &'static str {
        match self {
            Block::Auth => "skipped_auth_blocked",
            Block::HostKey => "skipped_hostkey_blocked",
        }
    }

    fn slot(self) -> usize {
        match self {
            Block::Auth => 0,
            Block::HostKey => 1,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Episode {
    block: Block,
    since: Timestamp,
    interval_ms: u64,
}

/// Skipped ticks of blocked devices, per block (saved whole in a
/// checkpoint: only blocked devices have an entry).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BlockedTicks {
    open: BTreeMap<DeviceId, Episode>,
    closed: [u64; 2],
}

fn ticks(episode: &Episode, now: Timestamp) -> u64 {
    let elapsed = now.0.saturating_sub(episode.since.0);
    elapsed.checked_div(episode.interval_ms).unwrap_or(0)
}

impl BlockedTicks {
    /// A device moved from phase `left` to `entered` at `at`.
    pub fn moved(
        &mut self,
        device: &DeviceId,
        left: Option<PhaseKind>,
        entered: PhaseKind,
        at: Timestamp,
        interval_ms: u64,
    ) {
        if left == Some(entered) {
            return;
        }
        if let Some(ended) = self.open.remove(device) {
            self.closed[ended.block.slot()] += ticks(&ended, at);
        }
        if let Some(block) = Block::of(entered) {
            let episode = Episode {
                block,
                since: at,
                interval_ms,
            };
            self.open.insert(device.clone(), episode);
        }
    }

    /// The ticks skipped by `now` for `block`: ended episodes plus the
    /// open ones so far.
    pub fn total(&self, block: Block, now: Timestamp) -> u64 {
        let open: u64 = self
            .open
            .values()
            .filter(|e| e.block == block)
            .map(|e| ticks(e, now))
            .sum();
        self.closed[block.slot()] + open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn dev(name: &str) -> DeviceId {
        DeviceId::parse(name).expect("a valid id")
    }

    #[test]
    fn an_open_block_counts_one_tick_per_interval_and_keeps_them_when_it_ends() {
        let mut t = BlockedTicks::default();
        let d = dev("r1");
        t.moved(
            &d,
            Some(PhaseKind::Running),
            PhaseKind::AuthBlocked,
            Timestamp(0),
            10 * MIN,
        );
        assert_eq!(t.total(Block::Auth, Timestamp(9 * MIN)), 0);
        assert_eq!(t.total(Block::Auth, Timestamp(25 * MIN)), 2);
        t.moved(
            &d,
            Some(PhaseKind::AuthBlocked),
            PhaseKind::Jitter,
            Timestamp(31 * MIN),
            10 * MIN,
        );
        assert_eq!(t.total(Block::Auth, Timestamp(500 * MIN)), 3);
        assert_eq!(t.total(Block::HostKey, Timestamp(500 * MIN)), 0);
    }

    #[test]
    fn the_counter_never_goes_down_as_devices_block_and_unblock() {
        let mut t = BlockedTicks::default();
        let (a, b) = (dev("a"), dev("b"));
        let mut last = 0;
        let mut now = 0;
        for round in 0..20u64 {
            now += 7 * MIN;
            let who = if round % 2 == 0 { &a } else { &b };
            let (from, to) = if round % 4 < 2 {
                (PhaseKind::Running, PhaseKind::HostKeyBlocked)
            } else {
                (PhaseKind::HostKeyBlocked, PhaseKind::Idle)
            };
            t.moved(who, Some(from), to, Timestamp(now), 5 * MIN);
            let v = t.total(Block::HostKey, Timestamp(now));
            assert!(v >= last, "round {round}: {v} < {last}");
            last = v;
        }
        assert!(last > 0);
    }

    #[test]
    fn staying_in_the_same_block_does_not_restart_the_episode() {
        let mut t = BlockedTicks::default();
        let d = dev("r1");
        t.moved(&d, None, PhaseKind::HostKeyBlocked, Timestamp(0), MIN);
        t.moved(
            &d,
            Some(PhaseKind::HostKeyBlocked),
            PhaseKind::HostKeyBlocked,
            Timestamp(90_000),
            MIN,
        );
        assert_eq!(t.total(Block::HostKey, Timestamp(120_000)), 2);
    }

    #[test]
    fn a_zero_interval_counts_nothing_rather_than_dividing_by_zero() {
        let mut t = BlockedTicks::default();
        t.moved(&dev("z"), None, PhaseKind::AuthBlocked, Timestamp(0), 0);
        assert_eq!(t.total(Block::Auth, Timestamp(u64::MAX)), 0);
    }
}
