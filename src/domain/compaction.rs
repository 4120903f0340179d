//! Which of a device's events compaction moves from the live log to the
//! archive: a pure function of the device's history, the cut-off time and
//! the checkpoint the live log will be folded from.
//!
//! An event may go when it is older than the cut-off (`history_keep_days`
//! before now) **and** already folded into the base checkpoint (its
//! sequence at most the checkpoint's for that device: a start from the
//! checkpoint never needs it). Only a prefix goes (the live log keeps a
//! device's history from one point on, without holes), and never the
//! device's last event: it is the fence the next append is checked
//! against.

use super::time::Timestamp;

/// The first sequence the live log keeps of a device whose retained
/// history is `history` (sequence and time, in sequence order), given the
/// `cutoff` and the sequence `folded` the base checkpoint holds for it.
/// Everything below it is archived, then removed.
pub fn keep_from(history: &[(u64, Timestamp)], cutoff: Timestamp, folded: u64) -> u64 {
    let Some(&(last, _)) = history.last() else {
        return 0;
    };
    let mut keep = history[0].0;
    for &(seq, at) in history {
        if seq == last || at >= cutoff || seq > folded {
            break;
        }
        keep = seq + 1;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(items: &[(u64, u64)]) -> Vec<(u64, Timestamp)> {
        items.iter().map(|&(s, t)| (s, Timestamp(t))).collect()
    }

    #[test]
    fn old_folded_events_go_the_last_one_and_newer_ones_stay() {
        let history = h(&[(1, 10), (2, 20), (3, 30), (4, 40)]);
        assert_eq!(
            keep_from(&history, Timestamp(25), 10),
            3,
            "older than the cut-off"
        );
        assert_eq!(
            keep_from(&history, Timestamp(100), 2),
            3,
            "not folded into the checkpoint"
        );
        assert_eq!(keep_from(&history, Timestamp(100), 10), 4, "never the last");
        assert_eq!(
            keep_from(&history, Timestamp(5), 10),
            1,
            "nothing old enough"
        );
        assert_eq!(keep_from(&[], Timestamp(5), 10), 0);
        let compacted = h(&[(7, 10), (8, 50)]);
        assert_eq!(keep_from(&compacted, Timestamp(20), 10), 8);
    }
}
