//! `kill -9` while attempts run costs nothing but those attempts.
//!
//! The daemon runs as a real process (`confkeep run`) on the embedded store
//! against the simulated fleet (served by this test). It is killed with
//! SIGKILL while slow backups are in flight, restarted, allowed to settle,
//! stopped with SIGTERM (exit 0), and then the log is read back:
//!
//! - every device's sequence is 1..n without gap or duplicate;
//! - each attempt in flight at the kill is settled exactly once, by its
//!   `AttemptDeadline` (`Abandoned`), and never run again;
//! - a device blocked before the kill is still blocked and was never tried;
//! - no device's next backup moved earlier than its schedule (no re-jitter,
//!   no restart burst).

mod common;
use common::{free_port, read_log, until_api};

use std::collections::BTreeMap;
use std::process::Command;

use confkeep::domain::{Envelope, Event, PhaseKind, TimerKind};
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet};

fn by_device(events: &[Envelope]) -> BTreeMap<String, Vec<Envelope>> {
    let mut map: BTreeMap<String, Vec<Envelope>> = BTreeMap::new();
    for e in events {
        map.entry(e.device.to_string()).or_default().push(e.clone());
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_resumes_where_it_was() {
    // Devices 0-5 print slowly (their attempts are in flight at the kill);
    // device 6 refuses our password; the rest are quick.
    let mut spec = FleetSpec::generated(10, 7);
    for i in 0..6 {
        spec.devices[i].export_bytes = 8 * 1024;
        spec.add_fault(
            i,
            Fault::SlowOutput {
                bytes_per_sec: 1024,
            },
        );
    }
    spec.add_fault(6, Fault::WrongPassword);
    let fleet = SimFleet::start(spec).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let config = common::child_dir(
        dir.path(),
        fleet.devices(),
        &format!(
            "node = \"crash-test\"\ndata_dir = \"data\"\ninventory = \"inventory.toml\"\n\
             http_listen = \"127.0.0.1:{port}\"\nshutdown_grace_secs = 2\n\
             [policy]\ninterval_secs = 3600\njitter_min_secs = 0\njitter_max_secs = 1\n\
             backoff_secs = [3600]\ncommand_timeout_secs = 10\ndeadline_grace_secs = 1\n\
             max_concurrent = 10\n"
        ),
    );

    // First life: wait until the quick devices are backed up, the blocked one
    // is blocked and the slow ones are running; then SIGKILL.
    let mut first = common::spawn_daemon(&config, &dir.path().join("first.log"));
    until_api(&api, "slow attempts in flight", |s| {
        let phase = |i: usize| s.devices.get(i).map(|d| d.phase);
        s.devices.len() == 10
            && (0..6).all(|i| phase(i) == Some(PhaseKind::Running))
            && phase(6) == Some(PhaseKind::AuthBlocked)
            && (7..10).all(|i| phase(i) == Some(PhaseKind::Idle))
    })
    .await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();

    let before = by_device(&read_log(&data).await);
    let running_at_kill: BTreeMap<String, u64> = before
        .iter()
        .filter_map(|(d, evs)| {
            let last = evs.last()?;
            (last.after.as_ref()?.phase == PhaseKind::Running).then(|| {
                let attempt = evs
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.event,
                            Event::TimerFired {
                                timer: TimerKind::Jitter,
                                ..
                            }
                        )
                    })
                    .count() as u64;
                (d.clone(), attempt)
            })
        })
        .collect();
    assert_eq!(running_at_kill.len(), 6, "{running_at_kill:?}");
    let deadlines_at_kill: BTreeMap<String, (TimerKind, u64)> = before
        .iter()
        .filter_map(|(d, evs)| {
            let (k, t) = evs.last()?.after.as_ref()?.deadline?;
            Some((d.clone(), (k, t.as_millis())))
        })
        .collect();
    let connections_at_kill: Vec<u64> = fleet.devices().iter().map(|d| d.connections()).collect();

    // Second life: the abandoned attempts are settled by their deadline.
    let mut second = common::spawn_daemon(&config, &dir.path().join("second.log"));
    until_api(&api, "abandoned attempts settled", |s| {
        s.devices.len() == 10
            && (0..6).all(|i| s.devices[i].phase == PhaseKind::Backoff)
            && s.devices[6].phase == PhaseKind::AuthBlocked
    })
    .await;
    // Graceful stop: SIGTERM, exit 0.
    let pid = second.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = second.wait().unwrap();
    assert!(exit.success(), "SIGTERM must end in exit 0, got {exit:?}");

    let after = by_device(&read_log(&data).await);
    for (device, evs) in &after {
        let seqs: Vec<u64> = evs.iter().map(|e| e.seq).collect();
        let want: Vec<u64> = (1..=evs.len() as u64).collect();
        assert_eq!(seqs, want, "{device}: gap or duplicate in the log");
        let old = before.get(device).map(Vec::len).unwrap_or(0);
        assert_eq!(
            &evs[..old],
            &before[device][..],
            "{device}: history rewritten"
        );
        let new = &evs[old..];
        if let Some(attempt) = running_at_kill.get(device) {
            let settled: Vec<&Envelope> = new
                .iter()
                .filter(|e| {
                    matches!(
                        e.event,
                        Event::TimerFired {
                            timer: TimerKind::AttemptDeadline,
                            ..
                        }
                    )
                })
                .collect();
            assert_eq!(settled.len(), 1, "{device}: attempt {attempt} settled once");
            assert_eq!(settled[0].after.as_ref().unwrap().phase, PhaseKind::Backoff);
            let (_, due) = deadlines_at_kill[device];
            assert_eq!(
                settled[0].event,
                Event::TimerFired {
                    timer: TimerKind::AttemptDeadline,
                    due: confkeep::domain::Timestamp(due)
                }
            );
            assert!(
                !new.iter().any(|e| matches!(
                    e.event,
                    Event::TimerFired {
                        timer: TimerKind::Backoff,
                        ..
                    }
                )),
                "{device}: no new attempt before its backoff"
            );
        }
        // No device's next backup moved earlier: any attempt started after
        // the restart was due at the deadline recorded before the kill.
        for e in new {
            if let Event::TimerFired { timer, due } = &e.event
                && *timer != TimerKind::AttemptDeadline
            {
                let (k, t) = deadlines_at_kill[device];
                assert_eq!(
                    (*timer, due.as_millis()),
                    (k, t),
                    "{device}: schedule moved"
                );
                assert!(e.at.as_millis() >= t, "{device}: started before it was due");
            }
        }
    }
    let blocked = fleet.devices()[6].id.clone();
    assert!(
        after[&blocked][before[&blocked].len()..].is_empty(),
        "a blocked device is left alone after a restart"
    );
    assert_eq!(
        after[&blocked]
            .last()
            .unwrap()
            .after
            .as_ref()
            .unwrap()
            .phase,
        PhaseKind::AuthBlocked
    );
    for (i, d) in fleet.devices().iter().enumerate() {
        if i >= 6 {
            assert_eq!(
                d.connections(),
                connections_at_kill[i],
                "{}: no restart burst",
                d.id
            );
        }
    }
    fleet.shutdown().await;
}
