//! Which snapshots of a device retention removes: the rule as a pure
//! function of what the log says was collected, when, and which is the
//! latest.
//!
//! A snapshot is one distinct config (one hash). It is removed when it is
//! not among the `keep` most recently collected, or when it was last
//! collected more than `keep_days` ago — except the device's latest, which
//! is never removed (so neither is a device's only snapshot). A rule with
//! neither bound removes nothing.

use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;

/// `[retention]`: how many distinct snapshots a device keeps, and for how
/// long. Both optional; given both, a snapshot must satisfy both to stay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u64>,
}

/// A rule that cannot keep the latest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("keep = 0 would keep nothing; the latest snapshot is always kept, so use keep >= 1")]
    KeepNothing,
    #[error("keep_days = 0 would remove every older snapshot at once; use keep_days >= 1")]
    NoDays,
}

/// One distinct config of a device, as the log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub sha256: String,
    /// The last time this config was collected.
    pub last: Timestamp,
}

impl RetentionRule {
    pub fn validate(&self) -> Result<(), RetentionError> {
        match (self.keep, self.keep_days) {
            (Some(0), _) => Err(RetentionError::KeepNothing),
            (_, Some(0)) => Err(RetentionError::NoDays),
            _ => Ok(()),
        }
    }

    /// Whether the rule bounds anything.
    pub fn is_empty(&self) -> bool {
        self.keep.is_none() && self.keep_days.is_none()
    }

    /// The hashes of `snapshots` to remove at `now`; `latest` (the device's
    /// newest collection) stays whatever the rule says. Without a latest,
    /// the most recently collected one stands for it.
    pub fn to_remove(
        &self,
        snapshots: &[Collected],
        latest: Option<&str>,
        now: Timestamp,
    ) -> Vec<String> {
        let mut newest_first: Vec<&Collected> = snapshots.iter().collect();
        newest_first.sort_by(|a, b| b.last.cmp(&a.last).then(a.sha256.cmp(&b.sha256)));
        let latest = latest.or(newest_first.first().map(|c| c.sha256.as_str()));
        let too_old = |c: &Collected| {
            self.keep_days
                .is_some_and(|d| now.millis_since(c.last) > d.saturating_mul(86_400_000))
        };
        newest_first
            .iter()
            .enumerate()
            .filter(|(rank, c)| {
                Some(c.sha256.as_str()) != latest
                    && (self.keep.is_some_and(|k| *rank >= k) || too_old(c))
            })
            .map(|(_, c)| c.sha256.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn snaps(days_ago: &[u64], now: u64) -> Vec<Collected> {
        days_ago
            .iter()
            .enumerate()
            .map(|(i, d)| Collected {
                sha256: format!("h{i}"),
                last: Timestamp(now - d * DAY),
            })
            .collect()
    }

    #[test]
    fn keep_n_removes_the_oldest_beyond_n() {
        let now = 1000 * DAY;
        let s = snaps(&[1, 5, 3, 9], now);
        let rule = RetentionRule {
            keep: Some(2),
            keep_days: None,
        };
        assert_eq!(rule.to_remove(&s, Some("h0"), Timestamp(now)), ["h1", "h3"]);
    }

    #[test]
    fn keep_days_removes_the_old_ones_but_never_the_latest() {
        let now = 1000 * DAY;
        let s = snaps(&[40, 10, 50], now);
        let rule = RetentionRule {
            keep: None,
            keep_days: Some(30),
        };
        // h0 is the latest (say the router went silent 40 days ago).
        assert_eq!(rule.to_remove(&s, Some("h0"), Timestamp(now)), ["h2"]);
        let only = snaps(&[400], now);
        assert!(rule.to_remove(&only, None, Timestamp(now)).is_empty());
    }

    #[test]
    fn both_bounds_must_hold_and_an_empty_rule_removes_nothing() {
        let now = 1000 * DAY;
        let s = snaps(&[1, 2, 40], now);
        let both = RetentionRule {
            keep: Some(2),
            keep_days: Some(30),
        };
        assert_eq!(both.to_remove(&s, Some("h0"), Timestamp(now)), ["h2"]);
        let none = RetentionRule::default();
        assert!(none.is_empty());
        assert!(none.to_remove(&s, Some("h0"), Timestamp(now)).is_empty());
        assert_eq!(
            RetentionRule {
                keep: Some(0),
                keep_days: None
            }
            .validate(),
            Err(RetentionError::KeepNothing)
        );
    }
}
