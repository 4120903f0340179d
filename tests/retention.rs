//! Retention of snapshot files on a data directory: a router with twenty
//! distinct configs collected over five days, `confkeep gc --dry-run` says
//! what would go and removes nothing, `gc --keep 3` leaves three, `gc
//! --keep-days` removes by age, and neither ever removes the latest, a file
//! the log does not know, or anything that is not a snapshot.

mod common;

use std::path::Path;

use confkeep::daemon::retention::GcReport;
use confkeep::domain::{DeviceId, Envelope, Event, Outcome, TenantId, Timestamp};
use confkeep::store::{StoreConfig, fold::sample_history};

async fn confkeep(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    common::confkeep_on(args, dir).await
}

fn collected(env: &Envelope) -> Option<&str> {
    match &env.event {
        Event::AttemptFinished {
            outcome: Outcome::Collected { sha256, .. },
            ..
        } => Some(sha256),
        _ => None,
    }
}

/// A data directory whose log holds `events` of one device's history and
/// whose snapshot files are the ones it collected; returns the hashes,
/// oldest first.
async fn data_dir(dir: &Path, events: u64) -> Vec<String> {
    let (device, tenant) = (
        DeviceId::parse("r1").unwrap(),
        TenantId::parse("acme").unwrap(),
    );
    // Ended well before now, so that --keep-days has old snapshots to find.
    let history = sample_history(&device, &tenant, Timestamp(1_700_000_000_000), events);
    let log = confkeep::store::open(&StoreConfig::Embedded {
        data_dir: dir.to_owned(),
    })
    .await
    .unwrap();
    log.append(&device, 0, history.clone()).await.unwrap();
    drop(log);
    let files = dir.join("snapshots/acme/r1");
    std::fs::create_dir_all(&files).unwrap();
    let hashes: Vec<String> = history
        .iter()
        .filter_map(collected)
        .map(String::from)
        .collect();
    for h in &hashes {
        std::fs::write(files.join(format!("{h}.rsc")), format!("# config {h}\n")).unwrap();
    }
    std::os::unix::fs::symlink(
        format!("{}.rsc", hashes.last().unwrap()),
        files.join("latest"),
    )
    .unwrap();
    // Not the log's: an operator's copy, and something that is no snapshot.
    std::fs::write(files.join(format!("{}.rsc", "e".repeat(64))), "copy").unwrap();
    std::fs::write(files.join("notes.txt"), "mine").unwrap();
    hashes
}

fn left(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("snapshots/acme/r1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn gc_keeps_n_and_the_latest_and_dry_run_removes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let hashes = data_dir(tmp.path(), 60).await;
    assert!(hashes.len() >= 10, "{} configs collected", hashes.len());
    let before = left(tmp.path());

    let (code, out, err) =
        confkeep(&["gc", "--keep", "3", "--dry-run", "--json"], tmp.path()).await;
    assert_eq!(code, Some(0), "{err}");
    let dry: GcReport = serde_json::from_str(&out).unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.removed.len(), hashes.len() - 3);
    assert_eq!(dry.not_in_log, 1);
    assert_eq!(left(tmp.path()), before, "a dry run removes nothing");

    let (code, out, err) = confkeep(&["gc", "--keep", "3"], tmp.path()).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("removed {} snapshots", hashes.len() - 3)),
        "{out}"
    );
    let newest: Vec<String> = hashes
        .iter()
        .rev()
        .take(3)
        .map(|h| format!("{h}.rsc"))
        .collect();
    let kept = left(tmp.path());
    for name in &newest {
        assert!(kept.contains(name), "{name} kept: {kept:?}");
    }
    assert!(
        kept.contains(&format!("{}.rsc", "e".repeat(64))),
        "not the log's: kept"
    );
    assert!(kept.contains(&"notes.txt".to_owned()) && kept.contains(&"latest".to_owned()));
    assert_eq!(kept.len(), 3 + 3);

    // Everything is years old: by age alone only the latest stays.
    let (code, out, _) = confkeep(&["gc", "--keep-days", "30", "--json"], tmp.path()).await;
    assert_eq!(code, Some(0));
    let aged: GcReport = serde_json::from_str(&out).unwrap();
    assert_eq!(aged.removed.len(), 2);
    let kept = left(tmp.path());
    assert!(
        kept.contains(&format!("{}.rsc", hashes.last().unwrap())),
        "the latest stays"
    );

    let (code, _, err) = confkeep(&["gc", "--keep", "0"], tmp.path()).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("keep = 0"), "{err}");
    let (code, _, err) = confkeep(&["gc"], tmp.path()).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("--keep"), "{err}");
}
