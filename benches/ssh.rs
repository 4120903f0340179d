#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! SSH collector benchmark.
//!
//! Backups per second of [`Collector::collect`] (connect, key exchange with
//! the host-key check, password auth, `/export show-sensitive`, read to the
//! end, completeness gate, normalize, SHA-256, close) against the simulated
//! RouterOS fleet, at concurrency 1, 10 and 100 — beside a bare russh
//! connect–auth–exec–read–close loop (same russh config, no checks, no
//! normalization) against the same fleet in the same run. Ratio = collector
//! / bare; the target is ≥ 0.8 at concurrency 100.
//!
//! The simulated fleet runs in this process, so its server side shares the
//! machine with the client: both loops pay for it alike. At each
//! concurrency, after a warm-up, runs go bare, collector, collector, bare,
//! bare, collector, collector, bare (ABBA twice, so a linear drift of a
//! shared machine cancels) and are averaged. Beside the rates: process CPU
//! time per backup (client and simulated server together; steadier than
//! wall time on a shared machine), and what the collector adds on top of
//! the bare loop in plain CPU — the completeness gate, normalize and
//! SHA-256 of one export, timed on one thread over the fleet's exports.
//!
//! Run: `cargo bench --bench ssh`. With `CONFKEEP_BENCH_QUICK=1`, or without
//! the `--bench` argument (as under `cargo test`), a fifth of the backups.
//! Prints a table and a final JSON line.

use std::time::Instant;

use confkeep::domain::normalize::normalized_hash;
use confkeep::effects::ssh::{CollectRequest, Collector, output};
use confkeep::testbed::sim_fleet::{FleetSpec, SimDevice, SimFleet};
use futures::StreamExt;

#[path = "common/bare.rs"]
mod bare;
use bare::{bare_once, cpu_ticks};

const DEVICES: usize = 1_000;
/// (concurrency, backups per measurement).
const LEVELS: [(usize, usize); 3] = [(1, 400), (10, 1_500), (100, 1_500)];
/// Measured runs of each kind per concurrency (after one warm-up each).
const ROUNDS: usize = 4;

