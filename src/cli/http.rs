//! A small JSON-over-HTTP(S) client for the CLI commands that talk to a
//! running daemon's API (`status`, `history`, `trigger`, ...).
//!
//! In embedded mode the daemon holds the log file open, so the CLI asks the
//! daemon instead of reading the log. The API address comes from `--api`
//! or `CONFKEEP_API` (default `http://127.0.0.1:9180`); the token from
//! `CONFKEEP_API_TOKEN` or `--token-file` (never from the command line, where
//! every user of the host could read it in `ps`). An `https://` API is
//! checked against `--ca-file` when given, else the system's roots.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Default address of the daemon's API.
pub const DEFAULT_API: &str = "http://127.0.0.1:9180";

/// Where the daemon's API is, and how to prove who we are.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the daemon's HTTP API.
    #[arg(long, env = "CONFKEEP_API", default_value = DEFAULT_API)]
    pub api: String,
    /// A file holding the API token (else CONFKEEP_API_TOKEN).
    #[arg(long, env = "CONFKEEP_API_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM certificate(s) to trust for an https:// API (e.g. a self-signed one).
    #[arg(long, env = "CONFKEEP_API_CA")]
    pub ca_file: Option<PathBuf>,
}

/// A connection recipe for the daemon's API.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ApiClient {
    /// No token, system roots for https.
    pub fn plain(base: &str) -> ApiClient {
        ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            token: None,
            tls: None,
        }
    }

    /// Send this token with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> ApiClient {
        self.token = Some(token.into());
        self
    }

    /// Trust the certificates of this PEM file for https.
    pub fn with_ca_file(mut self, path: &std::path::Path) -> anyhow::Result<ApiClient> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("--ca-file {}", path.display()))?
        {
            let cert = cert.with_context(|| format!("--ca-file {}", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("--ca-file {}", path.display()))?;
        }
        self.tls = Some(client_config(roots)?);
        Ok(self)
    }

    /// From the command line and the environment.
    pub fn from_args(args: &ApiArgs) -> anyhow::Result<ApiClient> {
        let mut client = ApiClient::plain(&args.api);
        let env = std::env::var("CONFKEEP_API_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        client.token = match (&args.token_file, env) {
            (Some(path), _) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("--token-file {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, env) => env,
        };
        if let Some(ca) = &args.ca_file {
            client = client.with_ca_file(ca)?;
        }
        Ok(client)
    }

    /// Send a request; returns the HTTP status and the body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let url = format!("{}{}", self.base, path);
        let uri: hyper::Uri = url.parse().with_context(|| format!("bad API URL {url}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("bad API URL {url}: expected http:// or https://"),
        };
        let host = uri
            .host()
            .with_context(|| format!("bad API URL {url}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let payload = match &body {
            Some(v) => Bytes::from(serde_json::to_vec(v)?),
            None => Bytes::new(),
        };
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header("host", format!("{host}:{port}"))
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(payload))
            .with_context(|| format!("bad API URL {url}"))?;
        let unreachable = || {
            format!(
                "cannot reach the confkeep daemon at {} (is `confkeep run` up? set --api or CONFKEEP_API)",
                self.base
            )
        };
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .with_context(unreachable)?;
        let _ = tcp.set_nodelay(true);
        if !https {
            return exchange(tcp, request, &url).await;
        }
        let config = match &self.tls {
            Some(c) => c.clone(),
            None => system_roots()?,
        };
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .with_context(|| format!("bad API host {host}"))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {} failed (is --ca-file right?)", self.base))?;
        exchange(stream, request, &url).await
    }
}

async fn exchange<S>(
    stream: S,
    request: hyper::Request<Full<Bytes>>,
    url: &str,
) -> anyhow::Result<(u16, Bytes)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("HTTP with {url} failed"))?;
    tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer of {url}"))?
        .to_bytes();
    Ok((status, bytes))
}

fn client_config(roots: rustls::RootCertStore) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

fn system_roots() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    client_config(roots)
}

/// Send a request without a token (tests, and the loopback default).
pub async fn call(
    method: &str,
    base: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(u16, Bytes)> {
    ApiClient::plain(base).call(method, path, body).await
}

/// The `error` field of an API error body, or the raw body.
pub fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<crate::api::ErrorBody>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}
