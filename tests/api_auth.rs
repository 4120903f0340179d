//! The API's locks, against a real listener: bound to `0.0.0.0` and reached
//! over loopback (tests never send traffic to the machine's external
//! address). Writes need the token from every address; reads off loopback
//! need it unless `api_public_reads`; a tokenless or plaintext listener off
//! loopback refuses to start; TLS with a certificate of our own; bodies,
//! idle connections and concurrent connections are bounded.

mod common;
use common::write_private;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use confkeep::api::ErrorBody;
use confkeep::cli::http::ApiClient;
use confkeep::daemon::{self, Daemon};
use confkeep::domain::{Event, RetryPolicy};
use confkeep::effects::config::DaemonConfig;
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::{FleetSpec, SimFleet, SimFleetHandle, inventory_toml};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "api-auth-test-token-0123456789";

struct Setup {
    _dir: tempfile::TempDir,
    _fleet: SimFleetHandle,
    dir: PathBuf,
    config: DaemonConfig,
}

async fn setup(listen: &str) -> Setup {
    let fleet = SimFleet::start(FleetSpec::generated(2, 7)).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let inventory = dir.join("inventory.toml");
    write_private(&inventory, &inventory_toml(fleet.devices()));
    write_private(&dir.join("token"), &format!("{TOKEN}\n"));
    let config = DaemonConfig {
        node: Some("auth-test".into()),
        data_dir: dir.join("data"),
        inventory,
        http_listen: Some(listen.into()),
        api_token_file: Some(dir.join("token")),
        inventory_poll_secs: 0,
        policy: RetryPolicy {
            // Nothing runs unless the test triggers it.
            jitter_min_secs: 3_000,
            jitter_max_secs: 3_600,
            command_timeout_secs: 5,
            ..RetryPolicy::default()
        },
        ..DaemonConfig::default()
    };
    Setup {
        _dir: tmp,
        _fleet: fleet,
        dir,
        config,
    }
}

fn over_loopback(daemon: &Daemon, scheme: &str) -> String {
    let port = daemon.api_addr.unwrap().port();
    format!("{scheme}://127.0.0.1:{port}")
}

/// Wait until both devices' enrolment is recorded.
async fn enrolled(daemon: &mut Daemon) {
    let wait = daemon.recorded.wait_for(|n| *n >= 2);
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the devices were never enrolled")
        .unwrap();
}

