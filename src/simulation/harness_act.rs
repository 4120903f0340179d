//! The harness's act step: performing the effects the fleet decided (an
//! attempt against a simulated device, a reply to a trigger) and the
//! actions the harness scheduled (results coming back, operators'
//! commands, triggers, and a restart of the daemon that replays the log),
//! and the `[history]` glue: checkpoints, compaction and a restart from
//! the newest checkpoint (the history itself is in `simulation::history`).
//!
//! A child module of `harness` in a file of its own, so that it works on
//! the harness's private state as the driver loop does.

use super::{Action, Harness, new_fleet, request_index};
use crate::domain::fleet::Fleet;
use crate::domain::{
    AttemptRequest, DeviceId, DeviceState, Effect, Envelope, Event, FailureKind, Outcome,
    TimerKind, Timestamp,
};
use crate::simulation::history::{History, outcomes_sha256};
use crate::simulation::report::HistoryReport;
use crate::simulation::scenario::Part;

impl Harness<'_> {
    /// Perform one effect of a committed input.
    pub(super) fn act(&mut self, idx: u32, triggered: bool, effect: Effect) {
        let i = idx as usize;
        match effect {
            Effect::Collect(AttemptRequest {
                attempt,
                trusted_host_key,
                timeout_secs,
                ..
            }) => {
                self.attempts += 1;
                let (auth_blocked, host_key_blocked) =
                    (self.tracks[i].auth_blocked, self.tracks[i].host_key_blocked);
                if auth_blocked {
                    self.auth_attempts_after_block += 1;
                    self.violation(
                        Some(idx),
                        "attempt_while_blocked",
                        "an attempt (and so a login) against a device that refused our credentials, before CredentialsUpdated".into(),
                    );
                }
                if host_key_blocked {
                    self.violation(
                        Some(idx),
                        "attempt_while_blocked",
                        "an attempt against a device whose host key changed, before reset/accept"
                            .into(),
                    );
                }
                if let Some(not_before) = self.tracks[i].retry_not_before.take()
                    && !triggered
                    && self.now < not_before
                {
                    self.violation(
                        Some(idx),
                        "retry_before_ladder",
                        format!(
                            "retry {} ms before the ladder allows",
                            not_before - self.now
                        ),
                    );
                }
                if self.now < self.paused_until {
                    self.violation(
                        Some(idx),
                        "attempt_during_pause",
                        format!(
                            "an attempt {} ms before the pause ends",
                            self.paused_until - self.now
                        ),
                    );
                }
                if self.tracks[i].in_flight.is_some() {
                    self.violation(
                        Some(idx),
                        "two_attempts",
                        "an attempt started while another one runs".into(),
                    );
                } else {
                    self.running += 1;
                }
                self.tracks[i].in_flight = Some(attempt);
                self.peak_concurrent = self.peak_concurrent.max(self.running);
                if self.running > self.policy.max_concurrent as usize {
                    self.violation(
                        Some(idx),
                        "too_many_running",
                        format!(
                            "{} attempts running, limit {}",
                            self.running, self.policy.max_concurrent
                        ),
                    );
                }
                let device = &self.devices[i];
                let mut answer = device.answer(
                    idx,
                    &self.profiles[usize::from(device.profile)],
                    self.now,
                    trusted_host_key.as_deref(),
                    timeout_secs.saturating_mul(1000),
                    &mut self.rng_devices,
                );
                if answer.ssh {
                    self.ssh_attempts += 1;
                    if self.down(Part::Snapshots)
                        && matches!(answer.outcome, Outcome::Collected { .. })
                    {
                        self.logins_while_store_down += 1;
                        answer.outcome = Outcome::Failed {
                            kind: FailureKind::PublishFailed,
                            message: "the snapshot store is down".into(),
                            learned: Default::default(),
                        };
                    }
                }
                self.tracks[i].hit = Some(answer.hit);
                let epoch = self.epoch;
                self.schedule(
                    self.now + answer.duration_ms,
                    Action::AttemptDone {
                        device: idx,
                        attempt,
                        outcome: answer.outcome,
                        epoch,
                    },
                );
            }
            Effect::Reply { request, .. } => {
                if let Some(t) = request_index(&request).and_then(|r| self.triggers.get_mut(r)) {
                    t.replies += 1;
                }
            }
            Effect::TrustHostKey { .. }
            | Effect::HostKeyVerified { .. }
            | Effect::ForgetHostKey => {}
        }
    }

    /// Carry out an action the harness scheduled, at its time.
    pub(super) fn apply(&mut self, action: Action) {
        match action {
            Action::AttemptDone {
                device,
                attempt,
                outcome,
                epoch,
            } => {
                if epoch != self.epoch {
                    self.results_lost += 1; // died with its process
                    return;
                }
                let id = self.ids[device as usize].clone();
                let correlation = Some(format!("{id}/{attempt}"));
                self.fleet.submit(
                    id,
                    self.tenant.clone(),
                    Event::AttemptFinished { attempt, outcome },
                    correlation,
                );
            }
            Action::Operator { device, event } => {
                let id = self.ids[device as usize].clone();
                self.fleet.submit(id, self.tenant.clone(), event, None);
            }
            Action::Trigger { device, request } => {
                let id = self.ids[device as usize].clone();
                let request = format!("req-{request}");
                if let Some(t) = request_index(&request).and_then(|r| self.triggers.get_mut(r)) {
                    t.submitted = true;
                }
                self.fleet.submit(
                    id,
                    self.tenant.clone(),
                    Event::TriggerRequested {
                        request: request.clone(),
                    },
                    Some(request),
                );
            }
            Action::Restart => self.restart(),
            Action::Checkpoint => self.checkpoint(),
            Action::Compact => self.compact(),
        }
    }

    /// The daemon dies: attempts in flight and unrecorded commands die with
    /// it; a new process replays the log and goes on.
    fn restart(&mut self) {
        let Some(restarts) = &self.scenario.restarts else {
            return;
        };
        let (every, downtime) = (restarts.every.0, restarts.downtime.0);
        self.restarts += 1;
        let before: Vec<Option<(TimerKind, Timestamp)>> = self
            .ids
            .iter()
            .map(|id| self.fleet.state(id).and_then(|s| s.deadline()))
            .collect();
        self.epoch += 1;
        // A new process: no pause carries over (they live in memory).
        self.paused_until = 0;
        let mut fleet = new_fleet(
            &format!("sim-{}", self.epoch),
            self.seed ^ u64::from(self.epoch),
        );
        let mut problems = Vec::new();
        let mut replayed = 0;
        if let Some(history) = &mut self.history {
            // As the daemon starts: the newest checkpoint, then only the
            // live log after it (compaction removed nothing it needs).
            let from = history.newest().map(|c| {
                fleet.restore(c.states.iter().cloned(), c.slots);
                c.position
            });
            history.tally.restarts_from_checkpoint += u64::from(from.is_some());
            for l in history.after(from.unwrap_or(0)) {
                replayed += 1;
                fold(&mut fleet, &l.envelope, &mut problems);
            }
        } else {
            for env in self.log.as_deref().unwrap_or_default() {
                replayed += 1;
                fold(&mut fleet, env, &mut problems);
            }
        }
        self.longest_replay = self.longest_replay.max(replayed);
        self.fleet = fleet;
        for (device, problem) in problems {
            let idx = self.index_of(&device);
            self.violation(idx, "replay_disagrees", problem);
        }
        for (i, old) in before.into_iter().enumerate() {
            let new = self.fleet.state(&self.ids[i]).and_then(|s| s.deadline());
            let moved = match (old, new) {
                (Some((_, a)), Some((_, b))) => b < a,
                (Some(_), None) => true,
                _ => false,
            };
            if moved {
                self.violation(
                    Some(i as u32),
                    "deadline_moved_earlier",
                    format!("before the restart {old:?}, after {new:?}"),
                );
            }
        }
        for t in &mut self.tracks {
            t.in_flight = None;
            t.hit = None;
        }
        self.running = 0;
        for t in &mut self.triggers {
            if t.submitted && !t.recorded {
                t.lost = true;
            }
        }
        self.down_until = self.now + downtime;
        let next = self.now + every;
        self.schedule(next, Action::Restart);
    }
}

