//! The operator's first commands, run as the processes operators run:
//! `confkeep collect` (one backup to stdout, the exit code says the failure
//! kind) against the simulated fleet, and `confkeep demo` (a short run that
//! must end with the summary, an audit trail and where the snapshots are).

use std::process::Output;

use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimDevice, SimFleet, SimFleetHandle};

async fn fleet(faults: &[(usize, Fault)]) -> SimFleetHandle {
    let mut spec = FleetSpec::generated(3, 0xC0_11EC);
    for (i, f) in faults {
        spec.add_fault(*i, f.clone());
    }
    SimFleet::start(spec).await.expect("the fleet starts")
}

async fn collect(device: &SimDevice, extra: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args(["collect", "--host"])
        .arg(device.addr.ip().to_string())
        .args(["--port", &device.addr.port().to_string()])
        .args(["--user", &device.user])
        .args([
            "--password-env",
            "CONFKEEP_TEST_ROUTER_PW",
            "--timeout",
            "5",
        ])
        .args(extra)
        .env("CONFKEEP_TEST_ROUTER_PW", &device.password)
        .output()
        .await
        .expect("confkeep collect runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn collect_prints_the_normalized_export_and_says_hash_and_key() {
    let fleet = fleet(&[]).await;
    let device = &fleet.devices()[0];
    let out = collect(device, &[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (normalized, hash) =
        confkeep::domain::normalize::normalized_hash(&device.export_text_at(0));
    assert_eq!(text(&out.stdout), normalized);
    assert_eq!(hash, device.expected_hash());
    assert!(stderr.contains(&format!("sha256: {hash}")), "{stderr}");
    assert!(
        stderr.contains(&format!("host key: {}", device.host_key_fingerprint)),
        "{stderr}"
    );
    assert!(!stderr.contains(&device.password), "{stderr}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn collect_exit_codes_name_the_failure_kind() {
    let fleet = fleet(&[
        (0, Fault::WrongPassword),
        (2, Fault::Garbage { bytes: 300 }),
    ])
    .await;
    let [wrong_pw, healthy, garbage] = fleet.devices() else {
        panic!("three devices")
    };

    let out = collect(wrong_pw, &[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "auth_failed: {stderr}");
    assert!(stderr.contains("auth_failed"), "{stderr}");
    assert!(out.stdout.is_empty(), "no export on a failure");

    let out = collect(healthy, &["--known-host-key", "SHA256:AAAAnotthekey"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "host_key_mismatch: {stderr}");
    assert!(
        stderr.contains(&format!("host key: {}", healthy.host_key_fingerprint)),
        "the presented key is shown: {stderr}"
    );

    let out = collect(garbage, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(16),
        "invalid_output: {}",
        text(&out.stderr)
    );

    // A port nobody listens on: refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut refused = healthy.clone();
    refused.addr.set_port(port);
    let out = collect(&refused, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(13),
        "connection_refused: {}",
        text(&out.stderr)
    );

    // The password variable is not set: a bad argument, named.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args(["collect", "--host", "127.0.0.1", "--user", "u"])
        .args(["--password-env", "CONFKEEP_TEST_SURELY_UNSET"])
        .env_remove("CONFKEEP_TEST_SURELY_UNSET")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("CONFKEEP_TEST_SURELY_UNSET"));
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_short_demo_ends_with_the_summary_an_audit_trail_and_the_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args(["demo", "--seconds", "8", "--devices", "12", "--data-dir"])
        .arg(dir.path())
        .output()
        .await
        .expect("confkeep demo runs");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Fleet summary (12 routers"), "{stdout}");
    // The router with the wrong password is blocked, never retried.
    assert!(stdout.contains("auth-blocked"), "{stdout}");
    assert!(stdout.contains("Audit trail of"), "{stdout}");
    assert!(
        stdout.contains("Snapshots (content-addressed, mode 0600)"),
        "{stdout}"
    );
    let snapshots = dir.path().join("snapshots");
    let mut files = 0;
    for tenant in std::fs::read_dir(&snapshots).unwrap() {
        for device in std::fs::read_dir(tenant.unwrap().path()).unwrap() {
            for f in std::fs::read_dir(device.unwrap().path()).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "rsc") {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&f).unwrap().permissions().mode();
                    assert_eq!(mode & 0o777, 0o600, "{}", f.display());
                    files += 1;
                }
            }
        }
    }
    assert!(files >= 5, "only {files} snapshots after the demo");
}
