//! A device's snapshots as its history tells them: every collected
//! attempt with its hash, and whether the config changed since the one
//! before.
//!
//! The log holds only hashes, so this list is what `diff`, the API and the
//! web page offer to compare; the texts are read where they were published.

use serde::{Deserialize, Serialize};

use crate::domain::{AttemptId, Envelope, Event, Outcome, Timestamp};

/// One collected attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotEntry {
    pub sha256: String,
    pub attempt: AttemptId,
    /// The device sequence of the `attempt_finished` event.
    pub seq: u64,
    #[schema(value_type = u64)]
    pub at: Timestamp,
    pub bytes: u64,
    /// The hash differs from the previous collection's (the first one
    /// counts as changed).
    pub changed: bool,
}

/// Folds a device's events into its snapshot list, one event at a time
/// (so a long history is never held whole).
#[derive(Debug, Default)]
pub struct SnapshotList {
    entries: Vec<SnapshotEntry>,
    /// Keep only the newest this many (`None`: all).
    cap: Option<usize>,
    total: usize,
}

impl SnapshotList {
    /// A list that keeps only the newest `cap` entries (and counts all):
    /// a device page over a long history holds only what it shows.
    pub fn bounded(cap: usize) -> Self {
        SnapshotList {
            cap: Some(cap.max(1)),
            ..SnapshotList::default()
        }
    }

    /// Collections seen, kept or not.
    pub fn total(&self) -> usize {
        self.total
    }

    pub fn push(&mut self, env: &Envelope) {
        let Event::AttemptFinished {
            attempt,
            outcome: Outcome::Collected { sha256, bytes, .. },
        } = &env.event
        else {
            return;
        };
        let changed = self.entries.last().is_none_or(|e| e.sha256 != *sha256);
        self.total += 1;
        if self.cap.is_some_and(|c| self.entries.len() >= c) {
            self.entries.remove(0);
        }
        self.entries.push(SnapshotEntry {
            sha256: sha256.clone(),
            attempt: *attempt,
            seq: env.seq,
            at: env.at,
            bytes: *bytes,
            changed,
        });
    }

    /// Oldest first.
    pub fn entries(&self) -> &[SnapshotEntry] {
        &self.entries
    }

    pub fn into_entries(self) -> Vec<SnapshotEntry> {
        self.entries
    }

    /// The distinct configs, oldest first (each hash once, at its first
    /// collection).
    pub fn distinct(&self) -> Vec<&SnapshotEntry> {
        let mut seen = std::collections::HashSet::new();
        self.entries
            .iter()
            .filter(|e| seen.insert(e.sha256.as_str()))
            .collect()
    }

    /// The one snapshot a hash or an unambiguous prefix of one names.
    pub fn find(&self, prefix: &str) -> Result<&SnapshotEntry, FindError> {
        let mut hits = self
            .distinct()
            .into_iter()
            .filter(|e| e.sha256.starts_with(prefix));
        match (hits.next(), hits.next()) {
            (Some(one), None) if !prefix.is_empty() => Ok(one),
            (None, _) => Err(FindError::None(prefix.to_owned())),
            _ => Err(FindError::Ambiguous(prefix.to_owned())),
        }
    }

    /// The two configs a diff compares by default: the newest and the
    /// distinct one collected before it.
    pub fn last_change(&self) -> Option<(&SnapshotEntry, &SnapshotEntry)> {
        let newest = self.entries.last()?;
        let older = self
            .entries
            .iter()
            .rev()
            .find(|e| e.sha256 != newest.sha256)?;
        Some((older, newest))
    }
}

/// A hash that names no snapshot, or several.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    #[error("no snapshot {0}")]
    None(String),
    #[error("{0} names more than one snapshot: give more of the hash")]
    Ambiguous(String),
}

/// A unified diff between two texts, and its size in changed lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigDiff {
    pub old: String,
    pub new: String,
    pub added: usize,
    pub removed: usize,
    /// Unified diff, three lines of context; empty when the texts agree.
    pub diff: String,
}

impl ConfigDiff {
    pub fn between(old: &str, new: &str, old_text: &str, new_text: &str) -> ConfigDiff {
        let diff = similar::TextDiff::from_lines(old_text, new_text);
        let (mut added, mut removed) = (0, 0);
        for change in diff.iter_all_changes() {
            match change.tag() {
                similar::ChangeTag::Insert => added += 1,
                similar::ChangeTag::Delete => removed += 1,
                similar::ChangeTag::Equal => {}
            }
        }
        let text = if added + removed == 0 {
            String::new()
        } else {
            diff.unified_diff()
                .context_radius(3)
                .header(old, new)
                .to_string()
        };
        ConfigDiff {
            old: old.to_owned(),
            new: new.to_owned(),
            added,
            removed,
            diff: text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeviceId, TenantId};
    use crate::store::fold::sample_history;

    #[test]
    fn changes_are_marked_and_prefixes_find_one_snapshot() {
        let d = DeviceId::parse("r1").unwrap();
        let t = TenantId::parse("acme").unwrap();
        let mut list = SnapshotList::default();
        for env in sample_history(&d, &t, Timestamp(1_700_000_000_000), 200) {
            list.push(&env);
        }
        let entries = list.entries();
        assert!(!entries.is_empty());
        assert!(entries[0].changed);
        for pair in entries.windows(2) {
            assert_eq!(pair[1].changed, pair[0].sha256 != pair[1].sha256);
        }
        let first = &entries[0].sha256;
        assert_eq!(list.find(first).unwrap().sha256, *first);
        assert!(matches!(list.find("zz"), Err(FindError::None(_))));
        assert!(matches!(
            list.find(""),
            Err(FindError::Ambiguous(_)) | Err(FindError::None(_))
        ));
    }

    #[test]
    fn a_bounded_list_keeps_the_newest_and_counts_all() {
        let d = DeviceId::parse("r1").unwrap();
        let t = TenantId::parse("acme").unwrap();
        let (mut all, mut few) = (SnapshotList::default(), SnapshotList::bounded(3));
        for env in sample_history(&d, &t, Timestamp(1_700_000_000_000), 200) {
            all.push(&env);
            few.push(&env);
        }
        assert_eq!(few.total(), all.entries().len());
        assert_eq!(few.entries(), &all.entries()[all.entries().len() - 3..]);
    }

    #[test]
    fn a_diff_counts_its_lines() {
        let d = ConfigDiff::between("a", "b", "x\ny\n", "x\nz\nw\n");
        assert_eq!((d.added, d.removed), (2, 1));
        assert!(d.diff.contains("-y") && d.diff.contains("+z"), "{}", d.diff);
        assert!(ConfigDiff::between("a", "a", "x\n", "x\n").diff.is_empty());
    }
}
