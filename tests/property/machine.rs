//! Properties of `step` over random device lives.

use std::collections::BTreeMap;

use confkeep::domain::{
    Disposition, Effect, Event, FailureKind, IgnoreReason, Outcome, Phase, PhaseKind, TimerKind,
    Timestamp, step,
};
use proptest::prelude::*;

use crate::driver::{Run, Step, envelope, fold, running_attempt};
use crate::reference::Model;
use crate::strategies::{self, Action, timer_kind, transient_kind, valid_policy};

fn collects(effects: &[Effect]) -> Vec<u64> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Collect(r) => Some(r.attempt),
            _ => None,
        })
        .collect()
}

fn replies(effects: &[Effect]) -> Vec<(String, &'static str)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { request, reply } => Some((request.clone(), reply.name())),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(crate::config())]

    /// Every step agrees with the reference model: phase kind, failure
    /// count, deadline, the attempt started, the replies, the host-key
    /// write-backs.
    #[test]
    fn step_agrees_with_the_reference_model(actions in strategies::story(120)) {
        let mut model = Model::new();
        Run::play(&actions, |s: Step<'_>| {
            let expected = model.apply(s.envelope.at, &s.envelope.event);
            let t = s.transition;
            let what = format!("seq {} {:?}", s.envelope.seq, s.envelope.event);
            prop_assert_eq!(t.state.phase.kind(), model.phase, "phase after {}", what);
            prop_assert_eq!(t.state.failures, model.failures, "failures after {}", what);
            prop_assert_eq!(t.state.deadline(), model.deadline, "deadline after {}", what);
            prop_assert_eq!(running_attempt(&t.state), model.running.as_ref().map(|r| r.0), "attempt after {}", what);
            prop_assert_eq!(t.state.trusted_host_key.as_deref(), model.trusted.as_deref(), "trusted key after {}", what);
            prop_assert_eq!(&*t.state.policy, &model.policy, "policy after {}", what);
            prop_assert_eq!(collects(&t.effects), expected.collect.into_iter().collect::<Vec<_>>(), "collect after {}", what);
            prop_assert_eq!(replies(&t.effects), expected.replies, "replies after {}", what);
            let trust: Vec<&Effect> = t.effects.iter().filter(|e| matches!(e, Effect::TrustHostKey { .. })).collect();
            prop_assert_eq!(trust.len(), usize::from(expected.trust.is_some()), "trust after {}", what);
            let forget = t.effects.iter().any(|e| matches!(e, Effect::ForgetHostKey));
            prop_assert_eq!(forget, expected.forget, "forget after {}", what);
            prop_assert_eq!(t.state.seq, s.envelope.seq);
            Ok(())
        })?;
    }

    /// Folding the same log twice gives equal states, and so does folding
    /// it after a trip through JSON; every recorded `after` is what the
    /// replay decides again.
    #[test]
    fn replay_is_deterministic(actions in strategies::story(120)) {
        let run = Run::play(&actions, |_| Ok(()))?;
        let once = fold(&run.log);
        let twice = fold(&run.log);
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(&once, &run.state);
        let decoded: Vec<_> = run
            .log
            .iter()
            .map(|env| confkeep::domain::Envelope::decode(&env.encode().unwrap()).unwrap())
            .collect();
        prop_assert_eq!(&fold(&decoded), &run.state);
        let mut state = crate::driver::fresh();
        for env in &decoded {
            let t = step(&state, env);
            prop_assert_eq!(Some(t.state.after()), env.after.clone(), "after differs at seq {}", env.seq);
            state = t.state;
        }
    }

    /// While a device is blocked, nothing it receives makes it collect, and
    /// only the operator's matching command leaves the block.
    #[test]
    fn no_collect_while_blocked(actions in strategies::story(150)) {
        Run::play(&actions, |s: Step<'_>| {
            if s.before.phase.is_blocked() {
                prop_assert!(collects(&s.transition.effects).is_empty(), "collected while {:?} on {:?}", s.before.phase, s.envelope.event);
                let left = !s.transition.state.phase.is_blocked();
                if left {
                    let allowed = match s.before.phase.kind() {
                        PhaseKind::AuthBlocked => matches!(s.envelope.event, Event::CredentialsUpdated | Event::Retired),
                        _ => matches!(s.envelope.event, Event::HostKeyReset | Event::HostKeyAccepted { .. } | Event::Retired),
                    };
                    prop_assert!(allowed, "{:?} left {:?}", s.envelope.event, s.before.phase);
                }
            }
            Ok(())
        })?;
    }

    /// n consecutive transient failures back off for ladder[min(n, len) - 1],
    /// for any valid ladder, and the backoff timer starts the next attempt.
    #[test]
    fn backoff_follows_the_ladder(
        policy in valid_policy(),
        failures in prop::collection::vec((transient_kind(), prop::bool::weighted(0.2)), 1..12),
    ) {
        let mut run = Run::new();
        let mut ok = |_: Step<'_>| Ok(());
        run.push(Event::Enrolled {
            tenant: crate::driver::tenant(),
            host: "10.0.0.1".into(),
            port: 22,
            jitter_ms: 1_000,
            policy: policy.clone(),
            tags: Vec::new(),
        }, &mut ok)?;
        let event = run.event_for(&Action::FireDeadline).unwrap();
        run.push(event, &mut ok)?;
        for (n, (kind, by_deadline)) in failures.iter().enumerate() {
            let n = n + 1;
            let event = if *by_deadline {
                run.event_for(&Action::FireDeadline).unwrap()
            } else {
                run.event_for(&Action::Finish(Outcome::Failed { kind: kind.clone(), message: String::new(), learned: Default::default()  })).unwrap()
            };
            let t = run.record(event, &mut ok)?;
            let rung = policy.backoff_secs[n.min(policy.backoff_secs.len()) - 1];
            prop_assert_eq!(t.state.failures as usize, n);
            prop_assert_eq!(
                &t.state.phase,
                &Phase::Backoff { until: Timestamp(run.now).plus_secs(rung), failures: n as u32 }
            );
            let retry = run.event_for(&Action::FireDeadline).unwrap();
            let t = run.record(retry, &mut ok)?;
            prop_assert_eq!(collects(&t.effects).len(), 1);
        }
    }

    /// Every trigger is answered exactly once: at once (conflict, blocked,
    /// not found) or when its attempt ends — by its result, by its deadline,
    /// or by the device's retirement — with the runner feeding results.
    #[test]
    fn every_trigger_is_answered_exactly_once(actions in strategies::story(150), abandon in any::<bool>()) {
        let mut asked: Vec<String> = Vec::new();
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        let mut check = |s: Step<'_>| {
            if let Event::TriggerRequested { request } = &s.envelope.event {
                asked.push(request.clone());
            }
            for (request, _) in replies(&s.transition.effects) {
                *answers.entry(request).or_default() += 1;
            }
            Ok(())
        };
        let mut run = Run::new();
        for action in &actions {
            if let Some(event) = run.event_for(action) {
                run.push(event, &mut check)?;
            }
        }
        run.settle(abandon, &mut check)?;
        prop_assert!(running_attempt(&run.state).is_none());
        for request in &asked {
            prop_assert_eq!(answers.get(request).copied(), Some(1), "{} answered {:?} times", request, answers.get(request));
        }
        prop_assert_eq!(answers.len(), asked.len(), "replies to requests never made");
    }

    /// At most one attempt is in flight: a `Collect` only leaves a state
    /// that was not running, enters `Running` with that attempt, and attempt
    /// ids only grow.
    #[test]
    fn at_most_one_attempt_in_flight(actions in strategies::story(150)) {
        let mut last = 0u64;
        Run::play(&actions, |s: Step<'_>| {
            let started = collects(&s.transition.effects);
            prop_assert!(started.len() <= 1);
            if let Some(&attempt) = started.first() {
                prop_assert!(running_attempt(s.before).is_none(), "a second attempt started: {:?}", s.envelope.event);
                prop_assert_eq!(running_attempt(&s.transition.state), Some(attempt));
                prop_assert!(attempt > last);
                last = attempt;
            } else if let (Some(before), Some(after)) = (running_attempt(s.before), running_attempt(&s.transition.state)) {
                prop_assert_eq!(before, after, "the attempt in flight changed without a Collect");
            } else {
                prop_assert!(running_attempt(&s.transition.state).is_none() || running_attempt(s.before).is_some());
            }
            Ok(())
        })?;
    }

    /// In any reachable state, a timer that is not the current deadline and
    /// a result for an attempt that is not running are recorded no-ops.
    #[test]
    fn stale_timers_and_foreign_results_are_noops(
        actions in strategies::story(80),
        probes in prop::collection::vec((timer_kind(), any::<u64>(), any::<u64>()), 4),
    ) {
        let run = Run::play(&actions, |_| Ok(()))?;
        let state = &run.state;
        let seq = state.seq + 1;
        let mut expected = state.clone();
        expected.seq = seq;
        for (timer, due, attempt) in probes {
            let mut candidates = vec![(timer, Timestamp(due))];
            if let Some((kind, at)) = state.deadline() {
                candidates.push((kind, Timestamp(at.0 ^ 1)));
                candidates.push((if kind == TimerKind::Backoff { TimerKind::Scheduled } else { TimerKind::Backoff }, at));
            }
            for (timer, due) in candidates {
                if state.deadline() == Some((timer, due)) {
                    continue;
                }
                let t = step(state, &envelope(seq, run.now, Event::TimerFired { timer, due }));
                prop_assert_eq!(&t.state, &expected);
                prop_assert!(t.effects.is_empty());
                prop_assert_eq!(t.disposition, Disposition::Ignored(IgnoreReason::StaleTimer));
            }
            if running_attempt(state) == Some(attempt) {
                continue;
            }
            let outcome = Outcome::Failed { kind: FailureKind::AuthFailed, message: String::new(), learned: Default::default()  };
            let t = step(state, &envelope(seq, run.now, Event::AttemptFinished { attempt, outcome }));
            prop_assert_eq!(&t.state, &expected);
            prop_assert!(t.effects.is_empty());
        }
    }

    /// Skips never count as failures; any failure adds exactly one; only a
    /// success (or an operator unblocking) resets the count.
    #[test]
    fn the_failure_count_moves_only_on_failures(actions in strategies::story(150)) {
        Run::play(&actions, |s: Step<'_>| {
            let (before, after) = (s.before.failures, s.transition.state.failures);
            match &s.envelope.event {
                Event::AttemptFinished { outcome: Outcome::Skipped { .. }, .. } => prop_assert_eq!(after, before),
                _ if after > before => prop_assert_eq!(after, before + 1),
                _ if after < before => prop_assert_eq!(after, 0),
                _ => {}
            }
            Ok(())
        })?;
    }

    /// Every deadline lies at or after the moment its phase was entered,
    /// and exactly the waiting phases have one.
    #[test]
    fn deadlines_belong_to_waiting_phases(actions in strategies::story(150)) {
        Run::play(&actions, |s: Step<'_>| {
            let state = &s.transition.state;
            let waiting = matches!(state.phase.kind(), PhaseKind::Jitter | PhaseKind::Idle | PhaseKind::Running | PhaseKind::Backoff);
            prop_assert_eq!(state.deadline().is_some(), waiting);
            if let Some((_, due)) = state.deadline() {
                prop_assert!(due >= state.since, "deadline {} before {}", due, state.since);
            }
            Ok(())
        })?;
    }

    /// Policies: `validate` accepts exactly the policies that can work, and
    /// the machine never adopts one that cannot.
    #[test]
    fn only_valid_policies_are_adopted(policy in strategies::any_policy(), actions in strategies::story(20)) {
        let can_work = policy.interval_secs > 0
            && !policy.backoff_secs.is_empty()
            && policy.backoff_secs.iter().all(|&s| s > 0)
            && policy.jitter_min_secs <= policy.jitter_max_secs
            && policy.max_concurrent > 0
            && policy.command_timeout_secs > 0;
        prop_assert_eq!(policy.validate().is_ok(), can_work);
        let mut run = Run::play(&actions, |_| Ok(()))?;
        let before = run.state.policy.clone();
        let t = run.record(Event::PolicyChanged { policy: policy.clone() }, &mut |_| Ok(()))?;
        if can_work {
            prop_assert_eq!(&*t.state.policy, &policy);
        } else {
            prop_assert_eq!(&t.state.policy, &before);
            prop_assert!(matches!(t.disposition, Disposition::Ignored(IgnoreReason::InvalidPolicy(_))));
        }
    }
}
