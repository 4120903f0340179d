//! The simulated RouterOS fleet, exercised with a plain russh client.
//!
//! No external server: each test starts its own fleet in-process on
//! ephemeral loopback ports, and every wait is bounded by a timeout so a
//! misbehaving device fails the test instead of hanging it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use confkeep::domain::normalize;
use confkeep::testbed::sim_fleet::{
    Fault, FleetSpec, SimClock, SimDevice, SimFleet, SimFleetHandle,
};
use russh::client;
use russh::keys::HashAlg;
use russh::{ChannelMsg, Disconnect};

/// What one exec returned.
#[derive(Debug, Default)]
struct Outcome {
    stdout: Vec<u8>,
    exit_status: Option<u32>,
    eof: bool,
}

struct Client {
    presented: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key {
            *self.presented.lock().unwrap() = Some(key.fingerprint(HashAlg::Sha256).to_string());
        }
        Ok(true)
    }
}

fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        window_size: 2 * 1024 * 1024,
        nodelay: true,
        ..Default::default()
    })
}

/// Connect and authenticate; returns the session, the presented fingerprint
/// and whether the password was accepted.
async fn login(
    device: &SimDevice,
    password: &str,
) -> Result<(client::Handle<Client>, String, bool), russh::Error> {
    let presented = Arc::new(Mutex::new(None));
    let handler = Client {
        presented: presented.clone(),
    };
    let mut session = client::connect(client_config(), device.addr, handler).await?;
    let auth = session
        .authenticate_password(device.user.clone(), password)
        .await?;
    let fp = presented.lock().unwrap().clone().unwrap_or_default();
    Ok((session, fp, auth.success()))
}

async fn exec(
    session: &client::Handle<Client>,
    command: &str,
    cap: usize,
) -> Result<Outcome, russh::Error> {
    let mut channel = session.channel_open_session().await?;
    channel.exec(true, command).await?;
    let mut out = Outcome::default();
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => {
                out.stdout.extend_from_slice(&data);
                if out.stdout.len() > cap {
                    break;
                }
            }
            ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
            ChannelMsg::Eof => out.eof = true,
            _ => {}
        }
    }
    Ok(out)
}

/// Log in with the listed password and run `command`, all within `limit`.
async fn collect(device: &SimDevice, command: &str, limit: Duration) -> Outcome {
    tokio::time::timeout(limit, async {
        let (session, _, ok) = login(device, &device.password).await.expect("login");
        assert!(ok, "{}: password rejected", device.id);
        let out = exec(&session, command, 64 << 20).await.expect("exec");
        let _ = session
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        out
    })
    .await
    .unwrap_or_else(|_| panic!("{}: no answer within {limit:?}", device.id))
}

async fn fleet(count: usize, seed: u64, faults: &[(usize, Fault)]) -> SimFleetHandle {
    let mut spec = FleetSpec::generated(count, seed);
    for (i, f) in faults {
        spec.add_fault(*i, f.clone());
    }
    SimFleet::start(spec).await.expect("fleet starts")
}

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_good_device_serves_an_export_whose_hash_is_stable() {
    let mut spec = FleetSpec::generated(2, 101);
    // Each export printed 61 minutes after the previous one: other header
    // time, other volatile comments, same configuration.
    spec.clock = SimClock::Stepped {
        start_millis: 1_700_000_000_000,
        step_millis: 61 * 60 * 1000,
    };
    let fleet = SimFleet::start(spec).await.unwrap();
    let device = &fleet.devices()[0];
    let first = collect(device, "/export show-sensitive", LIMIT).await;
    let second = collect(device, "/export show-sensitive", LIMIT).await;
    for out in [&first, &second] {
        assert_eq!(out.exit_status, Some(0));
        assert!(out.eof);
        let text = normalize::check_export(&out.stdout).expect("an export");
        let header = normalize::find_header(text).expect("a header");
        assert_eq!(header.version, device.version);
        assert_eq!(normalize::normalized_hash(text).1, device.expected_hash());
    }
    assert_ne!(first.stdout, second.stdout, "the header time moved on");
    let header = |out: &Outcome| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(
        header(&first).starts_with("# 2023-11-14 22:13:20 by RouterOS ")
            || header(&first).starts_with("# nov/14/2023 22:13:20 by RouterOS "),
        "{}",
        header(&first)
    );
    assert_eq!(device.connections(), 2);
    fleet.shutdown().await;
}

