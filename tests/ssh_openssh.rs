//! The collector against a real OpenSSH sshd (started by `scripts/test`).
//!
//! The sshd's `ForceCommand` is `scripts/sshd-force-command`: it answers from
//! files under `$SSHD_DATA_DIR/by-source/<client address>/`. Tests run in
//! parallel against the one sshd, so each test connects from its own
//! loopback source address (`127.0.9.N`) and writes its own folder.
//!
//! Needs `SSHD_HOST SSHD_PORT SSHD_USER SSHD_PASSWORD SSHD_HOST_KEY_FP
//! SSHD_DATA_DIR`; fails (never skips) without them.

mod common;
use common::fixtures_dir;

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use confkeep::domain::FailureKind;
use confkeep::domain::normalize;
use confkeep::effects::ssh::{CollectRequest, Collector, ExportCommand, Stage};

struct Sshd {
    host: String,
    port: u16,
    user: String,
    password: String,
    host_key: String,
    data: PathBuf,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with ./scripts/test, or start an sshd and set SSHD_HOST SSHD_PORT SSHD_USER SSHD_PASSWORD SSHD_HOST_KEY_FP SSHD_DATA_DIR")
    })
}

fn sshd() -> Sshd {
    Sshd {
        host: env("SSHD_HOST"),
        port: env("SSHD_PORT")
            .parse()
            .expect("SSHD_PORT is a port number"),
        user: env("SSHD_USER"),
        password: env("SSHD_PASSWORD"),
        host_key: env("SSHD_HOST_KEY_FP"),
        data: PathBuf::from(env("SSHD_DATA_DIR")),
    }
}

/// One test's device: a source address and the folder the force-command
/// answers from for it.
struct Device {
    sshd: Sshd,
    source: IpAddr,
    dir: PathBuf,
}

impl Device {
    /// `n` must be unique per test in this file.
    fn new(n: u8) -> Device {
        let sshd = sshd();
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 9, n));
        let dir = sshd.data.join("by-source").join(source.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the device folder");
        for d in [sshd.data.join("by-source"), dir.clone()] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.join("requests.log");
        std::fs::write(&log, "").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
        Device { sshd, source, dir }
    }

    /// What the device answers to a command key (`show-sensitive`,
    /// `export`): `part` is `stdout`, `stderr` or `exit`.
    fn answer(&self, key: &str, part: &str, content: impl AsRef<[u8]>) {
        let path = self.dir.join(format!("{key}.{part}"));
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    fn clear(&self) {
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n != "requests.log") {
                std::fs::remove_file(path).unwrap();
            }
        }
    }

    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("requests.log"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn request(&self) -> CollectRequest {
        CollectRequest {
            trusted_host_key: Some(self.sshd.host_key.clone()),
            timeout: Duration::from_secs(20),
            source_address: Some(self.source),
            ..CollectRequest::new(
                &self.sshd.host,
                self.sshd.port,
                &self.sshd.user,
                &self.sshd.password,
            )
        }
    }
}

const SECRET: &str = "s3cr3t-Pa55";

fn v7_export() -> String {
    format!(
        "# 2024-06-19 14:14:47 by RouterOS 7.15.3\n# software id = ABCD-1234\n#\n/interface bridge\nadd name=bridge1\n/ip address\nadd address=192.0.2.1/24 interface=bridge1\n/user\nadd name=backup password={SECRET}\n/system identity\nset name=r1\n"
    )
}

fn v6_export() -> String {
    format!(
        "# jun/12/2023 16:40:52 by RouterOS 6.49.7\n# software id = ABCD-1234\n#\n/interface wireless security-profiles\nset [ find default=yes ] supplicant-identity=MikroTik wpa2-pre-shared-key=\\\n    {SECRET}\n/system identity\nset name=r6\n"
    )
}

#[tokio::test]
async fn a_real_openssh_backup_round_trip() {
    let device = Device::new(1);
    let export = v7_export();
    device.answer("show-sensitive", "stdout", &export);
    let collected = Collector::new()
        .collect(&device.request())
        .await
        .expect("collected");
    let (normalized, hash) = normalize::normalized_hash(&export);
    assert_eq!(collected.sha256, hash);
    assert_eq!(collected.normalized, normalized);
    assert_eq!(collected.export, export);
    assert_eq!(collected.host_key, device.sshd.host_key);
    assert_eq!(collected.routeros_version, "7.15.3");
    assert_eq!(collected.routeros_major, 7);
    assert_eq!(collected.command, ExportCommand::ShowSensitive);
    assert!(!collected.retried);
    assert_eq!(collected.exit_status, 0);
    assert_eq!(device.requests(), ["/export show-sensitive"]);
}

