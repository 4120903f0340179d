//! The operator's web page in a real headless Chromium (Debian's
//! `chromium` and `chromium-driver`, installed by `scripts/test`), on the
//! demo fleet: the fleet page shows the auth-blocked router with the action
//! that unblocks it; its page shows the timeline; "credentials updated"
//! without the token is refused, with the token it is recorded and the
//! router leaves the block. Plain HTTP checks beside it: the pages' 404 and
//! the diff's token rule.
//!
//! With `CONFKEEP_SCREENSHOTS=DIR` the test leaves `fleet.png` and
//! `device.png` there (the README's pictures).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use confkeep::cli::demo::{demo_policy, start_demo_fleet};
use confkeep::cli::http::ApiClient;
use confkeep::domain::{Event, PhaseKind};
use confkeep::effects::config::DaemonConfig;
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::inventory_toml;
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncBufReadExt, BufReader};

use common::{until_rows, write_private};

const TOKEN: &str = "web-page-test-token-0123456789";

/// chromedriver on a port of its own, ready when it says so.
async fn chromedriver() -> (tokio::process::Child, u16) {
    let port = common::free_port();
    let mut child = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver runs (Debian package chromium-driver; scripts/test installs it)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started successfully") {
                return;
            }
        }
        panic!("chromedriver stopped before it was ready");
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("chromedriver ready within 30 s");
    // Keep reading what it prints so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

async fn browser(port: u16, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .expect("a TLS connector")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session")
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    if let Some(dir) = std::env::var_os("CONFKEEP_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(Path::new(&dir).join(name), png).unwrap();
    }
}

async fn text(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
        .text()
        .await
        .unwrap()
}

async fn get(base: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut client = ApiClient::plain(base);
    if let Some(t) = token {
        client = client.with_token(t);
    }
    let (code, body) = client.call("GET", path, None).await.unwrap();
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_the_auth_blocked_router_and_unblocks_it() {
    // The WebDriver client speaks plain HTTP here but builds a TLS
    // connector all the same, and rustls wants its provider named.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fleet = start_demo_fleet(12, 7).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_private(
        &dir.join("inventory.toml"),
        &inventory_toml(fleet.devices()),
    );
    write_private(&dir.join("token"), &format!("{TOKEN}\n"));
    let config = DaemonConfig {
        node: Some("web-test".into()),
        data_dir: dir.join("data"),
        inventory: dir.join("inventory.toml"),
        http_listen: Some("127.0.0.1:0".into()),
        api_token_file: Some(dir.join("token")),
        inventory_poll_secs: 0,
        policy: demo_policy(),
        ..DaemonConfig::default()
    };
    let mut daemon = confkeep::daemon::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    until_rows(
        &mut daemon,
        "the wrong password to block a router",
        |rows| {
            rows.iter().any(|r| r.phase == PhaseKind::AuthBlocked)
                && rows.iter().filter(|r| r.last_success.is_some()).count() >= 3
        },
    )
    .await;
    let base = format!("http://{}", daemon.api_addr.unwrap());
    let blocked = daemon
        .status
        .lock()
        .unwrap()
        .rows()
        .find(|r| r.phase == PhaseKind::AuthBlocked)
        .unwrap()
        .device;

    // Plain HTTP: an unknown device's page names it; a diff needs the token.
    let (code, body) = get(&base, "/devices/no-such-router", None).await;
    assert_eq!(code, 404);
    assert!(body.contains("no device no-such-router"), "{body}");
    let healthy = daemon
        .status
        .lock()
        .unwrap()
        .rows()
        .find(|r| r.last_hash.is_some())
        .unwrap()
        .device;
    let diff = format!("/v1/devices/{healthy}/diff");
    assert_eq!(get(&base, &diff, None).await.0, 401);
    assert_eq!(get(&base, &diff, Some(TOKEN)).await.0, 200);

    let (_driver, port) = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path()).await;

    client.goto(&format!("{base}/")).await.unwrap();
    let count = text(&client, "#device-count").await;
    assert_eq!(count, "12");
    let row = format!("#blocked tr[data-phase='auth_blocked'][data-device='{blocked}']");
    let action = text(&client, &format!("{row} button")).await;
    assert_eq!(action, "credentials updated", "the action that unblocks it");
    assert!(
        text(&client, &format!("{row} td.why"))
            .await
            .contains("auth"),
        "the fleet page says why"
    );
    screenshot(&client, "fleet.png").await;

    client
        .find(Locator::Css(&format!("{row} a.device")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text(&client, "#phase").await, "auth_blocked");
    let first = text(&client, "#timeline tbody tr:last-child td.what").await;
    assert!(first.starts_with("enrolled"), "the oldest event: {first}");
    assert!(
        text(&client, "#timeline tbody tr:first-child td.phases")
            .await
            .ends_with("auth_blocked"),
        "the newest event led to the block"
    );
    screenshot(&client, "device.png").await;

    // Without the token the API refuses, and the page says so.
    let button = "button[data-action='credentials-updated']";
    client
        .find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let refused = text(&client, "#action-result.fail").await;
    assert!(refused.contains("401"), "{refused}");

    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    client
        .find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The page reloads once the command is recorded.
    let recorded = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath(
            "//table[@id='timeline']//tr[td[@class='what' and contains(., 'credentials updated')]]",
        ))
        .await
        .expect("the timeline shows the command");
    let phases = recorded
        .find(Locator::Css("td.phases"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(phases.starts_with("auth_blocked"), "{phases}");
    assert!(
        !phases.ends_with("auth_blocked"),
        "it left the block: {phases}"
    );
    client.close().await.unwrap();

    let device = confkeep::domain::DeviceId::parse(&blocked).unwrap();
    let mut snapshots = confkeep::projections::snapshots::SnapshotList::default();
    let history = confkeep::api::reads::timeline(&*daemon.log, &device, None, 1000, &mut snapshots)
        .await
        .unwrap();
    let command = history
        .rows
        .iter()
        .find(|r| matches!(r.env.event, Event::CredentialsUpdated))
        .expect("recorded in the log");
    assert_eq!(command.before, Some(PhaseKind::AuthBlocked));
    assert_ne!(
        command.env.after.as_ref().unwrap().phase,
        PhaseKind::AuthBlocked
    );
    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}
