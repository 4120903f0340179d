#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! Daemon benchmarks.
//!
//! 1. Pipeline: 1 000 simulated devices due at once, the whole path (timer →
//!    log → SSH → normalize → hash → snapshot file → log) on the embedded
//!    store, in backups per second — beside a bare russh connect–auth–exec–
//!    read–close loop against the same fleet at the same concurrency, in
//!    the same run. Ratio = pipeline / bare.
//! 2. Idle: 100 000 enrolled devices whose next backup is hours away:
//!    resident memory, CPU and the runner's wake-ups over an idle window.
//!
//! Run: `cargo bench --bench daemon` (`CONFKEEP_BENCH_DIR=/path`: the data
//! directory of the pipeline on that disk). Prints a table and a final JSON
//! line.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confkeep::domain::{DeviceId, Outcome, RetryPolicy, TenantId};
use confkeep::effects::config::{DaemonConfig, SshConfig};
use confkeep::effects::runner::{
    AttemptExecutor, Clock, Command, DesiredDevice, Runner, RunnerConfig, SystemClock,
};
use confkeep::effects::ssh::Collector;
use confkeep::projections::status::StatusBoard;
use confkeep::testbed::sim_fleet::{FleetSpec, SimFleet, SimFleetHandle, inventory_toml};
use futures::future::BoxFuture;

#[path = "common/bare.rs"]
mod bare;
use bare::{bare_once, cpu_ticks, proc_status_kb};

const DEVICES: usize = 1_000;
const CONCURRENCY: usize = 100;

/// The bare russh loop: every device once, `CONCURRENCY` at a time.
/// Backups per second and CPU µs per backup (client and simulated server).
async fn bare_loop(fleet: &SimFleetHandle) -> (f64, f64) {
    use futures::StreamExt;
    let config = Collector::new().ssh_config(false);
    let t0 = Instant::now();
    let ticks0 = cpu_ticks();
    let total: usize =
        futures::stream::iter(fleet.devices().iter().map(|d| bare_once(config.clone(), d)))
            .buffer_unordered(CONCURRENCY)
            .fold(0, |a, b| async move { a + b })
            .await;
    assert!(total > 0);
    measured("bare", t0, ticks0)
}

/// Backups per second and CPU µs per backup of `DEVICES` backups since
/// `t0` / `ticks0`, with a line saying so.
fn measured(what: &str, t0: Instant, ticks0: u64) -> (f64, f64) {
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_ticks().saturating_sub(ticks0) as f64 / 100.0;
    let cpu_us = cpu_s * 1e6 / DEVICES as f64;
    println!(
        "{what}: {wall_s:.2} s wall, {cpu_s:.2} s CPU ({:.0} % of 2 cores), {cpu_us:.0} µs CPU per backup",
        cpu_s / wall_s / 2.0 * 100.0
    );
    (DEVICES as f64 / wall_s, cpu_us)
}

