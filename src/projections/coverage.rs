//! Coverage over time: the share of active devices whose last backup is
//! fresher than two of their intervals, sampled at every hour of log time.
//!
//! The fleet page charts it over the last days. It is a fold of the log
//! like the rest of the board, so the chart after a restart is the chart
//! before it. Each device's coverage ends at a known time (its last success
//! plus two intervals); those ends are kept sorted, so a sample only drops
//! the ends it has passed instead of visiting every device — an hour
//! boundary costs what expired in that hour, not the fleet's size.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::domain::{DeviceId, Timestamp};

/// One sample: devices active and covered at a moment of log time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageSample {
    pub at: Timestamp,
    pub devices: usize,
    pub covered: usize,
}

impl CoverageSample {
    /// Covered devices as a share of the active ones (1.0 for none).
    pub fn share(&self) -> f64 {
        if self.devices == 0 {
            1.0
        } else {
            self.covered as f64 / self.devices as f64
        }
    }
}

/// How often coverage is sampled, in log time.
pub const SAMPLE_EVERY_MS: u64 = 3_600_000;
/// Samples kept: fourteen days of hours.
pub const SAMPLES_KEPT: usize = 14 * 24;

/// The coverage fold.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// When each covered device stops being covered.
    ends: HashMap<DeviceId, Timestamp>,
    /// The same ends, sorted, to drop the passed ones cheaply.
    sorted: BTreeSet<(Timestamp, DeviceId)>,
    samples: VecDeque<CoverageSample>,
    next_sample: Option<Timestamp>,
}

impl Coverage {
    /// Take the samples due before `at` (log time), `active` devices being
    /// enrolled and not retired until then.
    pub fn advance(&mut self, at: Timestamp, active: usize) {
        let next = *self.next_sample.get_or_insert(Timestamp(
            at.0 / SAMPLE_EVERY_MS * SAMPLE_EVERY_MS + SAMPLE_EVERY_MS,
        ));
        if at < next {
            return;
        }
        // A log that was silent for longer than the chart shows needs only
        // the samples the chart keeps.
        let span = SAMPLE_EVERY_MS * SAMPLES_KEPT as u64;
        let mut boundary = if at.0 - next.0 > span {
            Timestamp((at.0 - span) / SAMPLE_EVERY_MS * SAMPLE_EVERY_MS)
        } else {
            next
        };
        while boundary <= at {
            self.drop_ended(boundary);
            if self.samples.len() == SAMPLES_KEPT {
                self.samples.pop_front();
            }
            self.samples.push_back(CoverageSample {
                at: boundary,
                devices: active,
                covered: self.sorted.len().min(active),
            });
            boundary = Timestamp(boundary.0 + SAMPLE_EVERY_MS);
        }
        self.next_sample = Some(boundary);
    }

    fn drop_ended(&mut self, boundary: Timestamp) {
        while let Some((end, device)) = self.sorted.first().cloned() {
            if end > boundary {
                break;
            }
            self.sorted.pop_first();
            self.ends.remove(&device);
        }
    }

    /// The device's coverage now ends at `end` (`None`: it is not covered:
    /// never backed up, or retired).
    pub fn set(&mut self, device: &DeviceId, end: Option<Timestamp>) {
        if let Some(old) = self.ends.remove(device) {
            self.sorted.remove(&(old, device.clone()));
        }
        if let Some(end) = end {
            self.ends.insert(device.clone(), end);
            self.sorted.insert((end, device.clone()));
        }
    }

    /// Devices covered at `now` (at or after the last fold).
    pub fn covered_at(&self, now: Timestamp) -> usize {
        let ended = self
            .sorted
            .iter()
            .take_while(|(end, _)| *end <= now)
            .count();
        self.sorted.len() - ended
    }

    /// What a checkpoint keeps of the fold: the samples and the next
    /// sample's time (the ends follow from the devices' states).
    pub fn saved(&self) -> (Vec<CoverageSample>, Option<Timestamp>) {
        (self.samples.iter().copied().collect(), self.next_sample)
    }

    /// The fold as a checkpoint saved it, with each device's end as its
    /// state says (`ends`); those a sample already passed are dropped, as
    /// the fold had dropped them.
    pub fn restore(
        samples: Vec<CoverageSample>,
        next_sample: Option<Timestamp>,
        ends: impl IntoIterator<Item = (DeviceId, Timestamp)>,
    ) -> Self {
        let passed = next_sample.map(|n| Timestamp(n.0.saturating_sub(SAMPLE_EVERY_MS)));
        let mut coverage = Coverage {
            samples: samples.into_iter().collect(),
            next_sample,
            ..Coverage::default()
        };
        for (device, end) in ends {
            if passed.is_none_or(|p| end > p) {
                coverage.set(&device, Some(end));
            }
        }
        coverage
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &CoverageSample> {
        self.samples.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: &str) -> DeviceId {
        DeviceId::parse(n).unwrap()
    }

    const H: u64 = SAMPLE_EVERY_MS;

    #[test]
    fn a_device_is_covered_until_its_end_and_samples_fall_on_the_hour() {
        let mut c = Coverage::default();
        c.advance(Timestamp(10 * H + 5), 2);
        c.set(&id("a"), Some(Timestamp(12 * H + 30)));
        c.set(&id("b"), Some(Timestamp(11 * H + 30)));
        assert_eq!(c.covered_at(Timestamp(11 * H)), 2);
        c.advance(Timestamp(13 * H + 1), 2);
        let got: Vec<(u64, usize)> = c.samples().map(|s| (s.at.0 / H, s.covered)).collect();
        assert_eq!(got, vec![(11, 2), (12, 1), (13, 0)]);
        assert_eq!(c.covered_at(Timestamp(13 * H + 1)), 0);
    }

    #[test]
    fn a_new_success_moves_the_end_and_retiring_drops_it() {
        let mut c = Coverage::default();
        c.advance(Timestamp(0), 1);
        c.set(&id("a"), Some(Timestamp(2 * H)));
        c.set(&id("a"), Some(Timestamp(5 * H)));
        c.advance(Timestamp(3 * H), 1);
        assert_eq!(c.samples().last().map(|s| s.covered), Some(1));
        c.set(&id("a"), None);
        assert_eq!(c.covered_at(Timestamp(3 * H)), 0);
        c.advance(Timestamp(4 * H), 0);
        assert_eq!(c.samples().last().map(|s| s.share()), Some(1.0));
    }

    #[test]
    fn a_long_silence_keeps_only_the_samples_the_chart_shows() {
        let mut c = Coverage::default();
        c.advance(Timestamp(0), 1);
        c.advance(Timestamp(400 * 24 * H), 1);
        assert_eq!(c.samples().count(), SAMPLES_KEPT);
        assert_eq!(c.samples().last().map(|s| s.at.0), Some(400 * 24 * H));
    }
}
