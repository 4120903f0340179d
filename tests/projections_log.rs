//! The status is a fold of the log, not of the runner: on both backends, an
//! event appended by another writer (a second handle on the same log, as an
//! operator's command or another daemon would) shows in `/v1/status` within
//! a second, the runner folds it before its own next decision (no
//! conflict), and after a restart the counts agree with the history. On
//! JetStream, a record that does not decode is reported with its subject and
//! sequence, its device's row says it is out of date, and the rest goes on.

mod common;

use std::sync::Arc;
use std::time::Duration;

use confkeep::api::StatusResponse;
use confkeep::daemon::{self, Daemon};
use confkeep::domain::{DeviceId, Envelope, Event, Outcome, PhaseKind, RequestId, TriggerReply};
use confkeep::effects::config::{DaemonConfig, NatsConfig, SshConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::store::EventLog;
use confkeep::testbed::sim_fleet::{FleetSpec, SimFleet, SimFleetHandle, inventory_toml};
use futures::StreamExt;

fn config(dir: &std::path::Path, fleet: &SimFleetHandle, nats: Option<NatsConfig>) -> DaemonConfig {
    let inventory = dir.join("inventory.toml");
    common::write_private(&inventory, &inventory_toml(fleet.devices()));
    DaemonConfig {
        node: Some("follow-test".into()),
        data_dir: dir.join("data"),
        inventory,
        http_listen: Some("127.0.0.1:0".into()),
        shutdown_grace_secs: 2,
        inventory_poll_secs: 0,
        nats,
        redis: None,
        ssh: SshConfig::default(),
        policy: common::prompt_policy(),
        ..DaemonConfig::default()
    }
}

async fn history(log: &dyn EventLog, device: &DeviceId) -> Vec<Envelope> {
    log.device_history(device)
        .map(|e| e.expect("history"))
        .collect()
        .await
}

/// Wait, on the daemon's fold, until `/v1/status` satisfies `done`; the
/// answer that did.
async fn until_status(
    daemon: &mut Daemon,
    within: Duration,
    done: impl Fn(&StatusResponse) -> bool,
) -> StatusResponse {
    let api = format!("http://{}", daemon.api_addr.unwrap());
    let wait = async {
        loop {
            if let Some(s) = common::status(&api).await
                && done(&s)
            {
                return s;
            }
            daemon.recorded.changed().await.expect("daemon running");
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .expect("/v1/status did not show it in time")
}

/// Append an operator's `CredentialsUpdated` for `device` from `second`,
/// as another writer (for an idle device, a recorded no-op: the restart's
/// reconcile finds nothing to change).
async fn foreign_command(second: &dyn EventLog, device: &DeviceId) -> u64 {
    let last = history(second, device).await.pop().expect("an event");
    let env = common::next_from(&last, "operator", Event::CredentialsUpdated);
    second
        .append(device, env.seq - 1, vec![env.clone()])
        .await
        .expect("the second writer's append");
    env.seq
}

/// A daemon whose three devices have each been backed up once.
async fn started(config: DaemonConfig) -> Daemon {
    let mut daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    common::until_rows(&mut daemon, "every device backed up", |rows| {
        rows.len() == 3
            && rows
                .iter()
                .all(|r| r.phase == PhaseKind::Idle && r.last_success.is_some())
    })
    .await;
    daemon
}

/// The whole story on one backend. The second writer: on JetStream another
/// connection to the stream; redb admits one handle per file, so there it
/// is another handle on the daemon's open log, bypassing the runner.
async fn follows_the_log(config: DaemonConfig) {
    let mut daemon = started(config.clone()).await;
    let second = match &config.nats {
        Some(nats) => second_handle(nats).await,
        None => daemon.log.clone(),
    };
    let device =
        DeviceId::parse(&daemon.status.lock().unwrap().rows().next().unwrap().device).unwrap();
    let seq = foreign_command(second.as_ref(), &device).await;
    let shown = until_status(&mut daemon, Duration::from_secs(1), |s| {
        s.devices
            .iter()
            .any(|r| r.device == device.as_str() && r.seq == seq)
    })
    .await;
    assert_eq!(shown.summary.devices, 3);
    // The runner folds it from the tail: its trigger lands right after it.
    let mut followed = daemon.followed.clone();
    tokio::time::timeout(Duration::from_secs(5), followed.wait_for(|n| *n >= 1))
        .await
        .expect("the runner did not follow the other writer's event")
        .unwrap();
    let reply = daemon
        .runner
        .trigger(device.clone(), RequestId::from("after-foreign"))
        .await
        .unwrap();
    assert!(matches!(reply, TriggerReply::Success { .. }), "{reply:?}");
    drop(second);
    let report = daemon.shutdown().await.unwrap();
    assert_eq!(
        report.conflicts, 0,
        "decided on top of the other writer's event: {report:?}"
    );

    // After a restart the counts are the history's (compared once the
    // daemon stopped: its projector has folded the log to its end).
    let daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    let (log, status) = (daemon.log.clone(), daemon.status.clone());
    daemon.shutdown().await.unwrap();
    let mut collected = 0;
    let mut finished = 0;
    let board = status.lock().unwrap().clone();
    for row in board.rows() {
        let events = history(log.as_ref(), &DeviceId::parse(&row.device).unwrap()).await;
        assert_eq!(row.events, events.len() as u64, "{}", row.device);
        for e in &events {
            if let Event::AttemptFinished { outcome, .. } = &e.event {
                finished += 1;
                collected += u64::from(matches!(outcome, Outcome::Collected { .. }));
            }
        }
    }
    let (ok, failed, skipped) = board.backups();
    assert_eq!((ok, ok + failed + skipped), (collected, finished));
    assert_eq!(collected, 4, "three scheduled backups and the trigger");
    drop(log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_status_follows_another_writer_and_counts_survive_a_restart() {
    let fleet = SimFleet::start(FleetSpec::generated(3, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    follows_the_log(config(dir.path(), &fleet, None)).await;
    fleet.shutdown().await;
}

fn nats_url() -> String {
    std::env::var("NATS_URL")
        .expect("NATS_URL must point at nats-server with JetStream (scripts/test starts one)")
}

fn nats(tag: &str) -> NatsConfig {
    let mut nats = NatsConfig::new(nats_url());
    nats.stream = format!("EVENTS_{tag}");
    nats.subject_prefix = format!("{tag}.backup.events");
    nats.snapshot_subject = format!("{tag}.config.snapshot.create.{{device_id}}");
    nats.snapshot_stream = format!("SNAPSHOTS_{tag}");
    nats
}

async fn second_handle(nats: &NatsConfig) -> Arc<dyn EventLog> {
    let mut js = confkeep::store::JetStreamConfig::new(&nats.url);
    js.stream = nats.stream.clone();
    js.subject_prefix = nats.subject_prefix.clone();
    Arc::new(confkeep::store::JetStreamLog::open(&js).await.unwrap())
}

async fn drop_streams(nats: &NatsConfig) {
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    let _ = js.delete_stream(&nats.stream).await;
    let _ = js.delete_stream(&nats.snapshot_stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_status_follows_another_writer_and_counts_survive_a_restart() {
    common::keep_account_alive(&nats_url()).await;
    let fleet = SimFleet::start(FleetSpec::generated(3, 6)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nats = nats(&format!("F{}", std::process::id()));
    follows_the_log(config(dir.path(), &fleet, Some(nats.clone()))).await;
    drop_streams(&nats).await;
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_record_marks_its_device_and_stops_nothing() {
    common::keep_account_alive(&nats_url()).await;
    let fleet = SimFleet::start(FleetSpec::generated(3, 7)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nats = nats(&format!("B{}", std::process::id()));
    let mut daemon = started(config(dir.path(), &fleet, Some(nats.clone()))).await;
    let rows: Vec<_> = daemon.status.lock().unwrap().rows().collect();
    let (bad, good) = (&rows[0], &rows[1]);
    let subject = format!("{}.{}.{}", nats.subject_prefix, bad.tenant, bad.device);
    let client = async_nats::connect(&nats.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let ack = js
        .publish(
            subject.clone(),
            format!("{{\"device\":\"{}\",\"schema\":1,\"seq\":", bad.device).into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    // The rest goes on: another writer's event for a healthy device shows.
    let second = second_handle(&nats).await;
    let good_id = DeviceId::parse(&good.device).unwrap();
    let seq = foreign_command(second.as_ref(), &good_id).await;
    let s = until_status(&mut daemon, Duration::from_secs(5), |s| {
        s.devices
            .iter()
            .any(|r| r.device == good.device && r.seq == seq)
    })
    .await;
    let problem = s
        .summary
        .log_problems
        .iter()
        .find(|p| p.global == ack.sequence)
        .expect("the bad record is reported");
    assert!(problem.location.contains(&subject), "{problem:?}");
    assert_eq!(problem.device.as_deref(), Some(bad.device.as_str()));
    let bad_row = s.devices.iter().find(|r| r.device == bad.device).unwrap();
    assert!(
        bad_row.out_of_date.as_deref().unwrap().contains(&subject),
        "{bad_row:?}"
    );
    let good_row = s.devices.iter().find(|r| r.device == good.device).unwrap();
    assert_eq!(good_row.out_of_date, None);
    daemon.shutdown().await.unwrap();
    drop_streams(&nats).await;
    fleet.shutdown().await;
}
