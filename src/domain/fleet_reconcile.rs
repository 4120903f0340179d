//! Reconciling the fleet with the inventory: enrol what is new or changed,
//! retire what is gone, adopt a key the inventory trusts, and note a
//! changed login.
//!
//! A refresh can come while the previous one's events are still on their
//! way to the log (100 000 new rows take seconds to enrol; the platform
//! re-reads its table every minute, a test every second). So a reconcile
//! compares the inventory with what the log recorded *and* with what an
//! earlier reconcile already asked for: without the second, every refresh
//! during a large enrolment enrolled the not-yet-recorded devices again
//! (measured: 55 881 extra `Enrolled` events for 100 000 rows refreshed
//! every second).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{DesiredDevice, Fleet, Reconciled};
use crate::domain::event::{DeviceId, Envelope, Event, TenantId};
use crate::domain::machine::DeviceState;
use crate::domain::policy::RetryPolicy;

/// What the inventory wants recorded for one device.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    tenant: TenantId,
    host: String,
    port: u16,
    policy: RetryPolicy,
    tags: Vec<String>,
}

impl Shape {
    /// Enrolled at this address (a change of address or tenant enrols
    /// again; anything else is a `PolicyChanged` or `TagsChanged`).
    fn same_address(&self, s: &DeviceState) -> bool {
        s.is_active() && s.tenant == self.tenant && *s.host == *self.host && s.port == self.port
    }

    fn matches(&self, s: &DeviceState) -> bool {
        self.same_address(s) && *s.policy == self.policy && *s.tags == *self.tags
    }
}

/// What reconciles asked for that the log has not recorded yet.
#[derive(Debug, Default)]
pub(super) struct Asked {
    enrolments: HashMap<DeviceId, Shape>,
    retirements: HashSet<DeviceId>,
    adoptions: HashSet<DeviceId>,
}

impl Asked {
    /// The log recorded `env`, leading to `state`: what it settles is no
    /// longer outstanding.
    pub(super) fn recorded(&mut self, env: &Envelope, state: &DeviceState) {
        match &env.event {
            Event::Enrolled { .. } | Event::PolicyChanged { .. } | Event::TagsChanged { .. } => {
                if self
                    .enrolments
                    .get(&env.device)
                    .is_some_and(|s| s.matches(state))
                {
                    self.enrolments.remove(&env.device);
                }
            }
            Event::Retired => {
                self.retirements.remove(&env.device);
            }
            Event::HostKeyAccepted { .. } => {
                self.adoptions.remove(&env.device);
            }
            Event::TriggerRequested { .. }
            | Event::CredentialsUpdated
            | Event::HostKeyReset
            | Event::TimerFired { .. }
            | Event::AttemptFinished { .. } => {}
        }
    }
}

impl Fleet {
    /// The inventory as it should be: enrol what is new or moved (tenant,
    /// address), record `PolicyChanged` / `TagsChanged` for an enrolled
    /// device whose policy or tags changed, retire what is gone, and record
    /// `CredentialsUpdated` for a device whose credentials changed since the
    /// last reconcile (it unblocks an `AuthBlocked` device; a recorded no-op
    /// for any other). Devices already as desired — recorded, or asked for
    /// by an earlier reconcile — are left alone: no re-jitter, no schedule
    /// change, no second event.
    pub fn reconcile(&mut self, desired: Vec<DesiredDevice>) -> Reconciled {
        let mut done = Reconciled::default();
        let wanted: BTreeSet<DeviceId> = desired.iter().map(|d| d.device.clone()).collect();
        for d in desired {
            self.reconcile_one(d, &mut done);
        }
        let gone: Vec<DeviceId> = self
            .states()
            .into_iter()
            .filter(|s| s.is_active() && !wanted.contains(&s.device))
            .map(|s| s.device.clone())
            .filter(|d| !self.asked.retirements.contains(d))
            .collect();
        for device in gone {
            self.credentials.remove(&device);
            done.retired += 1;
            self.asked.retirements.insert(device.clone());
            self.submit_known(device, Event::Retired);
        }
        done
    }

    fn reconcile_one(&mut self, d: DesiredDevice, done: &mut Reconciled) {
        let shape = Shape {
            tenant: d.tenant.clone(),
            host: d.host,
            port: d.port,
            policy: d.policy,
            tags: d.tags,
        };
        let state = self.state(&d.device);
        let recorded = state.is_some_and(|s| shape.matches(s));
        let asked = self.asked.enrolments.get(&d.device) == Some(&shape);
        let active = state.is_some_and(|s| s.is_active());
        let trusts_none = state.is_none_or(|s| !s.is_active() || s.trusted_host_key.is_none());
        let changes = state.filter(|s| shape.same_address(s)).map(|s| {
            (
                (*s.policy != shape.policy).then(|| shape.policy.clone()),
                (*s.tags != *shape.tags).then(|| shape.tags.clone()),
            )
        });
        let before = self
            .credentials
            .insert(d.device.clone(), d.credentials.clone());
        if !recorded && !asked {
            self.asked
                .enrolments
                .insert(d.device.clone(), shape.clone());
            match changes {
                Some((policy, tags)) => self.record_changes(&d.device, policy, tags, done),
                None => {
                    done.enrolled += 1;
                    self.enroll(
                        d.device.clone(),
                        shape.tenant,
                        shape.host,
                        shape.port,
                        shape.policy,
                        shape.tags,
                    );
                }
            }
        } else if recorded {
            // A later inventory went back to what the log holds.
            self.asked.enrolments.remove(&d.device);
        }
        let adopting = self.asked.adoptions.contains(&d.device);
        if let Some(fingerprint) = d.known_host_key.filter(|_| trusts_none && !adopting) {
            done.host_keys_adopted += 1;
            self.asked.adoptions.insert(d.device.clone());
            let event = Event::HostKeyAccepted { fingerprint };
            self.submit(d.device.clone(), d.tenant, event, Some("inventory".into()));
        }
        if active && before.is_some_and(|b| b != d.credentials) {
            done.credentials_updated += 1;
            self.submit_known(d.device, Event::CredentialsUpdated);
        }
    }
}

impl Fleet {
    /// An enrolled device's new policy and tags, one event each.
    fn record_changes(
        &mut self,
        device: &DeviceId,
        policy: Option<RetryPolicy>,
        tags: Option<Vec<String>>,
        done: &mut Reconciled,
    ) {
        if let Some(policy) = policy {
            done.policies_changed += 1;
            self.submit_known(device.clone(), Event::PolicyChanged { policy });
        }
        if let Some(tags) = tags {
            done.tags_changed += 1;
            self.submit_known(device.clone(), Event::TagsChanged { tags });
        }
    }
}
