//! A Redis that is down costs no backup: with `[redis] url` pointing at a
//! port nobody listens on, every router is backed up on schedule again and
//! again (the fault this test pins: each was backed up once and its next
//! scheduled backup never came). Prints how long the second round took
//! beside a run without Redis, for the note (not asserted: shared machine).

mod common;

use std::sync::Arc;
use std::time::Duration;

use confkeep::daemon::{self, Daemon};
use confkeep::domain::Timestamp;
use confkeep::effects::config::{DaemonConfig, RedisConfig};
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::{FleetSpec, SimFleet, inventory_toml};

async fn two_rounds(redis: Option<RedisConfig>) -> Duration {
    let fleet = SimFleet::start(FleetSpec::generated(5, 31)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(&inventory, inventory_toml(fleet.devices())).unwrap();
    let config = DaemonConfig {
        node: Some("redis-down".into()),
        data_dir: dir.path().join("data"),
        inventory,
        shutdown_grace_secs: 2,
        redis,
        policy: confkeep::domain::RetryPolicy {
            interval_secs: 3,
            ..common::prompt_policy()
        },
        ..DaemonConfig::default()
    };
    let mut daemon: Daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    let ids: Vec<String> = fleet.devices().iter().map(|d| d.id.clone()).collect();
    #[allow(clippy::disallowed_methods)] // a figure for the note, not a decision
    let started = std::time::Instant::now();
    let firsts = |rows: &[confkeep::projections::status::DeviceStatus]| -> Option<Vec<Timestamp>> {
        ids.iter()
            .map(|id| {
                rows.iter()
                    .find(|r| &r.device == id)
                    .and_then(|r| r.last_success)
            })
            .collect()
    };
    common::until_rows(&mut daemon, "every router backed up once", |rows| {
        firsts(rows).is_some()
    })
    .await;
    let first = firsts(&daemon.status.lock().unwrap().rows().collect::<Vec<_>>()).unwrap();
    common::until_rows(
        &mut daemon,
        "every router backed up again on schedule",
        |rows| firsts(rows).is_some_and(|now| now.iter().zip(&first).all(|(n, f)| n > f)),
    )
    .await;
    let took = started.elapsed();
    daemon.shutdown().await.unwrap();
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_costs_no_backup() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let with_dead_redis = two_rounds(Some(RedisConfig {
        url: format!("redis://127.0.0.1:{dead}"),
        key_prefix: String::new(),
    }))
    .await;
    let without = two_rounds(None).await;
    println!(
        "two rounds of 5 routers at a 3 s interval: {:.2} s with Redis down, {:.2} s without Redis",
        with_dead_redis.as_secs_f64(),
        without.as_secs_f64()
    );
}
