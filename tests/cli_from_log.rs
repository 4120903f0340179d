//! `confkeep status`, `history` and `diff` from the log alone: a short demo
//! leaves a data directory, the daemon is gone, and an auditor reads it
//! with `--data-dir` — filters, paging, JSON, exit codes.

use std::path::Path;

use confkeep::api::StatusResponse;
use confkeep::domain::{Envelope, PhaseKind};
use confkeep::projections::snapshots::ConfigDiff;

async fn confkeep(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .await
        .expect("confkeep runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_auditor_reads_status_history_and_diffs_from_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, out, err) = confkeep(&["demo", "--seconds", "6", "--devices", "10"], &data).await;
    assert_eq!(code, Some(0), "{out}\n{err}");

    let (code, out, err) = confkeep(&["status", "--json"], &data).await;
    assert_eq!(code, Some(0), "{err}");
    let all: StatusResponse = serde_json::from_str(&out).expect("status --json reads");
    assert_eq!(all.devices.len(), 10);
    assert_eq!(all.summary.devices, 10);
    let blocked: Vec<_> = all
        .devices
        .iter()
        .filter(|d| d.phase == PhaseKind::AuthBlocked)
        .collect();
    assert_eq!(
        blocked.len(),
        1,
        "the demo's wrong password blocks one router"
    );
    assert!(blocked[0].tags.iter().any(|t| t == "fault-wrong-password"));

    let (code, out, _) = confkeep(&["status", "--phase", "auth_blocked", "--json"], &data).await;
    assert_eq!(code, Some(0));
    let only: StatusResponse = serde_json::from_str(&out).unwrap();
    assert_eq!(only.devices.len(), 1);
    assert_eq!(only.devices[0].device, blocked[0].device);
    let (_, out, _) = confkeep(&["status", "--tag", "no-such-tag", "--json"], &data).await;
    let none: StatusResponse = serde_json::from_str(&out).unwrap();
    assert!(none.devices.is_empty());
    let (code, _, err) = confkeep(&["status", "--phase", "sleepy"], &data).await;
    assert_eq!(code, Some(2), "clap refuses an unknown phase");
    assert!(err.contains("auth_blocked"), "{err}");

    let device = &blocked[0].device;
    let (code, out, _) = confkeep(&["history", device, "--json", "--limit", "2"], &data).await;
    assert_eq!(code, Some(0));
    let events: Vec<Envelope> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    let (_, out, _) = confkeep(&["history", device, "--after", "2"], &data).await;
    assert!(out.contains("auth_failed"), "{out}");
    let (code, _, err) = confkeep(&["history", "no-such-router"], &data).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("no-such-router"), "{err}");

    let collected = all
        .devices
        .iter()
        .find(|d| d.last_hash.is_some())
        .expect("a backup");
    let (code, out, err) = confkeep(&["diff", &collected.device, "--json"], &data).await;
    let diff: ConfigDiff =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(Some(&diff.new), collected.last_hash.as_ref());
    assert_eq!(code, Some(if diff.diff.is_empty() { 0 } else { 1 }));
    let (code, _, err) = confkeep(&["diff", &collected.device, "ffff0000"], &data).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("ffff0000"), "{err}");
    let (code, _, err) = confkeep(&["status"], &dir.path().join("nowhere")).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("no event log at"), "{err}");
}