/// One backup as production takes it (`effects::attempt`): the device's
/// known host key trusted, defaults otherwise.
fn request(device: &SimDevice) -> CollectRequest {
    CollectRequest {
        trusted_host_key: Some(device.host_key_fingerprint.clone()),
        ..CollectRequest::new(
            device.addr.ip().to_string(),
            device.addr.port(),
            &device.user,
            &device.password,
        )
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Bare,
    Collector,
}

/// `backups` backups over the fleet (device `i % DEVICES`), `concurrency`
/// at a time: backups per second, and process CPU µs per backup.
async fn run(
    kind: Kind,
    devices: &[SimDevice],
    requests: &[CollectRequest],
    concurrency: usize,
    backups: usize,
) -> (f64, f64) {
    let collector = Collector::new();
    let config = collector.ssh_config(false);
    let ticks0 = cpu_ticks();
    let t0 = Instant::now();
    let total: usize = futures::stream::iter(0..backups)
        .map(|i| {
            let (collector, config) = (&collector, config.clone());
            let i = i % devices.len();
            async move {
                match kind {
                    Kind::Bare => bare_once(config, &devices[i]).await,
                    Kind::Collector => match collector.collect(&requests[i]).await {
                        Ok(collected) => collected.bytes_read,
                        Err(failure) => panic!("{}: {failure}", devices[i].id),
                    },
                }
            }
        })
        .buffer_unordered(concurrency)
        .fold(0, |a, b| async move { a + b })
        .await;
    let per_s = backups as f64 / t0.elapsed().as_secs_f64();
    let cpu_us = cpu_ticks().saturating_sub(ticks0) as f64 * 10_000.0 / backups as f64;
    assert!(total > 0);
    (per_s, cpu_us)
}

/// The collector's own CPU work on a complete answer, beyond the bare loop:
/// the completeness gate, normalize, SHA-256 (µs per export, one thread).
fn post_processing_us(devices: &[SimDevice]) -> f64 {
    let exports: Vec<String> = devices.iter().map(|d| d.export_text_at(0)).collect();
    let t0 = Instant::now();
    let mut sink = 0;
    for export in &exports {
        output::check(export.as_bytes(), b"", 0).expect("an export");
        sink += normalized_hash(export).1.len();
    }
    assert!(sink > 0);
    t0.elapsed().as_secs_f64() * 1e6 / exports.len() as f64
}

/// Mean of rates and of CPU per backup.
fn mean(runs: &[(f64, f64)]) -> (f64, f64) {
    let n = runs.len() as f64;
    (
        runs.iter().map(|r| r.0).sum::<f64>() / n,
        runs.iter().map(|r| r.1).sum::<f64>() / n,
    )
}

fn rates(runs: &[(f64, f64)]) -> String {
    let v: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.0)).collect();
    v.join(", ")
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a
    // quick smoke run then, as the other benches do.
    let quick = std::env::var_os("CONFKEEP_BENCH_QUICK").is_some_and(|v| !v.is_empty())
        || !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (results, post_us) = rt.block_on(async {
        let fleet = SimFleet::start(FleetSpec::generated(DEVICES, 23))
            .await
            .expect("simulated fleet");
        let devices = fleet.devices();
        let requests: Vec<CollectRequest> = devices.iter().map(request).collect();
        // The collector brings back what the device holds.
        for (device, request) in devices.iter().zip(&requests).take(5) {
            let collected = Collector::new().collect(request).await.expect("collect");
            assert_eq!(collected.sha256, device.expected_hash(), "{}", device.id);
        }
        let mut results = Vec::new();
        for (concurrency, backups) in LEVELS {
            let backups = if quick { backups / 5 } else { backups };
            let go = |kind| run(kind, devices, &requests, concurrency, backups);
            let warm = backups / 5;
            run(Kind::Bare, devices, &requests, concurrency, warm).await;
            run(Kind::Collector, devices, &requests, concurrency, warm).await;
            let (mut bare, mut ours) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                // ABBA: bare first in even rounds, the collector in odd ones.
                if round % 2 == 0 {
                    bare.push(go(Kind::Bare).await);
                    ours.push(go(Kind::Collector).await);
                } else {
                    ours.push(go(Kind::Collector).await);
                    bare.push(go(Kind::Bare).await);
                }
            }
            println!(
                "c{concurrency}: collector {} backups/s; bare russh loop {} /s ({backups} backups each)",
                rates(&ours),
                rates(&bare)
            );
            results.push((concurrency, mean(&ours), mean(&bare)));
        }
        let post_us = post_processing_us(devices);
        println!(
            "the collector's own work on an answer (gate + normalize + SHA-256): {post_us:.0} µs per export, one thread"
        );
        fleet.shutdown().await;
        (results, post_us)
    });
    println!();
    println!(
        "| concurrency | collector backups per s | bare russh loop per s | ratio | CPU µs per backup, collector | CPU µs per backup, bare |"
    );
    println!("|---|---|---|---|---|---|");
    for (concurrency, (ours, ours_cpu), (bare, bare_cpu)) in &results {
        println!(
            "| {concurrency} | {ours:.0} | {bare:.0} | {:.2} | {ours_cpu:.0} | {bare_cpu:.0} |",
            ours / bare
        );
    }
    let mut json = serde_json::json!({ "bench": "ssh" });
    for (concurrency, (ours, _), (bare, _)) in &results {
        json[format!("c{concurrency}_per_s")] = (*ours).into();
        json[format!("bare_c{concurrency}_per_s")] = (*bare).into();
        json[format!("c{concurrency}_ratio")] = (ours / bare).into();
    }
    json["post_processing_us"] = post_us.into();
    println!("{json}");
}
