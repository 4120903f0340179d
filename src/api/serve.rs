//! Serving the API: where it may listen, TLS, and the limits that keep a
//! hostile client from holding the daemon.
//!
//! | listener | needs |
//! |---|---|
//! | loopback (`127.0.0.1`, `::1`) | nothing; the token, when configured, guards writes |
//! | any other address | an API token, and TLS (`http_tls_cert`/`http_tls_key`) or `http_allow_plaintext = true` |
//!
//! Limits: request bodies (a few KiB: no request of this API needs more),
//! the time to send the headers (a connection that says nothing is closed),
//! the time a whole request may take, and the number of connections at once
//! (past it, new connections wait in the kernel's backlog).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::auth::{Access, ApiToken};

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    /// From accepting a connection (or the end of its last answer) to the
    /// end of the next request's headers, TLS handshake included.
    pub header_timeout: Duration,
    /// The longest any request may take (a trigger waits for its attempt,
    /// so this must outlast the attempt deadline).
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 8 * 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_connections: 256,
        }
    }
}

/// Certificate chain and private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How the API is to be served.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: String,
    pub token: Option<ApiToken>,
    pub public_reads: bool,
    pub tls: Option<TlsFiles>,
    pub allow_plaintext: bool,
    pub limits: HttpLimits,
}

/// Why the API cannot listen as configured.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {listen} ({field}): {source}")]
    Bind {
        field: &'static str,
        listen: String,
        source: std::io::Error,
    },
    #[error(
        "http_listen = {addr} is not a loopback address and no API token is configured: anyone who reaches it could trigger backups and trust host keys. Set api_token_file (or CONFKEEP_API_TOKEN), or listen on 127.0.0.1"
    )]
    NoToken { addr: SocketAddr },
    #[error(
        "http_listen = {addr} is not a loopback address: the API token would cross the network in clear. Set http_tls_cert and http_tls_key, or http_allow_plaintext = true behind a TLS proxy"
    )]
    NoTls { addr: SocketAddr },
    #[error("{given} is set without {missing}: TLS needs both")]
    TlsHalf {
        given: &'static str,
        missing: &'static str,
    },
    #[error("{field} {}: {message}", path.display())]
    Tls {
        field: &'static str,
        path: PathBuf,
        message: String,
    },
}

/// What a listener exposes, decided from its bound address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    Loopback,
    NetworkTls,
    /// Off loopback without TLS, by the operator's explicit choice.
    NetworkPlaintext,
}

/// The start-up rule (see the module table).
pub fn exposure(
    addr: SocketAddr,
    has_token: bool,
    has_tls: bool,
    allow_plaintext: bool,
) -> Result<Exposure, ListenError> {
    if addr.ip().is_loopback() {
        return Ok(Exposure::Loopback);
    }
    if !has_token {
        return Err(ListenError::NoToken { addr });
    }
    match (has_tls, allow_plaintext) {
        (true, _) => Ok(Exposure::NetworkTls),
        (false, true) => Ok(Exposure::NetworkPlaintext),
        (false, false) => Err(ListenError::NoTls { addr }),
    }
}

/// A bound, checked listener, ready to serve.
pub struct ApiListener {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    pub access: Access,
    pub limits: HttpLimits,
    pub exposure: Exposure,
}

impl std::fmt::Debug for ApiListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiListener")
            .field("addr", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .field("exposure", &self.exposure)
            .finish()
    }
}

/// Bind `settings.listen` and apply the start-up rule; load TLS.
pub async fn bind(settings: &HttpSettings) -> Result<ApiListener, ListenError> {
    let tls_config = match &settings.tls {
        Some(files) => Some(load_tls(files)?),
        None => None,
    };
    let (listener, addr) = bind_tcp("http_listen", &settings.listen).await?;
    let exposure = exposure(
        addr,
        settings.token.is_some(),
        tls_config.is_some(),
        settings.allow_plaintext,
    )?;
    Ok(ApiListener {
        listener,
        tls: tls_config.map(|c| TlsAcceptor::from(Arc::new(c))),
        access: Access {
            token: settings.token.clone(),
            public_reads: settings.public_reads,
            loopback: exposure == Exposure::Loopback,
        },
        limits: settings.limits,
        exposure,
    })
}

