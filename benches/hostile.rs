#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! Hostile routers at once: the daemon (`confkeep run`, a process of its
//! own, so its memory is its own) backs up a fleet where every router
//! misbehaves after the TCP accept — a key exchange that never completes,
//! silence, an endless banner, 1 byte a second, binary garbage, a huge
//! single line, endless output past the cap, hundreds of channel opens,
//! a drop at every protocol stage — all of them at once (one slot each).
//! Beside it, in the same run, the same daemon on as many healthy routers.
//!
//! Figures: the daemon's peak resident memory (VmHWM) in both runs and
//! their ratio; how long until every router's attempt is settled, against
//! the attempt deadline; the failure kinds recorded.
//!
//! Run: `cargo bench --bench hostile` (200 routers); without `--bench` (as
//! under `cargo test`) 20.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use confkeep::api::StatusResponse;
use confkeep::testbed::sim_fleet::{
    DropStage, Fault, FleetSpec, SimFleet, SimFleetHandle, inventory_toml,
};

#[path = "common/bare.rs"]
#[allow(dead_code)] // only the memory figures are used here
mod bare;
use bare::proc_status_kb;

/// The attempt deadline in both runs (command timeout; the machine adds its
/// grace before it calls an attempt abandoned).
const COMMAND_TIMEOUT_SECS: u64 = 5;
/// The daemon's default `[ssh] output_cap_bytes`, in MiB.
const OUTPUT_CAP_MB: f64 = 16.0;

/// The hostile behaviours, dealt round-robin over the fleet.
fn hostile(i: usize) -> Fault {
    let all = [
        Fault::StalledKex,
        Fault::SilentAfterAccept,
        Fault::EndlessBanner,
        Fault::SlowOutput { bytes_per_sec: 1 },
        Fault::Garbage { bytes: 4 << 20 },
        Fault::HugeLine { bytes: 1 << 30 },
        Fault::Oversized { bytes: 1 << 30 },
        Fault::ChannelFlood { count: 500 },
        Fault::SilentMidOutput { after_bytes: 2048 },
        Fault::DisconnectAt {
            stage: DropStage::Banner,
        },
        Fault::DisconnectAt {
            stage: DropStage::Kex,
        },
        Fault::DisconnectAt {
            stage: DropStage::Auth,
        },
        Fault::DisconnectAt {
            stage: DropStage::Exec,
        },
        Fault::DisconnectAt {
            stage: DropStage::Output,
        },
    ];
    all[i % all.len()].clone()
}

fn peak_rss_kb(pid: u32) -> u64 {
    proc_status_kb(&pid.to_string(), "VmHWM:")
}

struct Run {
    settled_s: f64,
    peak_rss_kb: u64,
    kinds: BTreeMap<String, usize>,
}

