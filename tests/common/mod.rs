//! Helpers for the tests that run the daemon as a real process
//! (`confkeep run`): a free port for its API, its status over HTTP, waiting
//! on it, and reading its embedded log back once it has stopped.
//!
//! Included with `mod common;` by each such test target; a target need not
//! use every helper.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use confkeep::api::StatusResponse;
use confkeep::domain::Envelope;
use futures::StreamExt;

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon's `/v1/status`, or `None` while it does not answer.
pub async fn status(api: &str) -> Option<StatusResponse> {
    let (code, body) = confkeep::cli::http::call("GET", api, "/v1/status", None)
        .await
        .ok()?;
    (code == 200)
        .then(|| serde_json::from_slice(&body).ok())
        .flatten()
}

/// Poll the child's API (another process: there is no event to await
/// across it) until `done`, for at most 60 s.
pub async fn until_api(api: &str, what: &str, done: impl Fn(&StatusResponse) -> bool) {
    for _ in 0..600 {
        if let Some(s) = status(api).await
            && done(&s)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every envelope of the embedded log under `data_dir`, in log order.
pub async fn read_log(data_dir: &Path) -> Vec<Envelope> {
    let log = confkeep::store::open(&confkeep::store::StoreConfig::Embedded {
        data_dir: data_dir.to_owned(),
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    let mut stream = log.replay(0);
    while let Some(item) = stream.next().await {
        out.push(item.unwrap().1);
    }
    out
}
