//! Secrets stay secret: the daemon runs end to end as a real process
//! (embedded, then JetStream) with known router passwords — inline, from a
//! variable, from a file — and a known API token, against the simulated
//! fleet: a good login, a refused one, a swapped host key accepted by an
//! operator. Then every log line it wrote, every event in its log, every
//! HTTP answer it gave and every snapshot it published is searched for
//! those secrets: zero hits. In embedded mode the data directory is 0700
//! and the log and snapshot files 0600.

mod common;
use common::{free_port, until_api, write_private};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use confkeep::cli::http::ApiClient;
use confkeep::domain::PhaseKind;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet, SimFleetHandle, inventory_toml};

const TOKEN: &str = "secret-scan-token-Zq8Lr2Vx9Kp4Wm7N";

/// The fleet: two good routers, one whose password is wrong, one whose key
/// is swapped after its first backup.
async fn fleet() -> SimFleetHandle {
    let mut spec = FleetSpec::generated(4, 99);
    spec.add_fault(2, Fault::WrongPassword);
    spec.add_fault(3, Fault::HostKeyReplaced { after: 1 });
    SimFleet::start(spec).await.unwrap()
}

/// An inventory where the passwords come in all three ways; returns the
/// variables the daemon needs.
fn inventory(fleet: &SimFleetHandle, dir: &Path) -> Vec<(String, String)> {
    let d = fleet.devices();
    let mut text = inventory_toml(d);
    let quoted = |pw: &str| format!("password = \"{pw}\"");
    text = text.replace(&quoted(&d[1].password), "password_env = \"CK_SECRET_PW\"");
    write_private(&dir.join("pw-3"), &format!("{}\n", d[2].password));
    text = text.replace(
        &quoted(&d[2].password),
        &format!("password_file = \"{}\"", dir.join("pw-3").display()),
    );
    write_private(&dir.join("inventory.toml"), &text);
    vec![("CK_SECRET_PW".into(), d[1].password.clone())]
}

fn secrets(fleet: &SimFleetHandle) -> Vec<String> {
    let mut s: Vec<String> = fleet.devices().iter().map(|d| d.password.clone()).collect();
    s.push(TOKEN.into());
    // The search itself finds them where they are meant to be.
    let inline = inventory_toml(fleet.devices()) + TOKEN;
    assert_eq!(hits(&s, "the inventory", inline.as_bytes()).len(), s.len());
    s
}

/// Every secret found in `haystack`, with where it was.
fn hits(secrets: &[String], what: &str, haystack: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(haystack);
    secrets
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .map(|s| format!("{what} holds a secret ({} characters)", s.len()))
        .collect()
}