fn start_daemon(dir: &std::path::Path, fleet: &SimFleetHandle, port: u16) -> Child {
    std::fs::write(dir.join("inventory.toml"), inventory_toml(fleet.devices())).expect("inventory");
    let n = fleet.devices().len();
    std::fs::write(
        dir.join("confkeep.toml"),
        format!(
            "node = \"hostile-bench\"\ndata_dir = \"data\"\ninventory = \"inventory.toml\"\n\
             http_listen = \"127.0.0.1:{port}\"\ninventory_poll_secs = 0\n\
             [policy]\ninterval_secs = 86400\njitter_min_secs = 0\njitter_max_secs = 0\n\
             backoff_secs = [86400]\ncommand_timeout_secs = {COMMAND_TIMEOUT_SECS}\nmax_concurrent = {n}\n"
        ),
    )
    .expect("config");
    Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .arg("run")
        .arg("--config")
        .arg(dir.join("confkeep.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("confkeep run")
}

/// Run the daemon on `fleet` until every router has an attempt settled.
async fn run(fleet: &SimFleetHandle) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let api = format!("http://127.0.0.1:{port}");
    let mut child = start_daemon(dir.path(), fleet, port);
    let n = fleet.devices().len();
    let t0 = Instant::now();
    let mut peak = 0;
    let status = loop {
        peak = peak.max(peak_rss_kb(child.id()));
        if let Ok((200, body)) = confkeep::cli::http::call("GET", &api, "/v1/status", None).await
            && let Ok(s) = serde_json::from_slice::<StatusResponse>(&body)
            && s.devices.len() == n
            && s.devices.iter().all(|d| {
                d.last_attempt.is_some() && d.phase != confkeep::domain::PhaseKind::Running
            })
        {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the fleet never settled"
        );
        // Another process: there is nothing to await, so look every 50 ms.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let settled_s = t0.elapsed().as_secs_f64();
    peak = peak.max(peak_rss_kb(child.id()));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let mut kinds = BTreeMap::new();
    for d in &status.devices {
        let kind = match (&d.last_error, d.last_success) {
            (_, Some(_)) => "collected".to_owned(),
            (Some(e), None) => e.kind.clone(),
            (None, None) => "none".to_owned(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    Run {
        settled_s,
        peak_rss_kb: peak,
        kinds,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 200 } else { 20 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (healthy, hostile_run) = runtime.block_on(async {
        let healthy_fleet = SimFleet::start(FleetSpec::generated(n, 1))
            .await
            .expect("fleet");
        let healthy = run(&healthy_fleet).await;
        healthy_fleet.shutdown().await;
        let mut spec = FleetSpec::generated(n, 2);
        for i in 0..n {
            spec.add_fault(i, hostile(i));
        }
        let hostile_fleet = SimFleet::start(spec).await.expect("fleet");
        let hostile_run = run(&hostile_fleet).await;
        let accepted: u64 = hostile_fleet
            .devices()
            .iter()
            .map(|d| d.flood_accepted())
            .sum();
        assert_eq!(accepted, 0, "the daemon took channels a router opened");
        hostile_fleet.shutdown().await;
        (healthy, hostile_run)
    });
    let mb = |kb: u64| kb as f64 / 1024.0;
    let deadline = COMMAND_TIMEOUT_SECS as f64;
    println!(
        "| run | routers at once | settled after (s) | attempt deadline (s) | daemon peak RSS (MB) |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| healthy | {n} | {:.1} | {deadline} | {:.0} |",
        healthy.settled_s,
        mb(healthy.peak_rss_kb)
    );
    println!(
        "| hostile | {n} | {:.1} | {deadline} | {:.0} |",
        hostile_run.settled_s,
        mb(hostile_run.peak_rss_kb)
    );
    println!("hostile outcomes: {:?}", hostile_run.kinds);
    println!("healthy outcomes: {:?}", healthy.kinds);
    assert_eq!(
        healthy.kinds.get("collected"),
        Some(&n),
        "healthy routers failed"
    );
    let ratio = hostile_run.peak_rss_kb as f64 / healthy.peak_rss_kb.max(1) as f64;
    // The bound: what a healthy fleet needs, plus one output cap for each
    // answer that ran into the cap (they are read at once), plus slack for
    // buffers in flight and the allocator.
    let capped = hostile_run.kinds.get("too_large").copied().unwrap_or(0) as f64;
    let bound_mb = mb(healthy.peak_rss_kb) + capped * OUTPUT_CAP_MB + 64.0;
    println!(
        "bound: healthy peak + {capped} capped answers x {OUTPUT_CAP_MB} MiB + 64 MiB = {bound_mb:.0} MB; hostile peak {:.0} MB",
        mb(hostile_run.peak_rss_kb)
    );
    assert!(
        mb(hostile_run.peak_rss_kb) <= bound_mb,
        "hostile routers grew the daemon past its bound"
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "hostile",
            "routers": n,
            "hostile_peak_rss_mb": mb(hostile_run.peak_rss_kb),
            "healthy_peak_rss_mb": mb(healthy.peak_rss_kb),
            "peak_rss_ratio": ratio,
            "peak_rss_bound_mb": bound_mb,
            "hostile_settled_s": hostile_run.settled_s,
            "hostile_settled_per_s": n as f64 / hostile_run.settled_s,
            "healthy_settled_per_s": n as f64 / healthy.settled_s,
            "settled_ratio": healthy.settled_s / hostile_run.settled_s,
        })
    );
}