#[tokio::test]
async fn without_a_trusted_key_the_presented_one_is_reported() {
    let device = Device::new(2);
    device.answer("show-sensitive", "stdout", v7_export());
    let request = CollectRequest {
        trusted_host_key: None,
        ..device.request()
    };
    let collected = Collector::new().collect(&request).await.expect("collected");
    assert_eq!(collected.host_key, device.sshd.host_key);
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed() {
    let device = Device::new(3);
    device.answer("show-sensitive", "stdout", v7_export());
    let request = CollectRequest {
        password: Some("not-the-password".into()),
        ..device.request()
    };
    let failure = Collector::new().collect(&request).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::AuthFailed);
    assert_eq!(failure.stage, Stage::Auth);
    assert_eq!(
        failure.host_key.as_deref(),
        Some(device.sshd.host_key.as_str())
    );
    assert!(!failure.message.contains("not-the-password"));
    assert!(device.requests().is_empty());
}

#[tokio::test]
async fn a_wrong_trusted_key_stops_before_authentication() {
    let device = Device::new(4);
    device.answer("show-sensitive", "stdout", v7_export());
    let request = CollectRequest {
        trusted_host_key: Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
        ..device.request()
    };
    let failure = Collector::new().collect(&request).await.unwrap_err();
    assert_eq!(
        failure.kind,
        FailureKind::HostKeyMismatch {
            presented: device.sshd.host_key.clone()
        }
    );
    // Key exchange is the stage before authentication: no password went out.
    assert_eq!(failure.stage, Stage::KeyExchange);
    assert!(device.requests().is_empty());
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let device = Device::new(5);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let request = CollectRequest {
        port: closed,
        ..device.request()
    };
    let failure = Collector::new().collect(&request).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::ConnectionRefused);
    assert_eq!(failure.stage, Stage::Connect);
    assert_eq!(failure.host_key, None);
}

#[tokio::test]
async fn routeros_6_is_asked_again_with_plain_export_and_remembered() {
    let device = Device::new(6);
    device.answer(
        "show-sensitive",
        "stdout",
        "expected end of command (line 1 column 9)\n",
    );
    let export = v6_export();
    device.answer("export", "stdout", &export);
    let collector = Collector::new();
    let collected = collector
        .collect(&device.request())
        .await
        .expect("collected");
    assert_eq!(collected.command, ExportCommand::Plain);
    assert!(collected.retried);
    assert_eq!(collected.routeros_major, 6);
    assert_eq!(collected.sha256, normalize::normalized_hash(&export).1);
    assert_eq!(device.requests(), ["/export show-sensitive", "/export"]);

    // The next attempt, told the major version, asks right the first time.
    let request = CollectRequest {
        routeros_major: Some(collected.routeros_major),
        ..device.request()
    };
    let again = collector.collect(&request).await.expect("collected");
    assert!(!again.retried);
    assert_eq!(again.sha256, collected.sha256);
    assert_eq!(
        device.requests(),
        ["/export show-sensitive", "/export", "/export"]
    );
}