#[tokio::test]
async fn the_listed_fingerprint_is_the_presented_one() {
    let fleet = fleet(3, 102, &[]).await;
    for device in fleet.devices() {
        let (session, presented, ok) = login(device, &device.password).await.unwrap();
        assert!(ok);
        assert_eq!(presented, device.host_key_fingerprint);
        drop(session);
    }
    let fps: std::collections::BTreeSet<_> = fleet
        .devices()
        .iter()
        .map(|d| d.host_key_fingerprint.clone())
        .collect();
    assert_eq!(fps.len(), 3, "each device has its own host key");
}

#[tokio::test]
async fn v7_without_show_sensitive_hides_secrets() {
    let fleet = fleet(1, 103, &[]).await;
    let device = &fleet.devices()[0];
    let shown = collect(device, "/export show-sensitive", LIMIT).await;
    let hidden = collect(device, "/export", LIMIT).await;
    let shown = String::from_utf8(shown.stdout).unwrap();
    let hidden = String::from_utf8(hidden.stdout).unwrap();
    assert!(shown.contains("password="));
    assert!(!hidden.contains("password="));
    assert_eq!(
        normalize::normalized_hash(&hidden).1,
        normalize::normalized_hash(&device.output_at("/export", 0)).1
    );
}

#[tokio::test]
async fn wrong_password_is_rejected_quickly_and_only_password_is_offered() {
    let fleet = fleet(2, 104, &[(1, Fault::WrongPassword)]).await;
    let bad = &fleet.devices()[1];
    let (mut session, _, ok) = tokio::time::timeout(LIMIT, login(bad, &bad.password))
        .await
        .unwrap()
        .unwrap();
    assert!(!ok, "the listed password must be refused");
    let again = session
        .authenticate_password(bad.user.clone(), "admin")
        .await
        .unwrap();
    match again {
        russh::client::AuthResult::Failure {
            remaining_methods, ..
        } => {
            let names: Vec<&str> = remaining_methods.iter().map(|m| m.into()).collect();
            assert_eq!(names, vec!["password"]);
        }
        russh::client::AuthResult::Success => panic!("a guessed password was accepted"),
    }
    // The good device still accepts its password.
    let good = &fleet.devices()[0];
    let (_, _, ok) = login(good, &good.password).await.unwrap();
    assert!(ok);
}

#[tokio::test]
async fn routeros6_answers_show_sensitive_with_a_syntax_error() {
    let fleet = fleet(1, 105, &[(0, Fault::RouterOs6)]).await;
    let device = &fleet.devices()[0];
    assert!(device.version.starts_with("6."));
    let refused = collect(device, "/export show-sensitive", LIMIT).await;
    assert_eq!(
        String::from_utf8(refused.stdout).unwrap().trim_end(),
        "expected end of command (line 1 column 9)"
    );
    assert_eq!(
        refused.exit_status,
        Some(0),
        "RouterOS reports errors as text"
    );
    let plain = collect(device, "/export", LIMIT).await;
    let text = normalize::check_export(&plain.stdout).unwrap();
    assert_eq!(normalize::find_header(text).unwrap().major, 6);
    assert!(text.contains("password="), "v6 /export shows secrets");
    assert_eq!(normalize::normalized_hash(text).1, device.expected_hash());
}