/// Fold one envelope at a restart, noting where replay decides otherwise
/// than the log recorded.
fn fold(fleet: &mut Fleet, env: &Envelope, problems: &mut Vec<(DeviceId, String)>) {
    match fleet.replay(env) {
        Ok(Some(t)) if Some(t.state.after()) != env.after => problems.push((
            env.device.clone(),
            format!(
                "replay of sequence {} decides {:?}, the log says {:?}",
                env.seq,
                t.state.after(),
                env.after
            ),
        )),
        Ok(_) => {}
        Err(e) => problems.push((env.device.clone(), e.to_string())),
    }
}

impl Harness<'_> {
    /// `[history]`: record every machine at the log's position. Not while
    /// the daemon is down (no process writes one).
    fn checkpoint(&mut self) {
        let Some(every) = self
            .history
            .as_ref()
            .map(|h| h.settings().checkpoint_every.0)
        else {
            return;
        };
        self.schedule(self.now + every, Action::Checkpoint);
        if self.now < self.down_until {
            return;
        }
        let states: Vec<DeviceState> = self.fleet.states().into_iter().cloned().collect();
        let mut folded = vec![0; self.ids.len()];
        for s in &states {
            if let Some(i) = self.index_of(&s.device) {
                folded[i as usize] = s.seq;
            }
        }
        // The slot count of the policy folded in, as the board keeps it.
        let slots = (!states.is_empty()).then(|| self.fleet.max_concurrent());
        if let Some(h) = &mut self.history {
            h.checkpoint(states, slots, folded);
        }
    }

    /// `[history]`: one compaction pass (not while the daemon is down).
    fn compact(&mut self) {
        let Some(every) = self.history.as_ref().map(|h| h.settings().compact_every.0) else {
            return;
        };
        self.schedule(self.now + every, Action::Compact);
        if self.now < self.down_until {
            return;
        }
        let now = Timestamp(self.now);
        let problems = self
            .history
            .as_mut()
            .map(|h| h.compact(now))
            .unwrap_or_default();
        for (device, problem) in problems {
            self.violation(Some(device), "archive_gap", problem);
        }
    }

    /// At the end of a `[history]` run: the archive, then the live log,
    /// folded from nothing (as a start without a checkpoint does) give
    /// every machine the fleet ends with, and hold every event once.
    pub(super) fn check_archive(&mut self) {
        let Some(history) = &self.history else {
            return;
        };
        let mut problems = Vec::new();
        let held = (history.archive().len() + history.live().len()) as u64;
        if held != history.position() {
            problems.push((
                None,
                format!(
                    "archive and live log hold {held} events, the log recorded {}",
                    history.position()
                ),
            ));
        }
        let mut fleet = new_fleet("sim-check", self.seed);
        let mut folded = Vec::new();
        for l in history.archive().iter().chain(history.live()) {
            fold(&mut fleet, &l.envelope, &mut folded);
        }
        problems.extend(folded.into_iter().map(|(d, p)| (Some(d), p)));
        let (a, b) = (fleet.states(), self.fleet.states());
        if a.len() != b.len() {
            problems.push((
                None,
                format!("{} machines folded, {} run", a.len(), b.len()),
            ));
        }
        for (x, y) in a.iter().zip(&b) {
            if x != y {
                problems.push((
                    Some(y.device.clone()),
                    format!("archive and live log fold to {x:?}, the fleet holds {y:?}"),
                ));
            }
        }
        for (device, problem) in problems {
            let idx = device.and_then(|d| self.index_of(&d));
            self.violation(idx, "archive_disagrees", problem);
        }
    }

    /// The digest of every device's outcome (`states` in device-id order).
    pub(super) fn outcomes(&self, states: &[&DeviceState]) -> String {
        outcomes_sha256(states, |id| {
            self.index_of(id).map_or((0, 0), |i| {
                let t = &self.tracks[i as usize];
                (t.successes, t.failed)
            })
        })
    }

    /// The `[history]` measures, for the report.
    pub(super) fn history_report(&self, h: &History) -> HistoryReport {
        let s = h.settings();
        HistoryReport {
            checkpoint_every_secs: s.checkpoint_every.0 / 1000,
            checkpoints_kept: s.checkpoints_kept,
            keep_secs: s.keep.map(|k| k.0 / 1000),
            compact_every_secs: s.compact_every.0 / 1000,
            checkpoints_taken: h.tally.checkpoints,
            compactions: h.tally.compactions,
            events_archived: h.tally.archived,
            live_log_at_end: h.live().len() as u64,
            live_log_peak: h.tally.live_peak,
            restarts_from_checkpoint: h.tally.restarts_from_checkpoint,
            without: None,
            same_outcomes: false,
            same_log: false,
        }
    }
}
