#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! The cost of committing a changed config to the git repository of
//! configs ([`GitHistory`]) when it already holds 10 000 devices.
//!
//! 1. Fill: the first backup of 10 000 devices (100 tenants of 100), one
//!    commit each, with generated RouterOS exports of about 12 KB.
//! 2. Changes: 2 000 changed configs of devices picked across tenants, one
//!    commit each: commits/s and ms per commit (p50, p99).
//! 3. Baseline in the same run: the same 2 000 texts written as plain
//!    files (`std::fs::write`, what the content-addressed store does before
//!    its fsync). `commit_ratio` = commits/s ÷ plain writes/s.
//!
//! `cargo bench --bench git` (full); without `--bench` it runs small as a
//! smoke test. Prints a table, then one JSON line.

use std::time::Instant;

use confkeep::effects::git_history::{Change, GitHistory};
use confkeep::testbed::routeros_gen::{ExportSpec, GeneratedExport, RouterOsVersion, Sensitive};

const TENANTS: usize = 100;

fn text(device: usize, revision: usize) -> String {
    let version = RouterOsVersion::parse("7.15.3").unwrap();
    let export = GeneratedExport::generate(&ExportSpec::new(device as u64, version, 12_000));
    let mut t = export.render(0, Sensitive::Show);
    t.push_str(&format!(
        "/ip firewall address-list\nadd address=10.{}.{}.1 list=edit-{revision}\n",
        device % 250,
        revision % 250
    ));
    t
}

fn change<'a>(
    tenants: &'a [String],
    devices: &'a [String],
    i: usize,
    text: &'a str,
    global: u64,
) -> Change<'a> {
    Change {
        tenant: &tenants[i % TENANTS],
        device: &devices[i],
        text,
        sha256: "0000",
        attempt: global,
        global,
        at_ms: 1_700_000_000_000 + global * 1000,
        node: "bench",
    }
}

fn pct(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() - 1) * p / 100]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (devices, changes) = if full { (10_000, 2_000) } else { (300, 50) };
    let dir = tempfile::tempdir().unwrap();
    let tenants: Vec<String> = (0..TENANTS).map(|t| format!("t{t:03}")).collect();
    let names: Vec<String> = (0..devices).map(|d| format!("r{d:05}")).collect();
    let mut git = GitHistory::open(&dir.path().join("configs.git")).unwrap();

    let started = Instant::now();
    for d in 0..devices {
        let t = text(d, 0);
        git.record(&change(&tenants, &names, d, &t, d as u64 + 1))
            .unwrap();
    }
    let fill_s = started.elapsed().as_secs_f64();

    let picks: Vec<usize> = (0..changes).map(|i| (i * 7_919) % devices).collect();
    let texts: Vec<String> = picks
        .iter()
        .enumerate()
        .map(|(i, d)| text(*d, i + 1))
        .collect();
    let mut each = Vec::with_capacity(changes);
    let started = Instant::now();
    for (i, d) in picks.iter().enumerate() {
        let one = Instant::now();
        let global = (devices + i) as u64 + 1;
        assert!(
            git.record(&change(&tenants, &names, *d, &texts[i], global))
                .unwrap()
        );
        each.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    let commit_s = started.elapsed().as_secs_f64();

    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let started = Instant::now();
    for (i, d) in picks.iter().enumerate() {
        std::fs::write(plain.join(format!("{d}.rsc")), &texts[i]).unwrap();
    }
    let plain_s = started.elapsed().as_secs_f64();

    each.sort_by(f64::total_cmp);
    let (commits_per_s, plain_per_s) = (changes as f64 / commit_s, changes as f64 / plain_s);
    println!("| figure | value |");
    println!("|---|---|");
    println!("| devices in the repository | {devices} |");
    println!(
        "| fill: first backups committed per s | {:.0} |",
        devices as f64 / fill_s
    );
    println!("| changed configs committed per s | {commits_per_s:.0} |");
    println!(
        "| ms per commit, p50 / p99 | {:.2} / {:.2} |",
        pct(&each, 50),
        pct(&each, 99)
    );
    println!("| plain file writes per s (baseline) | {plain_per_s:.0} |");
    println!(
        "| commit ratio (commits / plain writes) | {:.3} |",
        commits_per_s / plain_per_s
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "git",
            "commits_per_s": commits_per_s,
            "commit_p50_ms": pct(&each, 50),
            "commit_p99_ms": pct(&each, 99),
            "plain_writes_per_s": plain_per_s,
            "commit_ratio": commits_per_s / plain_per_s,
            "devices": devices,
        })
    );
}
