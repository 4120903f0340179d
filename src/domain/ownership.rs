//! Which daemon acts on a device when several share one fleet
//! (issue 15): rendezvous hashing — highest random weight — of the device
//! id over the live members.
//!
//! Every daemon follows the whole log and keeps every machine; ownership
//! only says *when* a daemon acts on a device's deadline: the owner at
//! once, any other member a grace period later, so a dead owner's devices
//! move on without a coordinator (the log's expected-sequence check
//! decides any race). Rendezvous hashing moves only the devices of a
//! member that leaves (to the others, spread evenly) and, when one joins,
//! only the devices it now wins.
//!
//! The weight is the first eight bytes of SHA-256 over the member's id, a
//! zero byte and the device id: stable across releases and platforms
//! (every daemon of a cluster must agree, whatever build it runs), unlike
//! the standard library's hasher.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{DeviceId, Timestamp};

/// A member's weight for a device.
fn weight(member: &str, device: &DeviceId) -> u64 {
    let mut hash = Sha256::new();
    hash.update(member.as_bytes());
    hash.update([0u8]);
    hash.update(device.as_str().as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The member that owns `device` among `members` (ties, vanishingly
/// rare, go to the smaller id); `None` when there is no member.
pub fn owner<'a, M: AsRef<str>>(device: &DeviceId, members: &'a [M]) -> Option<&'a str> {
    // One hash per member (the scheduler asks at every re-arm).
    members
        .iter()
        .map(|m| (weight(m.as_ref(), device), m.as_ref()))
        .max_by(|(wa, a), (wb, b)| wa.cmp(wb).then_with(|| b.cmp(a)))
        .map(|(_, m)| m)
}

/// When `me` acts on a deadline `due` of `device`: at `due` if it owns the
/// device (or knows of no member at all: a daemon on its own), else
/// `grace_ms` later — by then the owner has acted, and its event moved
/// the deadline, unless it is gone.
pub fn acts_at<M: AsRef<str>>(
    device: &DeviceId,
    me: &str,
    members: &[M],
    due: Timestamp,
    grace_ms: u64,
) -> Timestamp {
    match owner(device, members) {
        Some(o) if o != me => Timestamp(due.0.saturating_add(grace_ms)),
        Some(_) | None => due,
    }
}

/// One daemon's view: its node id, the live members (from the membership
/// bucket, given by the driver) and the grace. No member: a daemon on its
/// own, which acts on every deadline at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    me: Arc<str>,
    members: Vec<Arc<str>>,
    grace_ms: u64,
}

impl Ownership {
    pub fn new(me: &str, members: impl IntoIterator<Item = Arc<str>>, grace_ms: u64) -> Self {
        let mut members: Vec<Arc<str>> = members.into_iter().collect();
        members.sort();
        members.dedup();
        Ownership {
            me: Arc::from(me),
            members,
            grace_ms,
        }
    }

    /// When this daemon acts on `device`'s deadline `due`.
    pub fn acts_at(&self, device: &DeviceId, due: Timestamp) -> Timestamp {
        acts_at(device, &self.me, &self.members, due, self.grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn devices(n: usize) -> Vec<DeviceId> {
        (0..n)
            .map(|i| DeviceId::parse(&format!("rb-{i:05}")).unwrap())
            .collect()
    }

    fn owners(devices: &[DeviceId], members: &[&str]) -> Vec<String> {
        devices
            .iter()
            .map(|d| owner(d, members).unwrap().to_owned())
            .collect()
    }

    #[test]
    fn devices_spread_evenly_over_the_members() {
        let members = ["node-a", "node-b", "node-c", "node-d", "node-e"];
        let mut count = BTreeMap::new();
        for o in owners(&devices(10_000), &members) {
            *count.entry(o).or_insert(0) += 1;
        }
        assert_eq!(count.len(), 5);
        for (member, n) in count {
            assert!((1_800..=2_200).contains(&n), "{member}: {n} of 10 000");
        }
    }

    #[test]
    fn a_member_leaving_moves_only_its_devices_and_joining_takes_only_what_it_wins() {
        let all = devices(5_000);
        let three = owners(&all, &["node-a", "node-b", "node-c"]);
        let two = owners(&all, &["node-a", "node-c"]);
        for (before, after) in three.iter().zip(&two) {
            if before != "node-b" {
                assert_eq!(before, after, "a device of a member that stayed moved");
            }
        }
        let four = owners(&all, &["node-a", "node-b", "node-c", "node-d"]);
        for (before, after) in three.iter().zip(&four) {
            assert!(after == before || after == "node-d");
        }
    }

    #[test]
    fn the_order_members_are_listed_in_does_not_matter() {
        let all = devices(1_000);
        assert_eq!(
            owners(&all, &["node-a", "node-b", "node-c"]),
            owners(&all, &["node-c", "node-a", "node-b"])
        );
    }

    #[test]
    fn the_owner_acts_at_the_deadline_the_others_after_the_grace() {
        let members = ["node-a", "node-b"];
        let device = DeviceId::parse("rb-00001").unwrap();
        let mine = owner(&device, &members).unwrap();
        let other = members.iter().find(|m| **m != mine).unwrap();
        let due = Timestamp(1_000);
        assert_eq!(acts_at(&device, mine, &members, due, 30_000), due);
        assert_eq!(
            acts_at(&device, other, &members, due, 30_000),
            Timestamp(31_000)
        );
        let alone: [&str; 0] = [];
        assert_eq!(acts_at(&device, "node-z", &alone, due, 30_000), due);
    }

    #[test]
    fn weights_are_stable_across_releases() {
        // Every daemon of a cluster must agree, whatever build it runs:
        // pinned (`printf 'node-c\0rb-00001' | sha256sum`).
        let device = DeviceId::parse("rb-00001").unwrap();
        assert_eq!(weight("node-a", &device), 0x1290_5cd0_44db_8c27);
        assert_eq!(weight("node-c", &device), 0x8342_e575_3f9f_3363);
        assert_eq!(
            owner(&device, &["node-a", "node-b", "node-c"]),
            Some("node-c")
        );
    }
}
