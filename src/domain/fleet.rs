//! The runner's scheduling, without IO: one timer queue for the whole fleet,
//! the concurrency slots, and the order record → decide → act.
//!
//! The tokio runner (`effects::runner`) and the simulation harness
//! (`simulation`) both drive this same [`Fleet`]; only the clock and the
//! world differ. Time comes in as an argument (`now`), never from a clock.
//!
//! The protocol, for any driver:
//!
//! 1. [`Fleet::replay`] every envelope of the log (no effects).
//! 2. Loop: [`Fleet::next_input`]`(now)` hands out the next input to record,
//!    already decided: a [`Pending`] holding the envelope (with its `after`)
//!    and the transition. The driver appends the envelope to the log; if the
//!    append succeeds it calls [`Fleet::commit`] and performs the returned
//!    effects; if it conflicts it calls [`Fleet::abort`], replays what the
//!    other writer appended, and goes on.
//! 3. Commands and results enter through [`Fleet::submit`].
//! 4. Sleep until [`Fleet::poll_timeout`], or until something is submitted.
//!
//! Rules kept here:
//! - At most one input per device is between decide and commit (the
//!   per-device sequence is the fence).
//! - An input that starts an attempt (a due `Jitter`/`Scheduled`/`Backoff`
//!   timer, a trigger in a startable phase) is handed out only when one of
//!   `max_concurrent` slots is free, so `Running` means running. A due
//!   attempt waits for its slot in due order. `AttemptDeadline` timers and
//!   results never wait.
//! - The slot count is the fleet's, set by the policy: the `max_concurrent`
//!   of the policy most recently folded (an `Enrolled` or `PolicyChanged`,
//!   ours or another writer's) is the fleet's from that event on. Raising
//!   it starts waiting attempts at once; lowering it lets running ones
//!   finish. A replay ends with the value the log last recorded.
//! - Attempts found `Running` in the log at start-up hold no slot: nobody
//!   runs them. Their `AttemptDeadline` settles them as `Abandoned`.
//! - Timers are one heap for all devices, invalidated lazily: an entry whose
//!   time is no longer the device's deadline is dropped when it surfaces.
//! - Fleet-wide pauses ([`schedule`](super::schedule)) are decided here from
//!   what is recorded: a result that could not publish its snapshot pauses
//!   attempts (the pause doubles while it lasts), a refused append pauses
//!   every input; each decision is a [`PauseNews`] the driver reports.
//! - The enrolment jitter is drawn here, from the driver's seed, and
//!   recorded in `Enrolled`; a trigger for a device that is not enrolled or
//!   with a request id already in flight is refused here.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use super::effect::{AttemptRequest, Effect, TriggerReply};
use super::event::{
    AttemptId, DeviceId, Envelope, Event, FailureKind, RequestId, SCHEMA_VERSION, TenantId,
    TimerKind,
};
use super::machine::{DeviceState, Phase, Transition, step};
use super::policy::RetryPolicy;
use super::schedule::{Jitter, PauseNews, PauseSettings, Pauses};
use super::time::Timestamp;

/// An input decided but not yet known to be durable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Pending {
    /// The envelope to append (sequence, time, node, correlation, `after` set).
    pub envelope: Envelope,
    /// What it leads to once recorded.
    pub transition: Transition,
    /// Whether a concurrency slot is reserved for the attempt it starts.
    reserved_slot: bool,
    /// Where the input came from, to put it back if the append conflicts.
    origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Timer,
    Submitted,
}

/// A device as the inventory wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredDevice {
    pub device: DeviceId,
    pub tenant: TenantId,
    pub host: String,
    pub port: u16,
    pub policy: RetryPolicy,
    /// The inventory's tags, recorded so that filters and per-tag policies
    /// can be audited from the log alone.
    pub tags: Vec<String>,
    /// Which credentials the inventory names (an opaque digest, never the
    /// credentials): a change is the operator's fix of a refused login.
    pub credentials: String,
    /// A host key the inventory already trusts (the platform's column),
    /// adopted while the device trusts none: recorded as `HostKeyAccepted`
    /// with the correlation `inventory`, so a platform's fleet keeps the
    /// keys its poller trusted instead of trusting whatever answers first.
    pub known_host_key: Option<String>,
}