#[tokio::test]
async fn host_key_replaced_after_n_connections() {
    let fleet = fleet(1, 106, &[(0, Fault::HostKeyReplaced { after: 1 })]).await;
    let device = &fleet.devices()[0];
    let replacement = device.replacement_host_key_fingerprint.clone().unwrap();
    assert_ne!(replacement, device.host_key_fingerprint);
    let (_, first, _) = login(device, &device.password).await.unwrap();
    let (_, second, _) = login(device, &device.password).await.unwrap();
    assert_eq!(first, device.host_key_fingerprint);
    assert_eq!(second, replacement);
}

#[tokio::test]
async fn silent_after_accept_never_sends_a_banner() {
    let fleet = fleet(1, 107, &[(0, Fault::SilentAfterAccept)]).await;
    let device = &fleet.devices()[0];
    let mut tcp = tokio::net::TcpStream::connect(device.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::io::AsyncReadExt::read(&mut tcp, &mut buf),
    )
    .await;
    assert!(read.is_err(), "the device must stay silent: {read:?}");
    // An SSH client hangs in the handshake until its own deadline.
    let login = tokio::time::timeout(Duration::from_millis(300), login(device, "x")).await;
    assert!(login.is_err());
}

#[tokio::test]
async fn silent_mid_output_stops_after_the_cut() {
    let fleet = fleet(1, 108, &[(0, Fault::SilentMidOutput { after_bytes: 1000 })]).await;
    let device = &fleet.devices()[0];
    let (session, _, ok) = login(device, &device.password).await.unwrap();
    assert!(ok);
    let mut channel = session.channel_open_session().await.unwrap();
    channel.exec(true, "/export show-sensitive").await.unwrap();
    let mut got = Vec::new();
    let wait = tokio::time::timeout(Duration::from_millis(800), async {
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => got.extend_from_slice(&data),
                other @ (ChannelMsg::ExitStatus { .. } | ChannelMsg::Eof | ChannelMsg::Close) => {
                    return Some(other);
                }
                _ => {}
            }
        }
        None
    })
    .await;
    assert!(
        wait.is_err(),
        "the channel must stay open and silent: {wait:?}"
    );
    assert_eq!(got.len(), 1000);
    assert!(normalize::find_header(std::str::from_utf8(&got).unwrap()).is_some());
}

#[tokio::test]
async fn close_before_exit_status_sends_eof_without_status() {
    let fleet = fleet(1, 109, &[(0, Fault::CloseBeforeExitStatus)]).await;
    let device = &fleet.devices()[0];
    let out = collect(device, "/export show-sensitive", LIMIT).await;
    assert_eq!(out.exit_status, None);
    assert!(out.eof);
    assert!(normalize::check_export(&out.stdout).is_ok());
}

#[tokio::test]
async fn oversized_output_is_a_valid_export_beyond_the_cap() {
    let total = 20 * 1024 * 1024;
    let fleet = fleet(1, 110, &[(0, Fault::Oversized { bytes: total })]).await;
    let device = &fleet.devices()[0];
    // Read it all once (to check the size), then check a capped reader can stop early.
    let out = collect(device, "/export show-sensitive", Duration::from_secs(60)).await;
    assert!(out.stdout.len() as u64 >= total);
    assert!((out.stdout.len() as u64) < total + 1024);
    assert_eq!(out.exit_status, Some(0));
    let text = normalize::check_export(&out.stdout).unwrap();
    assert!(normalize::find_header(text).is_some());

    let (session, _, _) = login(device, &device.password).await.unwrap();
    let capped = exec(&session, "/export show-sensitive", 16 << 20)
        .await
        .unwrap();
    assert!(capped.stdout.len() > 16 << 20);
    assert_eq!(capped.exit_status, None, "stopped reading before the end");
}