/// The whole pipeline: the daemon with `CONCURRENCY` slots, every device
/// due at once, from the moment they are due until every device has its
/// snapshot. Start-up and enrolment are not timed: the devices are enrolled
/// with a first backup 2 s later, and the clock starts at that due time.
/// Backups per second and CPU µs per backup, and the data directory: the
/// caller keeps it until every measurement is done, because deleting a few
/// thousand files makes the next ones expensive to create on some file
/// systems (ext4 without a journal skips inodes freed in the last minutes),
/// which would charge one run's clean-up to the next.
async fn pipeline(fleet: &SimFleetHandle) -> (f64, f64, tempfile::TempDir) {
    // `CONFKEEP_BENCH_DIR` puts the data directory (log and snapshots) on
    // the disk to be measured; default: the system's temporary directory.
    let dir = match std::env::var_os("CONFKEEP_BENCH_DIR") {
        Some(root) => tempfile::tempdir_in(root),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(&inventory, inventory_toml(fleet.devices())).expect("inventory");
    let config = DaemonConfig {
        node: Some("bench".into()),
        data_dir: dir.path().join("data"),
        inventory,
        http_listen: None,
        shutdown_grace_secs: 5,
        inventory_poll_secs: 2,
        nats: None,
        redis: None,
        ssh: SshConfig::default(),
        policy: RetryPolicy {
            jitter_min_secs: 2,
            jitter_max_secs: 2,
            max_concurrent: CONCURRENCY as u32,
            ..RetryPolicy::default()
        },
        ..DaemonConfig::default()
    };
    let mut daemon = confkeep::daemon::start(config, Arc::new(SystemClock))
        .await
        .expect("daemon");
    let first_due = loop {
        let due = daemon.status.lock().ok().and_then(|b| {
            let rows: Vec<_> = b.rows().collect();
            (rows.len() >= DEVICES).then(|| {
                assert!(
                    rows.iter()
                        .all(|r| r.phase == confkeep::domain::PhaseKind::Jitter),
                    "enrolment was slower than the 2 s jitter"
                );
                rows.iter().filter_map(|r| r.next_due).min()
            })
        });
        if let Some(due) = due {
            break due.expect("a due time");
        }
        if daemon.recorded.changed().await.is_err() {
            panic!("the daemon stopped");
        }
    };
    let ahead = first_due.millis_since(SystemClock.now());
    let t0 = Instant::now() + Duration::from_millis(ahead);
    let ticks0 = cpu_ticks();
    loop {
        let done = daemon.status.lock().map(|b| b.backups().0).unwrap_or(0);
        if done as usize >= DEVICES {
            break;
        }
        if daemon.recorded.changed().await.is_err() {
            panic!("the daemon stopped");
        }
    }
    let (per_s, cpu_us) = measured("pipeline", t0, ticks0);
    let failed = daemon.status.lock().map(|b| b.backups().1).unwrap_or(0);
    assert_eq!(failed, 0, "pipeline attempts failed");
    daemon.shutdown().await.expect("shutdown");
    (per_s, cpu_us, dir)
}

/// The idle benchmark never reaches an attempt (next backups are hours
/// away); if one ran, it would say so.
struct NeverCalled;

impl AttemptExecutor for NeverCalled {
    fn execute(&self, _job: confkeep::domain::AttemptRequest) -> BoxFuture<'static, Outcome> {
        Box::pin(async {
            Outcome::Failed {
                kind: confkeep::domain::FailureKind::Other,
                message: "unexpected attempt in the idle benchmark".into(),
                learned: Default::default(),
            }
        })
    }
}