/// What a reconcile queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// New devices, and devices whose address or tenant changed.
    pub enrolled: usize,
    /// Enrolled devices whose policy changed (a `PolicyChanged` each).
    pub policies_changed: usize,
    /// Enrolled devices whose tags changed (a `TagsChanged` each).
    pub tags_changed: usize,
    pub retired: usize,
    pub credentials_updated: usize,
    /// Host keys taken over from the inventory.
    pub host_keys_adopted: usize,
}

/// A log that does not fold: the same device's sequence jumped or repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device {device}: expected sequence {expected}, found {found}")]
pub struct SequenceError {
    pub device: DeviceId,
    pub expected: u64,
    pub found: u64,
}

#[derive(Debug)]
struct Entry {
    state: DeviceState,
    /// An input for this device is between decide and commit.
    busy: bool,
    /// The deadline that has a live entry in the heap or the waiting queue.
    armed: Option<(TimerKind, Timestamp)>,
}

/// A command or result waiting to be recorded.
#[derive(Debug, Clone)]
struct Submitted {
    device: DeviceId,
    tenant: TenantId,
    event: Event,
    correlation: Option<String>,
}

/// Every device's machine, the timer queue and the concurrency slots.
#[derive(Debug)]
pub struct Fleet {
    node: Arc<str>,
    /// From the newest policy folded (see the module doc).
    max_concurrent: usize,
    /// A slot count that ignores the log: only for tests of the invariant
    /// checker, which need a scheduler that runs too many.
    #[cfg(test)]
    pinned: Option<usize>,
    /// Boxed: a hash map keeps up to twice as many slots as entries, and
    /// an empty slot then costs 8 bytes rather than a whole machine (at a
    /// million devices, ~300 MB).
    devices: HashMap<DeviceId, Box<Entry>>,
    /// Earliest deadline first; ties broken by device id, so runs are reproducible.
    timers: BinaryHeap<Reverse<(Timestamp, DeviceId, TimerKind)>>,
    /// Due attempt-starting timers waiting for a slot, in due order.
    waiting: VecDeque<(Timestamp, DeviceId, TimerKind)>,
    inbox: VecDeque<Submitted>,
    /// Decisions whose append got no answer: handed out again, unchanged,
    /// once the log's pause ends (see [`Fleet::append_unknown`]).
    unsettled: VecDeque<Pending>,
    /// Attempts this process started and that have not settled.
    in_flight: BTreeSet<(DeviceId, AttemptId)>,
    reserved: usize,
    /// No new attempts (shutting down): every slot counts as taken.
    stopping: bool,
    pauses: Pauses,
    /// Pause decisions since the driver last took them.
    news: Vec<PauseNews>,
    jitter: Jitter,
    /// Trigger requests between their command and their reply.
    open_requests: BTreeSet<RequestId>,
    shared: super::machine::Shared,
    /// The credentials version of each device at the last reconcile.
    credentials: HashMap<DeviceId, String>,
    /// What reconciles asked for that the log has not recorded yet.
    asked: reconcile::Asked,
    /// When this daemon acts on each device's deadlines (several daemons
    /// on one fleet: the owner at once, the others after a grace).
    ownership: super::ownership::Ownership,
}

impl Fleet {
    /// An empty fleet recorded as `node`. Its slot count comes with the
    /// first policy folded (nothing can run before a device is enrolled).
    pub fn new(node: &str) -> Self {
        Fleet {
            node: Arc::from(node),
            max_concurrent: 1,
            #[cfg(test)]
            pinned: None,
            devices: HashMap::new(),
            timers: BinaryHeap::new(),
            waiting: VecDeque::new(),
            inbox: VecDeque::new(),
            unsettled: VecDeque::new(),
            in_flight: BTreeSet::new(),
            reserved: 0,
            stopping: false,
            pauses: Pauses::new(PauseSettings::default()),
            news: Vec::new(),
            jitter: Jitter::seeded(0),
            open_requests: BTreeSet::new(),
            shared: super::machine::Shared::default(),
            credentials: HashMap::new(),
            asked: reconcile::Asked::default(),
            ownership: super::ownership::Ownership::default(),
        }
    }

    /// Who owns what from now on: every timer is armed again at the time
    /// this daemon acts on it (the ones armed before are left to go stale).
    pub fn set_ownership(&mut self, ownership: super::ownership::Ownership) {
        if ownership == self.ownership {
            return;
        }
        self.ownership = ownership;
        let devices: Vec<DeviceId> = self.devices.keys().cloned().collect();
        for device in devices {
            if let Some(entry) = self.devices.get_mut(&device) {
                entry.armed = None;
            }
            self.rearm(&device);
        }
    }

