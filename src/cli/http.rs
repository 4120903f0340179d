//! A small JSON-over-HTTP client for the CLI commands that talk to a
//! running daemon's API (`status`, `history`, `trigger`, ...).
//!
//! In embedded mode the daemon holds the log file open, so the CLI asks the
//! daemon instead of reading the log. The API address comes from `--api`
//! or `CONFKEEP_API` (default `http://127.0.0.1:9180`).

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Default address of the daemon's API.
pub const DEFAULT_API: &str = "http://127.0.0.1:9180";

/// Where the daemon's API is.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the daemon's HTTP API.
    #[arg(long, env = "CONFKEEP_API", default_value = DEFAULT_API)]
    pub api: String,
}

/// Send a request; returns the HTTP status and the body.
pub async fn call(
    method: &str,
    base: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(u16, Bytes)> {
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let payload = match &body {
        Some(v) => Bytes::from(serde_json::to_vec(v)?),
        None => Bytes::new(),
    };
    let request = hyper::Request::builder()
        .method(method)
        .uri(&url)
        .header("content-type", "application/json")
        .body(Full::new(payload))
        .with_context(|| format!("bad API URL {url}"))?;
    let response = client
        .request(request)
        .await
        .with_context(|| format!("cannot reach the confkeep daemon at {base} (is `confkeep run` up? set --api or CONFKEEP_API)"))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer of {url}"))?
        .to_bytes();
    Ok((status, bytes))
}

/// The `error` field of an API error body, or the raw body.
pub fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<crate::api::ErrorBody>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}