#[tokio::test]
async fn slow_output_trickles() {
    let fleet = fleet(
        1,
        111,
        &[(
            0,
            Fault::SlowOutput {
                bytes_per_sec: 2000,
            },
        )],
    )
    .await;
    let device = &fleet.devices()[0];
    let (session, _, _) = login(device, &device.password).await.unwrap();
    let mut channel = session.channel_open_session().await.unwrap();
    channel.exec(true, "/export show-sensitive").await.unwrap();
    let mut got = 0usize;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(msg) = channel.wait().await {
            if let ChannelMsg::Data { data } = msg {
                got += data.len();
            }
        }
    })
    .await;
    // ~2000 bytes in a second (200 per 100 ms), far from the whole export.
    assert!(got > 0 && got <= 2400, "{got} bytes in a second");
    assert!(device.export_text_at(0).len() > 4000);
}

#[tokio::test]
async fn refused_device_has_a_closed_port() {
    let fleet = fleet(2, 112, &[(1, Fault::ConnectionRefused)]).await;
    let device = &fleet.devices()[1];
    let err = tokio::net::TcpStream::connect(device.addr)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn garbage_output_is_not_an_export() {
    let fleet = fleet(1, 113, &[(0, Fault::Garbage { bytes: 5000 })]).await;
    let device = &fleet.devices()[0];
    let out = collect(device, "/export show-sensitive", LIMIT).await;
    assert_eq!(out.stdout.len(), 5000);
    assert_eq!(out.exit_status, Some(0));
    assert!(matches!(
        normalize::check_export(&out.stdout),
        Err(normalize::NotAnExport::Binary { .. })
    ));
}

#[tokio::test]
async fn flaky_device_fails_some_connections_deterministically() {
    let fleet = fleet(1, 114, &[(0, Fault::Flaky { ratio: 0.5 })]).await;
    let device = &fleet.devices()[0];
    let mut pattern = Vec::new();
    for _ in 0..16 {
        let ok = tokio::time::timeout(LIMIT, login(device, &device.password))
            .await
            .expect("a flaky device answers or resets, never hangs")
            .map(|(_, _, ok)| ok)
            .unwrap_or(false);
        pattern.push(ok);
    }
    let failures = pattern.iter().filter(|ok| !**ok).count();
    assert!((2..=14).contains(&failures), "{pattern:?}");
    fleet.shutdown().await;

    // Same seed, same fault: the same connections fail.
    let again = self::fleet(1, 114, &[(0, Fault::Flaky { ratio: 0.5 })]).await;
    let device = &again.devices()[0];
    let mut replay = Vec::new();
    for _ in 0..16 {
        let ok = login(device, &device.password)
            .await
            .map(|(_, _, ok)| ok)
            .unwrap_or(false);
        replay.push(ok);
    }
    assert_eq!(pattern, replay);
}

#[tokio::test]
async fn inventory_lists_every_device() {
    let mut spec = FleetSpec::generated(3, 115);
    spec.add_fault(2, Fault::WrongPassword);
    spec.add_fault(1, Fault::LegacyAlgorithms);
    let fleet = SimFleet::start(spec).await.unwrap();
    let toml_text = fleet.inventory_toml();
    let parsed: toml::Value = toml::from_str(&toml_text).unwrap();
    let devices = parsed["device"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    for (row, d) in devices.iter().zip(fleet.devices()) {
        assert_eq!(row["id"].as_str(), Some(d.id.as_str()));
        assert_eq!(row["port"].as_integer(), Some(i64::from(d.addr.port())));
        assert_eq!(row["password"].as_str(), Some(d.password.as_str()));
        assert_eq!(row["host"].as_str(), Some("127.0.0.1"));
    }
    let tags = devices[2]["tags"].as_array().unwrap();
    assert!(
        tags.iter()
            .any(|t| t.as_str() == Some("fault-wrong-password"))
    );

    // The daemon's own inventory parser reads it as written.
    let inventory = confkeep::effects::inventory::Inventory::parse(
        std::path::Path::new("sim.toml"),
        &toml_text,
    )
    .expect("the daemon reads the sim inventory");
    assert_eq!(inventory.devices.len(), 3);
    for d in fleet.devices() {
        let row = inventory
            .devices
            .values()
            .find(|r| r.id.as_str() == d.id)
            .unwrap();
        assert_eq!(row.port, d.addr.port());
        assert_eq!(row.tenant.as_str(), d.tenant);
        assert_eq!(row.legacy_algorithms, d.has("legacy-algorithms"));
        let confkeep::effects::inventory::LoginSource::File { password, .. } = &row.login else {
            panic!("{}: not a file login", d.id);
        };
        assert_eq!(password.resolve().unwrap(), d.password);
    }
}

#[tokio::test]
async fn publickey_is_offered_and_accepted_only_where_configured() {
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&[7u8; 32]));
    let stranger = PrivateKey::from(Ed25519Keypair::from_seed(&[8u8; 32]));
    let mut spec = FleetSpec::generated(2, 116);
    spec.devices[0].authorized_keys = vec![key.public_key().clone()];
    let fleet = SimFleet::start(spec).await.unwrap();

    let methods = |r: russh::client::AuthResult| match r {
        russh::client::AuthResult::Failure {
            remaining_methods, ..
        } => remaining_methods
            .iter()
            .map(|m| <&str>::from(m).to_owned())
            .collect::<Vec<_>>(),
        russh::client::AuthResult::Success => vec!["<accepted>".to_owned()],
    };
    let with_key = &fleet.devices()[0];
    let (mut session, _, _) = login(with_key, "not-the-password").await.unwrap();
    let refused = session
        .authenticate_publickey(
            with_key.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(stranger.clone()), None),
        )
        .await
        .unwrap();
    assert_eq!(methods(refused), vec!["publickey", "password"]);
    let accepted = session
        .authenticate_publickey(
            with_key.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key.clone()), None),
        )
        .await
        .unwrap();
    assert!(accepted.success());
    let out = exec(&session, "/export show-sensitive", 1 << 20)
        .await
        .unwrap();
    let text = normalize::check_export(&out.stdout).unwrap();
    assert_eq!(normalize::normalized_hash(text).1, with_key.expected_hash());

    // A device without keys refuses any key and offers only passwords.
    let without = &fleet.devices()[1];
    let (mut session, _, _) = login(without, "not-the-password").await.unwrap();
    let refused = session
        .authenticate_publickey(
            without.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), None),
        )
        .await
        .unwrap();
    assert_eq!(methods(refused), vec!["password"]);
}