async fn idle_100k() -> (u64, f64, f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = confkeep::store::open(&confkeep::store::StoreConfig::Embedded {
        data_dir: dir.path().to_owned(),
    })
    .await
    .expect("embedded log");
    let rss_before = proc_status_kb("self", "VmRSS:");
    let runner = Runner::new(
        log.clone(),
        Arc::new(NeverCalled),
        Arc::new(SystemClock),
        RunnerConfig {
            node: "bench".into(),
            ..RunnerConfig::default()
        },
    );
    // The status board follows the log, as in the daemon.
    let board = Arc::new(Mutex::new(StatusBoard::new()));
    let projector = confkeep::projections::projector::Projector::new(log.clone(), board.clone());
    let mut folded = projector.folded();
    tokio::spawn(projector.follow(std::future::pending()));
    let handle = runner.handle();
    let policy = RetryPolicy {
        jitter_min_secs: 3_600,
        jitter_max_secs: 7_200,
        ..RetryPolicy::default()
    };
    let tenant = TenantId::parse("bench").expect("tenant");
    let devices: Vec<DesiredDevice> = (0..100_000)
        .map(|i| DesiredDevice {
            device: DeviceId::parse(&format!("r{i:06}")).expect("id"),
            tenant: tenant.clone(),
            host: format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
            port: 22,
            policy: policy.clone(),
            tags: Vec::new(),
            credentials: String::new(),
            known_host_key: None,
        })
        .collect();
    let wakeups = runner.wakeups();
    let mut position = runner.position();
    let mut recorded = runner.recorded();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.run(async move {
        let _ = stop_rx.changed().await;
    }));
    let t0 = Instant::now();
    handle.send(Command::Reconcile { devices });
    loop {
        let n = board.lock().map(|b| b.len()).unwrap_or(0);
        if n >= 100_000 {
            break;
        }
        if folded.changed().await.is_err() {
            panic!("the projector stopped");
        }
    }
    let enrol_s = t0.elapsed().as_secs_f64();
    // Idle means caught up: the runner has settled its 100 000 appends and
    // read them back from the log's tail (global positions 1..=100 000).
    recorded
        .wait_for(|n| *n >= 100_000)
        .await
        .expect("the runner stopped");
    position
        .wait_for(|p| *p >= 100_000)
        .await
        .expect("the runner stopped");
    let rss_kb = proc_status_kb("self", "VmRSS:");
    let ticks0 = cpu_ticks();
    let wakes0 = wakeups.load(std::sync::atomic::Ordering::Relaxed);
    let idle = Duration::from_secs(5);
    tokio::time::sleep(idle).await;
    let ticks = cpu_ticks().saturating_sub(ticks0);
    let wakes = wakeups.load(std::sync::atomic::Ordering::Relaxed) - wakes0;
    let wakes_per_min = wakes as f64 * 60.0 / idle.as_secs_f64();
    println!(
        "idle: the runner woke {wakes} times in {} s ({wakes_per_min:.0} per minute; no deadline was due)",
        idle.as_secs()
    );
    let cpu_share = ticks as f64 / 100.0 / idle.as_secs_f64();
    let _ = stop_tx.send(true);
    if let Ok(report) = task.await {
        println!("idle: runner {report:?}");
    }
    println!(
        "idle: 100000 devices enrolled in {enrol_s:.1} s; RSS {} MB (process before: {} MB); CPU while idle {:.2} %",
        rss_kb / 1024,
        rss_before / 1024,
        cpu_share * 100.0
    );
    (rss_kb * 1024, cpu_share, 100_000.0 / enrol_s, wakes_per_min)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Idle first, in a fresh process, so that its resident memory is its own.
    let (rss, cpu, enrol_per_s, wakes_per_min) = rt.block_on(idle_100k());
    let ((bare, bare_cpu), (piped, piped_cpu)) = rt.block_on(async {
        let fleet = SimFleet::start(FleetSpec::generated(DEVICES, 11))
            .await
            .expect("simulated fleet");
        // Warm up, then alternate so that both see the same machine.
        bare_loop(&fleet).await;
        let bare_a = bare_loop(&fleet).await;
        let (piped_a_per_s, piped_a_cpu, dir_a) = pipeline(&fleet).await;
        let piped_a = (piped_a_per_s, piped_a_cpu);
        let bare_b = bare_loop(&fleet).await;
        let (piped_b_per_s, piped_b_cpu, dir_b) = pipeline(&fleet).await;
        let piped_b = (piped_b_per_s, piped_b_cpu);
        drop((dir_a, dir_b));
        fleet.shutdown().await;
        println!(
            "pipeline: {:.0} and {:.0} backups/s; bare russh loop: {:.0} and {:.0} /s (concurrency {CONCURRENCY}, {DEVICES} devices)",
            piped_a.0, piped_b.0, bare_a.0, bare_b.0
        );
        let mean = |a: (f64, f64), b: (f64, f64)| ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        (mean(bare_a, bare_b), mean(piped_a, piped_b))
    });
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| pipeline backups per s ({DEVICES} due at once, c{CONCURRENCY}) | {piped:.0} |");
    println!("| bare russh loop per s (same fleet, c{CONCURRENCY}) | {bare:.0} |");
    println!("| pipeline ratio | {:.2} |", piped / bare);
    println!("| CPU µs per backup, pipeline | {piped_cpu:.0} |");
    println!("| CPU µs per backup, bare loop | {bare_cpu:.0} |");
    println!("| idle 100k RSS (bytes) | {rss} |");
    println!("| idle CPU share | {cpu:.4} |");
    println!("| idle wake-ups per minute (100k devices) | {wakes_per_min:.0} |");
    println!("| enrolments per s | {enrol_per_s:.0} |");
    println!(
        "{}",
        serde_json::json!({
            "bench": "daemon",
            "pipeline_per_s": piped,
            "bare_per_s": bare,
            "pipeline_ratio": piped / bare,
            "pipeline_cpu_us_per_backup": piped_cpu,
            "bare_cpu_us_per_backup": bare_cpu,
            "idle_100k_rss_bytes": rss,
            "idle_cpu_share": cpu,
            "idle_wakeups_per_min": wakes_per_min,
            "enrol_per_s": enrol_per_s,
        })
    );
}