fn error_of(body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not a JSON error ({e}): {}", String::from_utf8_lossy(body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_every_write_needs_the_token() {
    let mut s = setup("0.0.0.0:0").await;
    s.config.http_allow_plaintext = true;
    let mut daemon = daemon::start(s.config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    enrolled(&mut daemon).await;
    let base = over_loopback(&daemon, "http");
    let anonymous = ApiClient::plain(&base);
    let wrong = ApiClient::plain(&base).with_token("not-the-token-not-the-token");
    let operator = ApiClient::plain(&base).with_token(TOKEN);
    let fp =
        serde_json::json!({"fingerprint": "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
    let writes: [(&str, Option<serde_json::Value>); 6] = [
        ("/v1/devices/sim-0001/trigger", None),
        (
            "/v1/trigger",
            Some(serde_json::json!({"device_id": "sim-0001"})),
        ),
        ("/api/tenants/default/devices/sim-0001/backup", None),
        ("/v1/devices/sim-0001/credentials-updated", None),
        ("/v1/devices/sim-0001/host-key/reset", None),
        ("/v1/devices/sim-0001/host-key/accept", Some(fp.clone())),
    ];
    for (path, body) in &writes {
        let (code, answer) = anonymous.call("POST", path, body.clone()).await.unwrap();
        assert_eq!(code, 401, "{path}");
        let e = error_of(&answer);
        assert_eq!(e.code, "unauthorized");
        assert!(
            e.error.contains("Authorization: Bearer"),
            "{path}: {}",
            e.error
        );
        let (code, answer) = wrong.call("POST", path, body.clone()).await.unwrap();
        assert_eq!(code, 401, "{path}");
        assert!(error_of(&answer).error.contains("does not match"));
    }
    // Reads off loopback need it too; the health probe does not.
    for path in [
        "/v1/status",
        "/v1/devices/sim-0001",
        "/v1/devices/sim-0001/history",
        "/metrics",
    ] {
        let (code, answer) = anonymous.call("GET", path, None).await.unwrap();
        assert_eq!(code, 401, "{path}");
        assert_eq!(error_of(&answer).code, "unauthorized");
        let (code, _) = operator.call("GET", path, None).await.unwrap();
        assert_ne!(code, 401, "{path}");
    }
    let (code, _) = anonymous.call("GET", "/healthz", None).await.unwrap();
    assert_eq!(code, 200);

    // Nothing the refused requests asked for was recorded.
    let device = confkeep::domain::DeviceId::parse("sim-0001").unwrap();
    let names: Vec<&str> = daemon
        .log
        .device_history(&device)
        .map(|e| e.unwrap().event.name())
        .collect()
        .await;
    assert_eq!(names, ["enrolled"], "a refused request changed the log");

    // With the token, the same requests go through.
    let (code, answer) = operator
        .call("POST", "/v1/devices/sim-0001/trigger", None)
        .await
        .unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&answer));
    let (code, _) = operator
        .call("POST", "/v1/devices/sim-0002/host-key/accept", Some(fp))
        .await
        .unwrap();
    assert_eq!(code, 202);
    // Accepted means queued: wait, on the daemon's fold of the log, until
    // the acceptance is recorded.
    let accepted = confkeep::domain::DeviceId::parse("sim-0002").unwrap();
    let log = daemon.log.clone();
    let mut folded = daemon.recorded.clone();
    let recorded = async {
        loop {
            let events: Vec<Event> = log
                .device_history(&accepted)
                .map(|e| e.unwrap().event)
                .collect()
                .await;
            if events
                .iter()
                .any(|e| matches!(e, Event::HostKeyAccepted { .. }))
            {
                return;
            }
            folded.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), recorded)
        .await
        .expect("the accepted key was never recorded");
    daemon.shutdown().await.unwrap();
}

/// What an anonymous read of the status and an anonymous write get.
async fn anonymous_codes(config: DaemonConfig, write: &str) -> (u16, u16) {
    let daemon = daemon::start(config, Arc::new(SystemClock)).await.unwrap();
    let anonymous = ApiClient::plain(&over_loopback(&daemon, "http"));
    let (read, _) = anonymous.call("GET", "/v1/status", None).await.unwrap();
    let (written, _) = anonymous.call("POST", write, None).await.unwrap();
    daemon.shutdown().await.unwrap();
    (read, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_reads_open_reads_only() {
    let mut s = setup("0.0.0.0:0").await;
    s.config.http_allow_plaintext = true;
    s.config.api_public_reads = true;
    let codes = anonymous_codes(s.config.clone(), "/v1/devices/sim-0001/trigger").await;
    assert_eq!(codes, (200, 401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_reads_are_open_and_writes_still_need_the_token() {
    let s = setup("127.0.0.1:0").await;
    let write = "/v1/devices/sim-0001/credentials-updated";
    assert_eq!(anonymous_codes(s.config.clone(), write).await, (200, 401));
}

async fn refusal(config: DaemonConfig) -> String {
    match daemon::start(config, Arc::new(SystemClock)).await {
        Ok(_) => panic!("the daemon started"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_listener_refuses_to_start_and_says_why() {
    let s = setup("0.0.0.0:0").await;
    let mut no_token = s.config.clone();
    no_token.api_token_file = None;
    no_token.http_allow_plaintext = true;
    let e = refusal(no_token).await;
    assert!(
        e.contains("http_listen") && e.contains("api_token_file"),
        "{e}"
    );

    let e = refusal(s.config.clone()).await;
    assert!(
        e.contains("http_tls_cert") && e.contains("http_allow_plaintext"),
        "{e}"
    );

    let exposed = s.dir.join("exposed-token");
    std::fs::write(&exposed, TOKEN).unwrap();
    std::fs::set_permissions(&exposed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut readable = s.config.clone();
    readable.api_token_file = Some(exposed);
    readable.http_allow_plaintext = true;
    let e = refusal(readable).await;
    assert!(
        e.contains("exposed-token") && e.contains("chmod 600"),
        "{e}"
    );
    assert!(!e.contains(TOKEN), "{e}");

    let mut half = s.config.clone();
    half.http_tls_cert = Some(s.dir.join("api.crt"));
    let e = refusal(half).await;
    assert!(e.contains("http_tls_key"), "{e}");
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key) files.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (c, k) = (dir.join("api.crt"), dir.join("api.key"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    write_private(&k, &cert.signing_key.serialize_pem());
    (c, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_off_loopback_with_the_token() {
    let mut s = setup("0.0.0.0:0").await;
    let (cert, key) = certificate(&s.dir);
    s.config.http_tls_cert = Some(cert.clone());
    s.config.http_tls_key = Some(key);
    let daemon = daemon::start(s.config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let operator = ApiClient::plain(&over_loopback(&daemon, "https"))
        .with_token(TOKEN)
        .with_ca_file(&cert)
        .unwrap();
    let (code, body) = operator.call("GET", "/v1/status", None).await.unwrap();
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    // Plain HTTP to the TLS port gets no answer.
    let plain = ApiClient::plain(&over_loopback(&daemon, "http")).with_token(TOKEN);
    assert!(plain.call("GET", "/v1/status", None).await.is_err());
    // A client that does not trust the certificate does not talk.
    let untrusting = ApiClient::plain(&over_loopback(&daemon, "https")).with_token(TOKEN);
    let e = untrusting
        .call("GET", "/v1/status", None)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("TLS"), "{e:#}");
    daemon.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_errors_naming_the_field() {
    let s = setup("127.0.0.1:0").await;
    let daemon = daemon::start(s.config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let operator = ApiClient::plain(&over_loopback(&daemon, "http")).with_token(TOKEN);
    let cases: [(&str, &str, Option<serde_json::Value>, u16, &str); 9] = [
        (
            "POST",
            "/v1/devices/sim-0001/host-key/accept",
            Some(serde_json::json!({"fingerprint": "MD5:00"})),
            400,
            "fingerprint",
        ),
        (
            "POST",
            "/v1/devices/sim-0001/host-key/accept",
            Some(serde_json::json!({"finger": 1})),
            400,
            "finger",
        ),
        (
            "POST",
            "/v1/trigger",
            Some(serde_json::json!({"device_id": 12})),
            400,
            "device_id",
        ),
        // An unknown device is the trigger's own "not found" reply.
        (
            "POST",
            "/v1/trigger",
            Some(serde_json::json!({"device_id": "nope"})),
            404,
            "not_found",
        ),
        (
            "GET",
            "/v1/devices/sim-0001/history?limit=0",
            None,
            400,
            "limit",
        ),
        ("GET", "/v1/devices/bad%20id", None, 400, "device id"),
        ("GET", "/v2/nothing", None, 404, "not_found"),
        ("GET", "/v1/devices/%FF%FE", None, 400, "bad_request"),
        ("DELETE", "/v1/status", None, 405, "method_not_allowed"),
    ];
    for (method, path, body, want, needle) in cases {
        let (code, answer) = operator.call(method, path, body).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert_eq!(code, want, "{method} {path}: {text}");
        assert!(text.contains(needle), "{method} {path}: {text}");
        let json: serde_json::Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert!(
            json.get("code").is_some() || json.get("reply").is_some(),
            "{text}"
        );
    }
    // A body past the cap is refused without being read whole.
    let big = serde_json::json!({"fingerprint": "x".repeat(64 * 1024)});
    let (code, answer) = operator
        .call("POST", "/v1/devices/sim-0001/host-key/accept", Some(big))
        .await
        .unwrap();
    assert_eq!(code, 413);
    assert_eq!(error_of(&answer).code, "body_too_large");
    daemon.shutdown().await.unwrap();
}

/// Serve a trivial app with these limits; the stop sender ends it.
async fn serve_with(
    limits: confkeep::api::serve::HttpLimits,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    use confkeep::api::serve::{self, HttpSettings};
    let settings = HttpSettings {
        listen: "127.0.0.1:0".into(),
        token: None,
        public_reads: false,
        tls: None,
        allow_plaintext: false,
        limits,
    };
    let listener = serve::bind(&settings).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listener.serve(app, async move {
        let _ = stop_rx.await;
    }));
    (addr, stop_tx, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed() {
    let (addr, stop, server) = serve_with(confkeep::api::serve::HttpLimits {
        header_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(20), silent.read_to_end(&mut seen)).await;
    assert!(ended.is_ok(), "the server kept a silent connection open");
    let _ = stop.send(());
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_bound_wait_for_a_free_one() {
    let (addr, stop, server) = serve_with(confkeep::api::serve::HttpLimits {
        header_timeout: Duration::from_secs(60),
        max_connections: 1,
        ..Default::default()
    })
    .await;
    let request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut buf = [0u8; 512];
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    first.write_all(request).await.unwrap();
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    // The first stays open (keep-alive): the second waits in the backlog.
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    second.write_all(request).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(
        waiting.is_err(),
        "a second connection was served beside the first"
    );
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(20), second.read(&mut buf))
        .await
        .expect("the second connection was never served")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    let _ = stop.send(());
    server.await.unwrap();
}