async fn bind_tcp(
    field: &'static str,
    listen: &str,
) -> Result<(TcpListener, SocketAddr), ListenError> {
    let failed = |source| ListenError::Bind {
        field,
        listen: listen.to_owned(),
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(failed)?;
    let addr = listener.local_addr().map_err(failed)?;
    Ok((listener, addr))
}

/// Bind the Prometheus listener (`metrics_listen`): plain HTTP, no token,
/// anywhere, because what it serves changes nothing and holds no secret.
pub async fn bind_metrics(listen: &str, limits: HttpLimits) -> Result<ApiListener, ListenError> {
    let (listener, addr) = bind_tcp("metrics_listen", listen).await?;
    let exposure = if addr.ip().is_loopback() {
        Exposure::Loopback
    } else {
        Exposure::NetworkPlaintext
    };
    Ok(ApiListener {
        listener,
        tls: None,
        access: Access {
            token: None,
            public_reads: true,
            loopback: exposure == Exposure::Loopback,
        },
        limits,
        exposure,
    })
}

/// Both halves given, or neither.
pub fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<TlsFiles>, ListenError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ListenError::TlsHalf {
            given: "http_tls_cert",
            missing: "http_tls_key",
        }),
        (None, Some(_)) => Err(ListenError::TlsHalf {
            given: "http_tls_key",
            missing: "http_tls_cert",
        }),
    }
}

fn load_tls(files: &TlsFiles) -> Result<rustls::ServerConfig, ListenError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_err = |message: String| ListenError::Tls {
        field: "http_tls_cert",
        path: files.cert.clone(),
        message,
    };
    let key_err = |message: String| ListenError::Tls {
        field: "http_tls_key",
        path: files.key.clone(),
        message,
    };
    check_key_mode(&files.key).map_err(key_err)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no PEM certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_err(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| key_err(format!("does not fit the certificate: {e}")))
}

/// A private key that every user of the host may read is no secret.
fn check_key_mode(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "readable by every user (mode {:o}); run `chmod 600 {}`",
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

impl ApiListener {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serve `app` until `stop` resolves, then let open requests finish
    /// (at most the request timeout).
    pub async fn serve(self, app: Router, stop: impl Future<Output = ()>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.limits.max_connections));
        let graceful = GracefulShutdown::new();
        tokio::pin!(stop);
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                () = &mut stop => break,
            };
            let tcp = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((tcp, _peer)) => tcp,
                    Err(e) => {
                        // Out of file descriptors, usually: give the
                        // connections that hold them a moment to end.
                        tracing::warn!(error = %e, "HTTP API cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            let _ = tcp.set_nodelay(true);
            let tls = self.tls.clone();
            let app = app.clone();
            let watcher = graceful.watcher();
            let limits = self.limits;
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    None => connection(TokioIo::new(tcp), app, limits, watcher).await,
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await;
                        if let Ok(Ok(stream)) = handshake {
                            connection(TokioIo::new(stream), app, limits, watcher).await;
                        }
                    }
                }
            });
        }
        drop(self.listener);
        let _ = tokio::time::timeout(self.limits.request_timeout, graceful.shutdown()).await;
    }
}

async fn connection<I>(io: TokioIo<I>, app: Router, limits: HttpLimits, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    // A client that goes away mid-answer is not the daemon's problem.
    let _ = watcher.watch(conn).await;
}

/// The axum middleware bounding each request's time.
pub async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => super::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!("the request took longer than {} s", limit.as_secs()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn off_loopback_needs_a_token_and_tls_or_an_explicit_opt_out() {
        assert_eq!(
            exposure(addr("127.0.0.1:9180"), false, false, false).unwrap(),
            Exposure::Loopback
        );
        assert_eq!(
            exposure(addr("[::1]:9180"), false, false, false).unwrap(),
            Exposure::Loopback
        );
        let e = exposure(addr("0.0.0.0:9180"), false, true, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http_listen") && e.contains("api_token_file"),
            "{e}"
        );
        let e = exposure(addr("0.0.0.0:9180"), true, false, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http_tls_cert") && e.contains("http_allow_plaintext"),
            "{e}"
        );
        assert_eq!(
            exposure(addr("0.0.0.0:9180"), true, false, true).unwrap(),
            Exposure::NetworkPlaintext
        );
        assert_eq!(
            exposure(addr("10.1.2.3:9180"), true, true, false).unwrap(),
            Exposure::NetworkTls
        );
    }

    #[test]
    fn tls_needs_both_files() {
        let e = tls_files(Some("c.pem".into()), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("http_tls_key"), "{e}");
        let e = tls_files(None, Some("k.pem".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("http_tls_cert"), "{e}");
        assert!(tls_files(None, None).unwrap().is_none());
    }
}
