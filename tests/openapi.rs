//! The OpenAPI document: the committed `docs/openapi.json` is what this
//! build generates (`CONFKEEP_BLESS=1 cargo test --test openapi` rewrites
//! it), and a running daemon's answers — reads, a trigger, errors — are
//! valid against the schemas the document gives for their path, method and
//! status.

mod common;

use std::sync::Arc;

use confkeep::api::openapi::document_json;
use confkeep::cli::http::ApiClient;
use confkeep::domain::PhaseKind;
use confkeep::effects::runner::SystemClock;
use confkeep::testbed::sim_fleet::{Fault, FleetSpec, SimFleet};
use serde_json::Value;

const TOKEN: &str = "openapi-test-token-0123456789";

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")
}

#[test]
fn the_committed_document_is_what_the_build_generates() {
    let generated = document_json();
    if std::env::var_os("CONFKEEP_BLESS").is_some() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is not what this build generates: run \
         `CONFKEEP_BLESS=1 cargo test --test openapi` and commit it"
    );
}

/// The schema the document gives for an answer, as a validator over the
/// whole document (so that its `$ref`s resolve).
fn validator(doc: &Value, path: &str, method: &str, status: u16) -> jsonschema::Validator {
    let schema =
        doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
            ["schema"]
            .clone();
    assert!(
        schema.is_object(),
        "the document gives no JSON schema for {method} {path} {status}"
    );
    let mut root = doc.as_object().unwrap().clone();
    root.insert("allOf".into(), Value::Array(vec![schema]));
    jsonschema::validator_for(&Value::Object(root)).expect("a valid schema")
}

async fn check(
    doc: &Value,
    client: &ApiClient,
    method: &str,
    (path, template): (&str, &str),
    expect: u16,
) -> Value {
    let (code, body) = client
        .call(&method.to_uppercase(), path, None)
        .await
        .unwrap();
    assert_eq!(
        code,
        expect,
        "{method} {path}: {}",
        String::from_utf8_lossy(&body)
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let v = validator(doc, template, method, code);
    let errors: Vec<String> = v.iter_errors(&answer).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {code} does not match the document: {errors:#?}\n{answer:#}"
    );
    answer
}

#[tokio::test]
async fn a_running_daemon_answers_as_the_document_says() {
    let mut spec = FleetSpec::generated(3, 5);
    spec.add_fault(1, Fault::WrongPassword);
    let fleet = SimFleet::start(spec).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = common::quiet_daemon_config(dir, "openapi", fleet.devices(), Some(TOKEN));
    let mut daemon = confkeep::daemon::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    common::until_rows(&mut daemon, "three enrolled", |rows| rows.len() == 3).await;
    let base = format!("http://{}", daemon.api_addr.unwrap());
    let client = ApiClient::plain(&base).with_token(TOKEN);
    let doc: Value = serde_json::from_str(&document_json()).unwrap();

    let (code, served) = client.call("GET", "/v1/openapi.json", None).await.unwrap();
    assert_eq!(code, 200);
    let served: Value = serde_json::from_slice(&served).unwrap();
    assert_eq!(served, doc, "the daemon serves the generated document");
    let t = "/v1/devices/{device}/trigger";
    check(
        &doc,
        &client,
        "post",
        ("/v1/devices/sim-0001/trigger", t),
        200,
    )
    .await;
    // The wrong password: failed, then blocked.
    check(
        &doc,
        &client,
        "post",
        ("/v1/devices/sim-0002/trigger", t),
        502,
    )
    .await;
    check(
        &doc,
        &client,
        "post",
        ("/v1/devices/sim-0002/trigger", t),
        423,
    )
    .await;
    check(&doc, &client, "post", ("/v1/devices/ghost/trigger", t), 404).await;
    let status = check(&doc, &client, "get", ("/v1/status", "/v1/status"), 200).await;
    assert_eq!(status["devices"].as_array().unwrap().len(), 3);
    let mut broken = status.clone();
    broken["devices"][0]["port"] = "twenty-two".into();
    let v = validator(&doc, "/v1/status", "get", 200);
    assert!(
        v.iter_errors(&broken).next().is_some(),
        "the check can fail"
    );
    check(
        &doc,
        &client,
        "get",
        ("/v1/status?phase=nope", "/v1/status"),
        400,
    )
    .await;
    let one = "/v1/devices/{device}";
    let row = check(&doc, &client, "get", ("/v1/devices/sim-0002", one), 200).await;
    assert_eq!(row["phase"], PhaseKind::AuthBlocked.name());
    assert!(
        row["last_error"].is_object(),
        "a failed row carries its error"
    );
    check(&doc, &client, "get", ("/v1/devices/ghost", one), 404).await;
    let page = ("/v1/devices?limit=2", "/v1/devices");
    let page = check(&doc, &client, "get", page, 200).await;
    assert_eq!(page["next_offset"], 2);
    let h = "/v1/devices/{device}/history";
    check(
        &doc,
        &client,
        "get",
        ("/v1/devices/sim-0001/history", h),
        200,
    )
    .await;
    check(
        &doc,
        &client,
        "get",
        ("/v1/devices/sim-0001/history?limit=0", h),
        400,
    )
    .await;
    let s = "/v1/devices/{device}/snapshots";
    let snaps = check(
        &doc,
        &client,
        "get",
        ("/v1/devices/sim-0001/snapshots", s),
        200,
    )
    .await;
    assert_eq!(snaps["snapshots"].as_array().unwrap().len(), 1);
    let d = "/v1/devices/{device}/diff";
    check(&doc, &client, "get", ("/v1/devices/sim-0001/diff", d), 200).await;
    check(
        &doc,
        &client,
        "get",
        ("/v1/devices/sim-0001/diff?old=ffff", d),
        404,
    )
    .await;
    let anonymous = ApiClient::plain(&base);
    check(
        &doc,
        &anonymous,
        "get",
        ("/v1/devices/sim-0001/diff", d),
        401,
    )
    .await;

    daemon.shutdown().await.unwrap();
    fleet.shutdown().await;
}