#[tokio::test]
async fn sim_devices_command_prints_the_inventory_and_serves_it() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args([
            "sim-devices",
            "--count",
            "2",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "117",
            "--faults",
            "v6=2",
            "--print-inventory",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut inventory = String::new();
    let mut tags_seen = 0;
    while tags_seen < 2 {
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("inventory within the limit")
            .unwrap()
            .expect("the command keeps serving after the inventory");
        tags_seen += usize::from(line.starts_with("tags = "));
        inventory.push_str(&line);
        inventory.push('\n');
    }
    let parsed: toml::Value = toml::from_str(&inventory).unwrap();
    let rows = parsed["device"].as_array().unwrap();
    assert_eq!(rows[1]["tags"].as_array().unwrap()[1].as_str(), Some("v6"));

    // The same seed in-process gives the same passwords and exports.
    let mut spec = FleetSpec::generated(2, 117);
    spec.add_fault(1, Fault::RouterOs6);
    let twin = SimFleet::start(spec).await.unwrap();
    for (row, twin) in rows.iter().zip(twin.devices()) {
        let mut served = twin.clone();
        served
            .addr
            .set_port(u16::try_from(row["port"].as_integer().unwrap()).unwrap());
        assert_eq!(row["password"].as_str(), Some(twin.password.as_str()));
        let command = if twin.version.starts_with("6.") {
            "/export"
        } else {
            "/export show-sensitive"
        };
        let out = collect(&served, command, LIMIT).await;
        let text = normalize::check_export(&out.stdout).unwrap();
        assert_eq!(normalize::normalized_hash(text).1, twin.expected_hash());
    }
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sim_devices_command_names_a_bad_fault_token() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .args([
            "sim-devices",
            "--count",
            "3",
            "--faults",
            "silence=2;wrong-pasword=1",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"wrong-pasword=1\""), "{stderr}");
}

#[tokio::test]
async fn legacy_device_needs_legacy_algorithms() {
    use std::borrow::Cow;
    let fleet = fleet(1, 118, &[(0, Fault::LegacyAlgorithms)]).await;
    let device = &fleet.devices()[0];
    // A modern client finds no common key exchange.
    assert!(login(device, &device.password).await.is_err());

    let legacy = Arc::new(client::Config {
        preferred: russh::Preferred {
            kex: Cow::Owned(vec![russh::kex::DH_G14_SHA1]),
            key: Cow::Owned(vec![russh::keys::Algorithm::Rsa { hash: None }]),
            mac: Cow::Owned(vec![russh::mac::HMAC_SHA1]),
            ..Default::default()
        },
        ..Default::default()
    });
    let presented = Arc::new(Mutex::new(None));
    let handler = Client {
        presented: presented.clone(),
    };
    let mut session = client::connect(legacy, device.addr, handler).await.unwrap();
    assert!(
        session
            .authenticate_password(device.user.clone(), device.password.clone())
            .await
            .unwrap()
            .success()
    );
    assert_eq!(
        presented.lock().unwrap().as_deref(),
        Some(device.host_key_fingerprint.as_str())
    );
    let out = exec(&session, "/export show-sensitive", 1 << 20)
        .await
        .unwrap();
    let text = normalize::check_export(&out.stdout).unwrap();
    assert_eq!(normalize::normalized_hash(text).1, device.expected_hash());
}

#[tokio::test]
async fn faults_and_configuration_change_at_run_time() {
    let fleet = fleet(1, 119, &[(0, Fault::WrongPassword)]).await;
    let device = &fleet.devices()[0];
    let (_, _, ok) = login(device, &device.password).await.unwrap();
    assert!(!ok, "starts with a rotated password");

    // The operator fixes the password on the router.
    device.set_faults(vec![]);
    assert!(device.current_faults().is_empty());
    let before = collect(device, "/export show-sensitive", LIMIT).await;
    let before = normalize::normalized_hash(std::str::from_utf8(&before.stdout).unwrap()).1;
    assert_eq!(before, device.expected_hash());

    // Someone edits the configuration: the next backup hashes differently.
    assert_eq!(device.edit_config(), 1);
    let after = collect(device, "/export show-sensitive", LIMIT).await;
    let after = normalize::normalized_hash(std::str::from_utf8(&after.stdout).unwrap()).1;
    assert_ne!(after, before);
    assert_eq!(after, device.expected_hash());

    // The router is replaced: a new host key from now on.
    device.set_faults(vec![Fault::HostKeyReplaced { after: 0 }]);
    let (_, presented, _) = login(device, &device.password).await.unwrap();
    assert_eq!(
        Some(presented),
        device.replacement_host_key_fingerprint.clone()
    );
}

#[tokio::test]
async fn endless_banner_never_identifies() {
    let fleet = fleet(1, 120, &[(0, Fault::EndlessBanner)]).await;
    let device = &fleet.devices()[0];
    let mut tcp = tokio::net::TcpStream::connect(device.addr).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while seen.len() < 1 << 20 {
        let n = tokio::time::timeout(LIMIT, tokio::io::AsyncReadExt::read(&mut tcp, &mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the banner goes on");
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(seen).unwrap();
    assert!(!text.contains("SSH-"), "never an SSH identification");
    assert!(text.starts_with("MikroTik RouterOS: "));
}