/// Drive the daemon through login, refusal, key swap and acceptance;
/// returns every HTTP answer body.
async fn exercise(api: &str, fleet: &SimFleetHandle) -> Vec<(String, Vec<u8>)> {
    let d = fleet.devices();
    until_api(api, "every router settled", |s| {
        s.devices.len() == 4
            && s.devices
                .iter()
                .all(|r| r.last_success.is_some() || r.phase == PhaseKind::AuthBlocked)
    })
    .await;
    let operator = ApiClient::plain(api).with_token(TOKEN);
    let anonymous = ApiClient::plain(api);
    let mut answers = Vec::new();
    let mut keep = |what: String, body: bytes::Bytes| answers.push((what, body.to_vec()));
    let swapped = &d[3].id;
    let (code, body) = operator
        .call("POST", &format!("/v1/devices/{swapped}/trigger"), None)
        .await
        .unwrap();
    assert_eq!(code, 502, "{}", String::from_utf8_lossy(&body));
    keep(format!("trigger {swapped}"), body);
    let fp = d[3].replacement_host_key_fingerprint.clone().unwrap();
    let (code, body) = operator
        .call(
            "POST",
            &format!("/v1/devices/{swapped}/host-key/accept"),
            Some(serde_json::json!({ "fingerprint": fp })),
        )
        .await
        .unwrap();
    assert_eq!(code, 202);
    keep("accept".into(), body);
    let (code, body) = operator
        .call("POST", &format!("/v1/devices/{}/trigger", d[0].id), None)
        .await
        .unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    keep("trigger".into(), body);
    let (code, body) = anonymous
        .call(
            "POST",
            &format!("/v1/devices/{}/credentials-updated", d[2].id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(code, 401);
    keep("refused write".into(), body);
    let (code, body) = operator
        .call("POST", &format!("/v1/devices/{}/trigger", d[2].id), None)
        .await
        .unwrap();
    assert_eq!(code, 423, "{}", String::from_utf8_lossy(&body));
    keep("blocked trigger".into(), body);
    let mut reads = vec!["/v1/status".to_owned(), "/metrics".to_owned()];
    for dev in d {
        reads.push(format!("/v1/devices/{}", dev.id));
        reads.push(format!("/v1/devices/{}/history?limit=5000", dev.id));
    }
    for path in reads {
        let (code, body) = operator.call("GET", &path, None).await.unwrap();
        assert_eq!(code, 200, "{path}");
        keep(path, body);
    }
    answers
}

struct Run {
    dir: tempfile::TempDir,
    api: String,
    config: std::path::PathBuf,
    env: Vec<(String, String)>,
}

fn prepare(fleet: &SimFleetHandle, extra: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let env = inventory(fleet, dir.path());
    let port = free_port();
    let config = dir.path().join("confkeep.toml");
    std::fs::write(
        &config,
        format!(
            "node = \"secrets\"\ndata_dir = \"data\"\ninventory = \"inventory.toml\"\n\
             http_listen = \"127.0.0.1:{port}\"\ninventory_poll_secs = 0\n{extra}\n\
             [policy]\ninterval_secs = 3600\njitter_min_secs = 0\njitter_max_secs = 0\n\
             backoff_secs = [3600]\ncommand_timeout_secs = 10\n"
        ),
    )
    .unwrap();
    Run {
        dir,
        api: format!("http://127.0.0.1:{port}"),
        config,
        env,
    }
}

/// Run the daemon as a process through `exercise`; returns its output and
/// the HTTP answers.
async fn run_daemon(run: &Run, fleet: &SimFleetHandle) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let out = run.dir.path().join("daemon.out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_confkeep"))
        .arg("run")
        .arg("--config")
        .arg(&run.config)
        // As much as an operator could ask for.
        .env("RUST_LOG", "debug")
        .env("CONFKEEP_API_TOKEN", TOKEN)
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new().append(true).open(&out).unwrap(),
        ))
        .spawn()
        .unwrap();
    let answers = exercise(&run.api, fleet).await;
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let output = std::fs::read(&out).unwrap();
    assert!(
        String::from_utf8_lossy(&output).contains("\"level\""),
        "the daemon's log is not JSON lines"
    );
    (output, answers)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` 0600, every directory 0700.
fn private_tree(dir: &Path) -> usize {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            assert_eq!(mode(&path), 0o700, "{}", path.display());
            files += private_tree(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files += 1;
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaves_the_embedded_daemon() {
    let fleet = fleet().await;
    let run = prepare(&fleet, "");
    let (output, answers) = run_daemon(&run, &fleet).await;
    let secrets = secrets(&fleet);
    let mut found = hits(&secrets, "the daemon's log", &output);
    for (what, body) in &answers {
        found.extend(hits(&secrets, &format!("HTTP answer {what}"), body));
    }
    let data = run.dir.path().join("data");
    let events = common::read_log(&data).await;
    assert!(events.len() > 10, "{} events", events.len());
    for e in &events {
        let bytes = e.encode().unwrap();
        found.extend(hits(
            &secrets,
            &format!("event {}#{}", e.device, e.seq),
            &bytes,
        ));
    }
    let snapshots = data.join("snapshots");
    let mut snapshot_files = 0;
    for entry in walk(&snapshots) {
        snapshot_files += 1;
        found.extend(hits(
            &secrets,
            &entry.display().to_string(),
            &std::fs::read(&entry).unwrap(),
        ));
    }
    assert!(found.is_empty(), "{found:#?}");
    assert!(snapshot_files >= 3, "{snapshot_files} snapshots");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("events.redb")), 0o600);
    assert!(private_tree(&data) >= 4);
    eprintln!(
        "searched {} log bytes, {} events, {} answers, {} snapshots for {} secrets: none found",
        output.len(),
        events.len(),
        answers.len(),
        snapshot_files,
        secrets.len()
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(walk(&path));
        } else if meta.is_file() {
            out.push(path);
        }
    }
    out
}

/// Every message of a stream, raw.
async fn stream_messages(js: &async_nats::jetstream::Context, name: &str) -> Vec<Vec<u8>> {
    let mut stream = js.get_stream(name).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            let mut bytes = m.payload.to_vec();
            for (k, v) in m.headers.iter() {
                bytes.extend_from_slice(format!("{k}: {v:?}\n").as_bytes());
            }
            out.push(bytes);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaves_the_jetstream_daemon() {
    let url = std::env::var("NATS_URL").expect("NATS_URL (scripts/test starts one)");
    common::keep_account_alive(&url).await;
    let fleet = fleet().await;
    let tag = format!("{}{}", std::process::id(), free_port());
    let (events, snaps) = (format!("SECRETS_EV_{tag}"), format!("SECRETS_SNAP_{tag}"));
    let run = prepare(
        &fleet,
        &format!(
            "[nats]\nurl = \"{url}\"\nstream = \"{events}\"\nsubject_prefix = \"secrets{tag}.events\"\n\
             snapshot_subject = \"secrets{tag}.snap.{{device_id}}\"\nsnapshot_stream = \"{snaps}\"\n"
        ),
    );
    let (output, answers) = run_daemon(&run, &fleet).await;
    let secrets = secrets(&fleet);
    let mut found = hits(&secrets, "the daemon's log", &output);
    for (what, body) in &answers {
        found.extend(hits(&secrets, &format!("HTTP answer {what}"), body));
    }
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let recorded = stream_messages(&js, &events).await;
    let published = stream_messages(&js, &snaps).await;
    for (i, m) in recorded.iter().enumerate() {
        found.extend(hits(&secrets, &format!("{events} message {}", i + 1), m));
    }
    for (i, m) in published.iter().enumerate() {
        found.extend(hits(&secrets, &format!("{snaps} message {}", i + 1), m));
    }
    let _ = js.delete_stream(&events).await;
    let _ = js.delete_stream(&snaps).await;
    assert!(found.is_empty(), "{found:#?}");
    assert!(recorded.len() > 10, "{} events", recorded.len());
    assert!(published.len() >= 3, "{} snapshots", published.len());
    eprintln!(
        "searched {} log bytes, {} events, {} answers, {} snapshot messages for {} secrets: none found",
        output.len(),
        recorded.len(),
        answers.len(),
        published.len(),
        secrets.len()
    );
}