    /// With these pause lengths.
    pub fn with_pauses(mut self, settings: PauseSettings) -> Self {
        self.pauses = Pauses::new(settings);
        self
    }

    /// With the enrolment jitter drawn from `seed`.
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter = Jitter::seeded(seed);
        self
    }

    /// Run `max_concurrent` at once whatever the log says (tests only).
    #[cfg(test)]
    pub(crate) fn pin_max_concurrent(&mut self, max_concurrent: usize) {
        self.pinned = Some(max_concurrent);
    }

    /// Attempts that may run at once now.
    pub fn max_concurrent(&self) -> usize {
        #[cfg(test)]
        if let Some(n) = self.pinned {
            return n;
        }
        self.max_concurrent
    }

    /// An event that sets a policy sets the fleet's slot count with it (a
    /// policy the machine refused leaves the state's, and so the count, as
    /// it was).
    fn adopt_policy(&mut self, event: &Event, state: &DeviceState) {
        if let Some(n) = slots_set_by(event, state) {
            self.max_concurrent = n;
        }
    }

    /// Attempts this process started that have not settled.
    pub fn running(&self) -> usize {
        self.in_flight.len()
    }

    /// Devices known (any phase, retired included).
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The state of one device.
    pub fn state(&self, device: &DeviceId) -> Option<&DeviceState> {
        self.devices.get(device).map(|e| &e.state)
    }

    /// Every device's state, in device-id order (never hash order).
    pub fn states(&self) -> Vec<&DeviceState> {
        let mut all: Vec<&DeviceState> = self.devices.values().map(|e| &e.state).collect();
        all.sort_by(|a, b| a.device.cmp(&b.device));
        all
    }

    /// Whether commands or results wait to be recorded.
    pub fn has_submitted(&self) -> bool {
        !self.inbox.is_empty()
    }

    /// Take up the machines a checkpoint holds (before anything is
    /// folded): each state as it is, its timer armed, and the slot count of
    /// the newest policy folded into them (`None`: none was).
    pub fn restore(&mut self, states: impl IntoIterator<Item = DeviceState>, slots: Option<usize>) {
        for mut state in states {
            state.share(&mut self.shared);
            let device = state.device.clone();
            self.devices.insert(
                device.clone(),
                Box::new(Entry {
                    state,
                    busy: false,
                    armed: None,
                }),
            );
            self.rearm(&device);
        }
        if let Some(n) = slots {
            self.max_concurrent = n;
        }
    }

    /// Fold one envelope from the log: no effects, timers re-armed.
    ///
    /// Used at start-up and for what another writer appended. The envelope
    /// must be the device's next sequence; one already folded is skipped
    /// (returns `Ok(None)`), a gap is an error.
    pub fn replay(&mut self, env: &Envelope) -> Result<Option<Transition>, SequenceError> {
        let entry = self.entry(&env.device, &env.tenant);
        if env.seq <= entry.state.seq {
            return Ok(None);
        }
        if env.seq != entry.state.seq + 1 {
            return Err(SequenceError {
                device: env.device.clone(),
                expected: entry.state.seq + 1,
                found: env.seq,
            });
        }
        let transition = step(&entry.state, env);
        let mut state = transition.state.clone();
        state.share(&mut self.shared);
        self.adopt_policy(&env.event, &state);
        let running = matches!(state.phase, Phase::Running { .. });
        if let Some(entry) = self.devices.get_mut(&env.device) {
            entry.state = state;
        }
        if !running {
            let settled: Vec<_> = self
                .in_flight
                .range((env.device.clone(), 0)..=(env.device.clone(), AttemptId::MAX))
                .cloned()
                .collect();
            for k in settled {
                self.in_flight.remove(&k);
            }
        }
        self.rearm(&env.device);
        Ok(Some(transition))
    }

    /// Fold an envelope read from the log's tail while running.
    ///
    /// Our own appends come back this way too: one already committed is
    /// skipped (its sequence is folded), and while an append of ours for
    /// the device is in flight the tail's envelope is left to that append
    /// — it is ours if the append succeeds, and a conflict reads the
    /// device's log if it is another writer's. Anything else is another
    /// writer's event, folded like at start-up.
    pub fn follow(&mut self, env: &Envelope) -> Result<Option<Transition>, SequenceError> {
        if self.devices.get(&env.device).is_some_and(|e| e.busy) {
            return Ok(None);
        }
        self.replay(env)
    }

    /// Queue a command or a result for recording.
    pub fn submit(
        &mut self,
        device: DeviceId,
        tenant: TenantId,
        event: Event,
        correlation: Option<String>,
    ) {
        self.inbox.push_back(Submitted {
            device,
            tenant,
            event,
            correlation,
        });
    }

    /// The earliest time at which [`Fleet::next_input`] may have a timer to
    /// hand out (stale heap entries are dropped first, so a driver does not
    /// wake for nothing). Submitted inputs are ready at once (see
    /// `has_submitted`).
    pub fn poll_timeout(&mut self) -> Option<Timestamp> {
        while let Some(Reverse((at, device, kind))) = self.timers.peek() {
            let live = self
                .devices
                .get(device)
                .is_some_and(|e| e.armed == Some((*kind, *at)));
            if live {
                return Some(*at);
            }
            self.timers.pop();
        }
        None
    }

    fn slot_free(&self, now: Timestamp) -> bool {
        !self.stopping
            && !self.pauses.attempts_paused(now)
            && self.in_flight.len() + self.reserved < self.max_concurrent()
    }

    /// Start no new attempts (shutdown); results, deadlines and commands
    /// that start nothing are still handed out.
    pub fn stop_attempts(&mut self) {
        self.stopping = true;
    }

    /// The log refused the append of a pending input (already aborted):
    /// nothing is handed out until the pause ends.
    pub fn log_unavailable(&mut self, now: Timestamp) -> PauseNews {
        self.pauses.log_unavailable(now)
    }

    /// Whether the log's pause holds every input back at `now`.
    pub fn log_paused(&self, now: Timestamp) -> bool {
        self.pauses.inputs_paused(now)
    }

    /// Pause decisions taken since the last call, in order.
    pub fn take_news(&mut self) -> Vec<PauseNews> {
        std::mem::take(&mut self.news)
    }

    /// When the driver must look again at the latest: the next timer, or
    /// the end of a pause (while the log's pause lasts, only its end).
    pub fn wake_at(&mut self, now: Timestamp) -> Option<Timestamp> {
        if self.pauses.inputs_paused(now) {
            return self.pauses.next_end(now);
        }
        [self.poll_timeout(), self.pauses.next_end(now)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Enrol a device (or change its address or policy), its first backup
    /// after a jitter drawn now and recorded in the event.
    pub fn enroll(
        &mut self,
        device: DeviceId,
        tenant: TenantId,
        host: String,
        port: u16,
        policy: RetryPolicy,
        tags: Vec<String>,
    ) {
        let jitter_ms = self.jitter.draw(&policy);
        let event = Event::Enrolled {
            tenant: tenant.clone(),
            host,
            port,
            jitter_ms,
            policy,
            tags,
        };
        self.submit(device, tenant, event, None);
    }

    /// A manual backup of `device` under `request`, or the answer at once:
    /// not found (not enrolled), or a request id already in flight.
    pub fn trigger(&mut self, device: DeviceId, request: RequestId) -> Result<(), TriggerReply> {
        let Some(state) = self.state(&device).filter(|s| s.is_active()) else {
            return Err(TriggerReply::NotFound);
        };
        if self.open_requests.contains(&request) {
            return Err(TriggerReply::Failed {
                kind: FailureKind::Other,
                message: format!("request id {request} is already in use"),
            });
        }
        let tenant = state.tenant.clone();
        self.open_requests.insert(request.clone());
        let correlation = Some(request.to_string());
        self.submit(
            device,
            tenant,
            Event::TriggerRequested { request },
            correlation,
        );
        Ok(())
    }

    /// Queue a command for a known device; false (nothing queued) for a
    /// device the fleet has never seen.
    pub fn submit_known(&mut self, device: DeviceId, event: Event) -> bool {
        let Some(tenant) = self.state(&device).map(|s| s.tenant.clone()) else {
            return false;
        };
        self.submit(device, tenant, event, None);
        true
    }

    fn entry(&mut self, device: &DeviceId, tenant: &TenantId) -> &mut Entry {
        self.devices.entry(device.clone()).or_insert_with(|| {
            Box::new(Entry {
                state: DeviceState::new(device.clone(), tenant.clone()),
                busy: false,
                armed: None,
            })
        })
    }

    fn rearm(&mut self, device: &DeviceId) {
        let Some(entry) = self.devices.get_mut(device) else {
            return;
        };
        // Armed at when this daemon acts (its deadline, or a grace later
        // on a device another member owns); the event still says the due.
        let ownership = &self.ownership;
        let deadline = entry
            .state
            .deadline()
            .map(|(kind, due)| (kind, ownership.acts_at(device, due)));
        if deadline != entry.armed {
            entry.armed = deadline;
            if let Some((kind, at)) = deadline {
                self.timers.push(Reverse((at, device.clone(), kind)));
            }
        }
    }

    /// The next input to record at `now`, decided, or `None` if nothing is
    /// ready (or every ready attempt waits for a slot).
    pub fn next_input(&mut self, now: Timestamp) -> Option<Pending> {
        if self.pauses.inputs_paused(now) {
            return None;
        }
        if let Some(p) = self.unsettled.pop_front() {
            return Some(p);
        }
        if let Some(p) = self.next_submitted(now) {
            return Some(p);
        }
        // Due timers move to the waiting queue (attempt starters) or are
        // handed out at once (attempt deadlines).
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, device, kind))) = self.timers.pop() else {
                break;
            };
            let Some(entry) = self.devices.get_mut(&device) else {
                continue;
            };
            if entry.armed != Some((kind, at)) {
                continue; // stale: the deadline moved since this was armed
            }
            if entry.busy {
                entry.armed = None; // commit re-arms it
                continue;
            }
            if kind == TimerKind::AttemptDeadline {
                return self.decide_timer(&device, kind, at, now, false);
            }
            self.waiting.push_back((at, device, kind));
        }
        while self.slot_free(now) {
            let (at, device, kind) = self.waiting.pop_front()?;
            let Some(entry) = self.devices.get_mut(&device) else {
                continue;
            };
            if entry.armed != Some((kind, at)) {
                continue;
            }
            if entry.busy {
                entry.armed = None;
                continue;
            }
            if let Some(p) = self.decide_timer(&device, kind, at, now, true) {
                return Some(p);
            }
        }
        None
    }

    fn decide_timer(
        &mut self,
        device: &DeviceId,
        kind: TimerKind,
        due: Timestamp,
        now: Timestamp,
        reserve: bool,
    ) -> Option<Pending> {
        let entry = self.devices.get(device)?;
        // The state's own due, not when this daemon chose to act on it.
        let due = match entry.state.deadline() {
            Some((k, d)) if k == kind => d,
            Some(_) | None => due,
        };
        let event = Event::TimerFired { timer: kind, due };
        let tenant = entry.state.tenant.clone();
        let pending = self.decide(device, &tenant, event, None, now, Origin::Timer, reserve);
        if let Some(entry) = self.devices.get_mut(device) {
            entry.armed = None;
        }
        Some(pending)
    }

    fn next_submitted(&mut self, now: Timestamp) -> Option<Pending> {
        let mut index = 0;
        while index < self.inbox.len() {
            let item = &self.inbox[index];
            let (busy, startable) = match self.devices.get(&item.device) {
                Some(e) => (
                    e.busy,
                    matches!(
                        e.state.phase,
                        Phase::Jitter { .. } | Phase::Idle { .. } | Phase::Backoff { .. }
                    ),
                ),
                None => (false, false),
            };
            let needs_slot = startable && matches!(item.event, Event::TriggerRequested { .. });
            if busy || (needs_slot && !self.slot_free(now)) {
                index += 1;
                continue;
            }
            let item = self.inbox.remove(index)?;
            return Some(self.decide(
                &item.device,
                &item.tenant,
                item.event,
                item.correlation,
                now,
                Origin::Submitted,
                needs_slot,
            ));
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        device: &DeviceId,
        tenant: &TenantId,
        event: Event,
        correlation: Option<String>,
        now: Timestamp,
        origin: Origin,
        reserve: bool,
    ) -> Pending {
        let node = self.node.clone();
        let entry = self.entry(device, tenant);
        entry.busy = true;
        let state = &entry.state;
        let tenant = if let Event::Enrolled { tenant, .. } = &event {
            tenant.clone()
        } else {
            state.tenant.clone()
        };
        let mut envelope = Envelope {
            schema: SCHEMA_VERSION,
            device: device.clone(),
            tenant,
            seq: state.seq + 1,
            at: now.max(state.since),
            node: node.to_string(),
            correlation,
            event,
            after: None,
        };
        let transition = step(state, &envelope);
        envelope.after = Some(transition.state.after());
        if envelope.correlation.is_none() {
            envelope.correlation = transition.effects.iter().find_map(|e| {
                if let Effect::Collect(AttemptRequest { attempt, .. }) = e {
                    Some(format!("{device}/{attempt}"))
                } else {
                    None
                }
            });
        }
        let starts_attempt = transition
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Collect(_)));
        let reserved_slot = reserve && starts_attempt;
        if reserved_slot {
            self.reserved += 1;
        }
        Pending {
            envelope,
            transition,
            reserved_slot,
            origin,
        }
    }

    /// The pending input is durable: install its state and return the
    /// effects to perform, in order.
    pub fn commit(&mut self, pending: Pending) -> Vec<Effect> {
        let Pending {
            envelope,
            transition,
            reserved_slot,
            ..
        } = pending;
        if reserved_slot {
            self.reserved = self.reserved.saturating_sub(1);
        }
        self.news.extend(self.pauses.log_recorded());
        self.asked.recorded(&envelope, &transition.state);
        if let Event::AttemptFinished { outcome, .. } = &envelope.event {
            self.news
                .extend(self.pauses.attempt_settled(envelope.at, outcome));
        }
        for effect in &transition.effects {
            if let Effect::Reply { request, .. } = effect {
                self.open_requests.remove(request);
            }
        }
        let device = envelope.device;
        let Some(entry) = self.devices.get_mut(&device) else {
            return Vec::new();
        };
        entry.busy = false;
        let before = entry.state.phase.running_attempt();
        entry.state = transition.state;
        entry.state.share(&mut self.shared);
        let now_running = entry.state.phase.running_attempt();
        if let Some(n) = slots_set_by(&envelope.event, &entry.state) {
            self.max_concurrent = n;
        }
        if let Some(a) = before
            && now_running != Some(a)
        {
            self.in_flight.remove(&(device.clone(), a));
        }
        for effect in &transition.effects {
            if let Effect::Collect(AttemptRequest { attempt, .. }) = effect {
                self.in_flight.insert((device.clone(), *attempt));
                self.pauses.attempt_started();
            }
        }
        self.rearm(&device);
        transition.effects
    }

    /// The log did not answer the append (a timeout, a lost connection):
    /// it may or may not have stored the event. Keep the decision — the
    /// device stays busy, its slot reserved — and hand the very same
    /// envelope out again once the log's pause ends. The log recognises a
    /// retry of bytes it already holds, so the event is recorded once
    /// either way; deciding afresh would instead meet our own first try as
    /// a conflict and leave its effects (an attempt to run) undone.
    pub fn append_unknown(&mut self, pending: Pending, now: Timestamp) -> PauseNews {
        self.unsettled.push_back(pending);
        self.pauses.log_unavailable(now)
    }

    /// The append failed (conflict, or the log refused it): forget the
    /// decision. A submitted command or result goes back to the front of
    /// the queue; a timer is re-armed from the device's state.
    pub fn abort(&mut self, pending: Pending) {
        if pending.reserved_slot {
            self.reserved = self.reserved.saturating_sub(1);
        }
        let device = pending.envelope.device.clone();
        if let Some(entry) = self.devices.get_mut(&device) {
            entry.busy = false;
            entry.armed = None;
        }
        if pending.origin == Origin::Submitted {
            let tenant = pending.envelope.tenant.clone();
            self.inbox.push_front(Submitted {
                device: device.clone(),
                tenant,
                event: pending.envelope.event,
                correlation: pending.envelope.correlation,
            });
        }
        self.rearm(&device);
    }
}

/// The slot count an event sets: that of the policy it leaves in force.
pub fn slots_set_by(event: &Event, state: &DeviceState) -> Option<usize> {
    matches!(event, Event::Enrolled { .. } | Event::PolicyChanged { .. }).then(|| {
        usize::try_from(state.policy.max_concurrent)
            .unwrap_or(usize::MAX)
            .max(1)
    })
}

#[path = "fleet_reconcile.rs"]
mod reconcile;

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod tests;