#[tokio::test]
async fn a_routeros_6_failure_still_reports_the_major_version() {
    let device = Device::new(7);
    device.answer(
        "show-sensitive",
        "stdout",
        "expected end of command (line 1 column 9)\n",
    );
    device.answer(
        "export",
        "stdout",
        "expected end of command (line 1 column 1)\n",
    );
    let failure = Collector::new()
        .collect(&device.request())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidOutput);
    assert_eq!(failure.routeros_major, Some(6));
    assert!(
        failure.message.contains("RouterOS 6"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn a_wrong_hint_of_6_on_routeros_7_asks_again_with_show_sensitive() {
    let device = Device::new(8);
    let hidden = v7_export().replace(SECRET, "");
    device.answer("export", "stdout", &hidden);
    let full = v7_export();
    device.answer("show-sensitive", "stdout", &full);
    let request = CollectRequest {
        routeros_major: Some(6),
        ..device.request()
    };
    let collected = Collector::new().collect(&request).await.expect("collected");
    assert_eq!(collected.command, ExportCommand::ShowSensitive);
    assert!(collected.retried);
    assert_eq!(collected.sha256, normalize::normalized_hash(&full).1);
    assert_eq!(device.requests(), ["/export", "/export show-sensitive"]);
}

#[tokio::test]
async fn bad_answers_are_classified_and_never_quote_secrets() {
    let device = Device::new(9);
    let collector = Collector::new();
    let export = v7_export();
    let cut = &export[..export.len() / 2];
    // (what, the device's answer by part, the expected kind)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, FailureKind);
    let cases: Vec<Case> = vec![
        (
            "non-zero exit status",
            vec![("stdout", export.clone()), ("exit", "1".into())],
            FailureKind::InvalidOutput,
        ),
        (
            "killed before the exit status",
            vec![("stdout", cut.to_owned()), ("exit", "none".into())],
            FailureKind::Truncated,
        ),
        (
            "a RouterOS error after the export",
            vec![(
                "stdout",
                format!("{export}bad command name foo (line 1 column 1)\n"),
            )],
            FailureKind::InvalidOutput,
        ),
        (
            "an error on stderr",
            vec![
                ("stdout", export.clone()),
                ("stderr", "Error: something failed\n".into()),
            ],
            FailureKind::InvalidOutput,
        ),
        (
            "not an export",
            vec![("stdout", format!("welcome password={SECRET}\n"))],
            FailureKind::InvalidOutput,
        ),
        (
            "binary",
            vec![("stdout", "\u{1}\u{2}\u{3}binary\n".into())],
            FailureKind::InvalidOutput,
        ),
        (
            "config without the header",
            vec![("stdout", format!("/user\nadd name=x password={SECRET}\n"))],
            FailureKind::InvalidOutput,
        ),
        (
            "empty",
            vec![("stdout", String::new())],
            FailureKind::InvalidOutput,
        ),
    ];
    for (what, answers, kind) in cases {
        device.clear();
        for (part, content) in answers {
            device.answer("show-sensitive", part, content);
        }
        let failure = collector.collect(&device.request()).await.unwrap_err();
        assert_eq!(failure.kind, kind, "{what}: {}", failure.message);
        assert!(
            !failure.message.contains(SECRET),
            "{what}: {}",
            failure.message
        );
        assert!(failure.message.len() < 400, "{what}: {}", failure.message);
    }
}

#[tokio::test]
async fn output_past_the_cap_is_too_large() {
    let device = Device::new(10);
    device.answer("show-sensitive", "stdout", v7_export().repeat(100));
    let request = CollectRequest {
        output_cap: 4096,
        ..device.request()
    };
    let failure = Collector::new().collect(&request).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::TooLarge);
    assert_eq!(failure.stage, Stage::Read);
}

#[tokio::test]
async fn every_real_fixture_collects_through_sshd_with_its_hash() {
    let device = Device::new(11);
    let Some(dir) = fixtures_dir() else {
        eprintln!("no fixtures folder: 0 real exports checked");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rsc"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .rsc file in {}", dir.display());
    let collector = Collector::new();
    let mut checked = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(file).unwrap();
        let text = normalize::check_export(&bytes).expect("a fixture is an export");
        let header = normalize::find_header(text).expect("a fixture has a header");
        device.clear();
        let mut expected_requests = device.requests();
        if header.major <= 6 {
            // Served as RouterOS 6 would: the retry path.
            device.answer(
                "show-sensitive",
                "stdout",
                "expected end of command (line 1 column 9)\n",
            );
            device.answer("export", "stdout", &bytes);
            expected_requests.extend(["/export show-sensitive".into(), "/export".into()]);
        } else {
            device.answer("show-sensitive", "stdout", &bytes);
            expected_requests.push("/export show-sensitive".into());
        }
        let collected = match collector.collect(&device.request()).await {
            Ok(c) => c,
            Err(failure) => panic!("{name}: {failure}"),
        };
        assert_eq!(
            collected.sha256,
            normalize::normalized_hash(text).1,
            "{name}"
        );
        assert_eq!(collected.routeros_version, header.version, "{name}");
        assert_eq!(collected.routeros_major, header.major, "{name}");
        assert_eq!(device.requests(), expected_requests, "{name}");
        checked += 1;
    }
    eprintln!(
        "{checked} real RouterOS exports collected through OpenSSH from {}",
        dir.display()
    );
    assert_eq!(checked, files.len());
}
