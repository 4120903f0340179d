//! Collecting a RouterOS export over SSH (russh client).
//!
//! [`Collector::collect`] logs into one router, runs the export command,
//! reads stdout and stderr to the end and hands back the export, normalized
//! and hashed, with the host-key fingerprint the device presented and the
//! RouterOS version from the export's header. It must never hang, never
//! trust a swapped host key, never retry a refused password, and say
//! exactly what went wrong.
//!
//! - **One deadline** ([`CollectRequest::timeout`], by default the policy's
//!   command timeout) bounds resolving, TCP connect, key exchange,
//!   authentication, exec and read together. The socket itself stops at the
//!   deadline (see `deadline.rs`), so nothing of an attempt outlives it.
//! - **Host key**: checked in `check_server_key`, during key exchange, against
//!   the trusted fingerprint; a mismatch ends the connection before any
//!   password is sent. With no trusted key the fingerprint is only reported:
//!   trust on first use is the machine's decision, not ours.
//! - **Output cap** ([`DEFAULT_OUTPUT_CAP`]): stdout and stderr together;
//!   past it the connection is closed and the attempt is `TooLarge`. Memory
//!   per attempt is bounded by the cap.
//! - **The command**: `/export show-sensitive` (RouterOS 7). RouterOS 6 has no
//!   such argument and answers `expected end of command`: then the device is
//!   asked once more, on a fresh connection, with plain `/export` (which shows
//!   secrets on 6), and [`Collected::routeros_major`] says 6 so the next
//!   attempt ([`CollectRequest::routeros_major`]) asks right the first time.
//!   If the hint said 6 but the header says 7, the device is asked again with
//!   `show-sensitive` (plain `/export` hides secrets on 7).
//! - **Completeness gate** (`output.rs`): exit status 0, no RouterOS error,
//!   an export, and its `# <time> by RouterOS <version>` header seen.
//! - **Window** [`WINDOW_SIZE`] (RouterOS truncates large exports over links
//!   with a few ms of latency when the client's window is small),
//!   `TCP_NODELAY` on, legacy algorithms ([`CollectRequest::legacy`]: SHA-1
//!   key exchange and MACs, `ssh-rsa`, CBC ciphers) off unless asked.
//! - **Secrets**: no password and no config text in any message. Answers
//!   that are not exports are quoted one line at most, cut and with values
//!   hidden (`output::sanitise`).
//!
//! # Classification
//!
//! Every failure is recorded as a [`Symptom`] where it is seen and becomes a
//! [`FailureKind`] in one place, [`classify`] (one test per row in
//! `classify.rs`):
//!
//! | what happened | stage | kind |
//! |---|---|---|
//! | the host name does not resolve | connect | `Unreachable` |
//! | TCP connect refused (RST) | connect | `ConnectionRefused` |
//! | no route, host or network unreachable, OS connect timeout | connect | `Unreachable` |
//! | deadline passed before TCP was up | connect | `Unreachable` |
//! | deadline passed after TCP was up (silent device, stalled kex, auth, exec or output) | any | `Timeout` |
//! | presented host key ≠ trusted fingerprint | key exchange | `HostKeyMismatch { presented }` |
//! | password (and key) refused, or no usable auth method | auth | `AuthFailed` |
//! | session or exec refused | exec | `Other` |
//! | channel closed or connection dropped before an exit status, or killed by a signal | read | `Truncated` |
//! | output over the cap | read | `TooLarge` |
//! | non-zero exit status | validate | `InvalidOutput` |
//! | a RouterOS error (`bad command name`, `expected end of command`, `Error:`) | validate | `InvalidOutput` |
//! | empty, binary, not UTF-8, or not an export (first line quoted) | validate | `InvalidOutput` |
//! | no export header | validate | `InvalidOutput` |
//! | RouterOS 6 refused `show-sensitive` and the `/export` retry failed | any | the retry's kind |
//! | no common algorithm (message suggests legacy algorithms) | key exchange | `Other` |
//! | not an SSH server (also a banner that never ends: russh gives up after its line limit) | key exchange | `Other` |
//! | protocol or crypto error | any | `Other` |

mod classify;
mod deadline;
mod handler;
pub mod output;
mod reader;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Preferred, cipher, kex, mac};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

pub use classify::{Stage, Symptom, classify};
use deadline::DeadlineStream;
use handler::{HandshakeError, HostKeyCheck};
use reader::Reader;
pub use reader::{ChannelEvent, read_transcript};

use crate::domain::FailureKind;
use crate::domain::normalize;

/// Default output cap: 16 MiB of stdout and stderr together.
pub const DEFAULT_OUTPUT_CAP: usize = 16 * 1024 * 1024;

/// The SSH channel window we advertise (at least 2 MiB, see the module doc).
pub const WINDOW_SIZE: u32 = 4 * 1024 * 1024;

/// The commands that print a RouterOS export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportCommand {
    /// `/export show-sensitive`: RouterOS 7 (secrets are hidden otherwise).
    ShowSensitive,
    /// `/export`: RouterOS 6, where it shows secrets and `show-sensitive`
    /// is a syntax error.
    Plain,
}

impl ExportCommand {
    /// The command line sent to the device.
    pub fn command_line(self) -> &'static str {
        match self {
            ExportCommand::ShowSensitive => "/export show-sensitive",
            ExportCommand::Plain => "/export",
        }
    }

    /// The command to ask first, given the major version seen last time.
    pub fn for_major(routeros_major: Option<u32>) -> Self {
        match routeros_major {
            Some(major) if major <= 6 => ExportCommand::Plain,
            _ => ExportCommand::ShowSensitive,
        }
    }
}

/// One collection: where, who, and the limits.
#[derive(Clone)]
pub struct CollectRequest {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The password; `None`: authenticate with the private key only.
    pub password: Option<String>,
    /// A private key, tried before the password.
    pub private_key: Option<Arc<PrivateKey>>,
    /// The fingerprint the device must present (`SHA256:…`, as `ssh-keygen
    /// -l` prints it); `None`: accept any and report it.
    pub trusted_host_key: Option<String>,
    /// RouterOS major version seen last time (from `Effect::Collect`).
    pub routeros_major: Option<u32>,
    /// The one deadline over the whole collection.
    pub timeout: Duration,
    /// Bytes of stdout and stderr together beyond which we stop.
    pub output_cap: usize,
    /// Also offer SHA-1 key exchange and MACs, `ssh-rsa` and CBC ciphers.
    pub legacy: bool,
    /// Source address for the TCP connection (a multi-homed collector, a
    /// router that accepts management from one address only).
    pub source_address: Option<IpAddr>,
}

impl CollectRequest {
    /// A password login with the defaults: 60 s (the policy's default
    /// command timeout), 16 MiB cap, modern algorithms, no trusted key.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            password: Some(password.into()),
            private_key: None,
            trusted_host_key: None,
            routeros_major: None,
            timeout: Duration::from_secs(
                crate::domain::RetryPolicy::default().command_timeout_secs,
            ),
            output_cap: DEFAULT_OUTPUT_CAP,
            legacy: false,
            source_address: None,
        }
    }
}

impl CollectRequest {
    /// The collection the machine asked for in `Effect::Collect`, logging
    /// in as `user` with `password`, within the daemon's output cap.
    pub fn for_attempt(
        attempt: &crate::domain::AttemptRequest,
        user: impl Into<String>,
        password: impl Into<String>,
        output_cap: usize,
        legacy: bool,
    ) -> Self {
        Self {
            trusted_host_key: attempt.trusted_host_key.clone(),
            routeros_major: attempt.routeros_major,
            timeout: Duration::from_secs(attempt.timeout_secs.max(1)),
            output_cap,
            legacy,
            ..Self::new(attempt.host.clone(), attempt.port, user, password)
        }
    }
}

impl std::fmt::Debug for CollectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectRequest")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .field("trusted_host_key", &self.trusted_host_key)
            .field("routeros_major", &self.routeros_major)
            .field("timeout", &self.timeout)
            .field("output_cap", &self.output_cap)
            .field("legacy", &self.legacy)
            .field("source_address", &self.source_address)
            .finish()
    }
}

/// A complete export, collected and checked.
#[derive(Clone)]
pub struct Collected {
    /// The export as the device printed it (stdout).
    pub export: String,
    /// The export normalized (what is hashed and stored).
    pub normalized: String,
    /// SHA-256 of `normalized`, lowercase hex.
    pub sha256: String,
    /// What the device printed on stderr (usually nothing).
    pub stderr: String,
    /// The command's exit status (always 0: anything else is a failure).
    pub exit_status: u32,
    /// Fingerprint of the host key the device presented (`SHA256:…`).
    pub host_key: String,
    /// RouterOS version from the export's header (`7.15.3`).
    pub routeros_version: String,
    /// Its major version: pass it back as [`CollectRequest::routeros_major`].
    pub routeros_major: u32,
    /// The command that produced the export.
    pub command: ExportCommand,
    /// Whether the device was asked twice (the first command was wrong for
    /// its version).
    pub retried: bool,
    /// Bytes read (stdout and stderr) over every connection of the attempt.
    pub bytes_read: usize,
    pub duration: Duration,
}

impl std::fmt::Debug for Collected {
    // The export is config text: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected")
            .field("sha256", &self.sha256)
            .field("bytes", &self.normalized.len())
            .field("host_key", &self.host_key)
            .field("routeros_version", &self.routeros_version)
            .field("command", &self.command)
            .field("retried", &self.retried)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// A failed collection, classified. The message holds no secret and no
/// config text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub struct CollectFailure {
    pub kind: FailureKind,
    pub message: String,
    /// How far the attempt got (`KeyExchange` or earlier: no password sent).
    pub stage: Stage,
    /// The host key the device presented, when key exchange got that far.
    pub host_key: Option<String>,
    /// The major version learned on the way (6 when RouterOS 6 refused
    /// `show-sensitive`), even though the attempt failed.
    pub routeros_major: Option<u32>,
    pub duration: Duration,
}

/// The SSH collector. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct Collector {
    modern: Arc<client::Config>,
    legacy: Arc<client::Config>,
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

/// The real clock of this module: the deadline and the durations.
fn now() -> Instant {
    #[allow(clippy::disallowed_methods)] // the collector's deadline is wall time by nature
    Instant::now()
}

/// Normalise a trusted fingerprint as operators may write it: with or
/// without `SHA256:`, with or without base64 padding.
pub fn normalise_fingerprint(fingerprint: &str) -> String {
    let body = fingerprint.trim();
    let body = body.strip_prefix("SHA256:").unwrap_or(body);
    format!("SHA256:{}", body.trim_end_matches('='))
}

/// `SHA256:` + unpadded base64: what `ssh-keygen -l` prints.
fn fingerprint_of(key: &PublicKeyOrCertificate) -> String {
    match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => {
            key.fingerprint(HashAlg::Sha256).to_string()
        }
        PublicKeyOrCertificate::Certificate(cert) => {
            cert.public_key().fingerprint(HashAlg::Sha256).to_string()
        }
    }
}

// === impl Collector ===

impl Collector {
    pub fn new() -> Self {
        Self {
            modern: Arc::new(ssh_config(false)),
            legacy: Arc::new(ssh_config(true)),
        }
    }

    /// The russh configuration used for a request (exposed for benchmarks
    /// and tests that need a bare client with the same settings).
    pub fn ssh_config(&self, legacy: bool) -> Arc<client::Config> {
        if legacy {
            self.legacy.clone()
        } else {
            self.modern.clone()
        }
    }

    /// Collect one export (see the module doc). Never panics on anything a
    /// device sends; returns within `request.timeout` (plus scheduling).
    pub async fn collect(&self, request: &CollectRequest) -> Result<Collected, CollectFailure> {
        let started = now();
        let deadline = started + request.timeout;
        let progress = Progress::default();
        let result =
            tokio::time::timeout_at(deadline, self.attempt(request, deadline, &progress)).await;
        let finished = now();
        let symptom = match result {
            Ok(Ok(mut collected)) => {
                collected.duration = finished.duration_since(started);
                return Ok(collected);
            }
            Ok(Err(symptom)) if finished >= deadline && progress.deadline_may_explain(&symptom) => {
                progress.deadline_symptom(finished.duration_since(started))
            }
            Ok(Err(symptom)) => symptom,
            Err(_elapsed) => progress.deadline_symptom(finished.duration_since(started)),
        };
        let (kind, message) = classify(&symptom);
        let stage = match &symptom {
            Symptom::BadExport(_) => Stage::Validate,
            _ => progress.stage(),
        };
        let failure = CollectFailure {
            kind,
            message,
            stage,
            host_key: progress.host_key(),
            routeros_major: progress.learned_major(),
            duration: finished.duration_since(started),
        };
        tracing::debug!(host = %request.host, port = request.port, kind = failure.kind.name(), stage = %failure.stage, message = %failure.message, "collection failed");
        Err(failure)
    }

    /// The whole attempt: one or two connections (see the module doc).
    async fn attempt(
        &self,
        request: &CollectRequest,
        deadline: Instant,
        progress: &Progress,
    ) -> Result<Collected, Symptom> {
        let first = ExportCommand::for_major(request.routeros_major);
        let answer = self.run_once(request, first, deadline, progress).await?;
        let mut bytes_read = answer.bytes();
        match first {
            ExportCommand::ShowSensitive
                if output::is_v6_syntax_error(&answer.stdout, &answer.stderr) =>
            {
                progress.learn_major(6);
                tracing::debug!(host = %request.host, "RouterOS 6: asking again with plain /export");
                let retry = async {
                    let answer = self
                        .run_once(request, ExportCommand::Plain, deadline, progress)
                        .await?;
                    bytes_read += answer.bytes();
                    answer.finish(ExportCommand::Plain, true, bytes_read, progress)
                };
                retry.await.map_err(|symptom| match symptom {
                    // A deadline is reported as such, not as a failed retry.
                    Symptom::Deadline { .. } => symptom,
                    other => Symptom::V6RetryFailed(Box::new(other)),
                })
            }
            ExportCommand::Plain => {
                let collected = answer.finish(ExportCommand::Plain, false, bytes_read, progress)?;
                if collected.routeros_major <= 6 {
                    return Ok(collected);
                }
                // Plain `/export` hides secrets on 7: ask again properly.
                tracing::debug!(host = %request.host, "RouterOS 7 asked with plain /export: asking again with show-sensitive");
                let answer = self
                    .run_once(request, ExportCommand::ShowSensitive, deadline, progress)
                    .await?;
                bytes_read += answer.bytes();
                answer.finish(ExportCommand::ShowSensitive, true, bytes_read, progress)
            }
            ExportCommand::ShowSensitive => {
                answer.finish(ExportCommand::ShowSensitive, false, bytes_read, progress)
            }
        }
    }

    /// One connection: connect, key exchange, auth, exec, read to the end.
    async fn run_once(
        &self,
        request: &CollectRequest,
        command: ExportCommand,
        deadline: Instant,
        progress: &Progress,
    ) -> Result<Answer, Symptom> {
        progress.set_stage(Stage::Connect);
        let tcp = connect_tcp(request).await?;
        progress.connected.store(true, Ordering::Relaxed);
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("set_nodelay failed: {e}");
        }

        progress.set_stage(Stage::KeyExchange);
        let verifier = HostKeyCheck {
            trusted: request
                .trusted_host_key
                .as_deref()
                .map(normalise_fingerprint),
            presented: progress.host_key.clone(),
        };
        let config = self.ssh_config(request.legacy);
        let mut session =
            client::connect_stream(config, DeadlineStream::new(tcp, deadline), verifier)
                .await
                .map_err(|e| match e {
                    HandshakeError::HostKeyMismatch { presented, trusted } => {
                        Symptom::HostKeyMismatch { presented, trusted }
                    }
                    HandshakeError::Ssh(error) => Symptom::Ssh {
                        stage: Stage::KeyExchange,
                        error,
                    },
                })?;

        progress.set_stage(Stage::Auth);
        let result = authenticate(&mut session, request).await;
        let answer = match result {
            Ok(()) => exec_and_read(&session, request, command, progress).await,
            Err(symptom) => Err(symptom),
        };
        // Best effort: the device may already be gone, and the socket stops
        // at the deadline anyway.
        let _ = session
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        answer
    }
}

/// The russh client configuration (see the module doc for the choices).
fn ssh_config(legacy: bool) -> client::Config {
    let modern = Preferred::DEFAULT;
    // `ssh-rsa` (RSA with SHA-1) is legacy: keep only the SHA-2 variants.
    let modern_keys: Vec<_> = modern
        .key
        .iter()
        .filter(|a| !matches!(a, russh::keys::Algorithm::Rsa { hash: None }))
        .cloned()
        .collect();
    let preferred = if legacy {
        let mut kex_names = modern.kex.to_vec();
        // Before the extension pseudo-algorithms, which must stay last.
        let at = kex_names
            .iter()
            .position(|n| *n == kex::EXTENSION_SUPPORT_AS_CLIENT)
            .unwrap_or(kex_names.len());
        for (i, name) in [
            kex::ECDH_SHA2_NISTP256,
            kex::ECDH_SHA2_NISTP384,
            kex::ECDH_SHA2_NISTP521,
            kex::DH_GEX_SHA1,
            kex::DH_G14_SHA1,
            kex::DH_G1_SHA1,
        ]
        .into_iter()
        .enumerate()
        {
            kex_names.insert(at + i, name);
        }
        let mut macs = modern.mac.to_vec();
        macs.extend([mac::HMAC_SHA1_ETM, mac::HMAC_SHA1]);
        let mut ciphers = modern.cipher.to_vec();
        ciphers.extend([
            cipher::AES_256_CBC,
            cipher::AES_192_CBC,
            cipher::AES_128_CBC,
        ]);
        Preferred {
            kex: kex_names.into(),
            key: modern.key.clone(),
            cipher: ciphers.into(),
            mac: macs.into(),
            ..modern
        }
    } else {
        Preferred {
            key: modern_keys.into(),
            ..modern
        }
    };
    client::Config {
        window_size: WINDOW_SIZE,
        nodelay: true,
        preferred,
        // The deadline bounds everything; no keepalives, no inactivity timer.
        inactivity_timeout: None,
        keepalive_interval: None,
        ..Default::default()
    }
}

/// Resolve the host and open a TCP connection to the first address that
/// answers.
async fn connect_tcp(request: &CollectRequest) -> Result<TcpStream, Symptom> {
    let addrs: Vec<SocketAddr> = match request.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, request.port)],
        Err(_) => tokio::net::lookup_host((request.host.as_str(), request.port))
            .await
            .map_err(|e| Symptom::Resolve {
                host: request.host.clone(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    let mut last_error = None;
    for addr in addrs {
        let result = match request.source_address {
            None => TcpStream::connect(addr).await,
            Some(source) if source.is_ipv4() != addr.is_ipv4() => continue,
            Some(source) => {
                let socket = if source.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                };
                match socket.and_then(|s| s.bind(SocketAddr::new(source, 0)).map(|()| s)) {
                    Ok(socket) => socket.connect(addr).await,
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some((addr, error)),
        }
    }
    Err(match last_error {
        Some((addr, error)) => Symptom::Tcp {
            addr: addr.to_string(),
            error,
        },
        None => Symptom::Resolve {
            host: request.host.clone(),
            reason: "no usable address".to_owned(),
        },
    })
}

/// Key first (when configured), then password. A refusal is final: the
/// collector never tries the same credentials twice.
async fn authenticate(
    session: &mut Handle<HostKeyCheck>,
    request: &CollectRequest,
) -> Result<(), Symptom> {
    let ssh = |error| Symptom::Ssh {
        stage: Stage::Auth,
        error,
    };
    let mut offered = String::new();
    if let Some(key) = &request.private_key {
        let hash = if key.algorithm().is_rsa() {
            session
                .best_supported_rsa_hash()
                .await
                .map_err(ssh)?
                .flatten()
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(key.clone(), hash);
        match session
            .authenticate_publickey(request.user.as_str(), key)
            .await
        {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure {
                remaining_methods, ..
            }) => offered = methods_text(&remaining_methods),
            Err(russh::Error::NoAuthMethod) => {}
            Err(error) => return Err(ssh(error)),
        }
    }
    let Some(password) = &request.password else {
        return Err(if offered.is_empty() {
            Symptom::NoAuthMethod
        } else {
            Symptom::AuthRejected { methods: offered }
        });
    };
    match session
        .authenticate_password(request.user.as_str(), password.as_str())
        .await
    {
        Ok(AuthResult::Success) => Ok(()),
        // russh reports a session that ended while we waited as a failure
        // offering nothing: that is a lost connection (transient), not a
        // refused password. A real refusal lists what the device accepts.
        Ok(AuthResult::Failure {
            remaining_methods,
            partial_success: false,
        }) if remaining_methods.is_empty() && session.is_closed() => Err(Symptom::Ssh {
            stage: Stage::Auth,
            error: russh::Error::Disconnect,
        }),
        Ok(AuthResult::Failure {
            remaining_methods, ..
        }) => Err(Symptom::AuthRejected {
            methods: methods_text(&remaining_methods),
        }),
        Err(russh::Error::NoAuthMethod) => Err(Symptom::NoAuthMethod),
        Err(error) => Err(ssh(error)),
    }
}

fn methods_text(methods: &russh::MethodSet) -> String {
    let names: Vec<&str> = methods.iter().map(<&str>::from).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Open a session channel, run the command, read until the channel closes.
async fn exec_and_read(
    session: &Handle<HostKeyCheck>,
    request: &CollectRequest,
    command: ExportCommand,
    progress: &Progress,
) -> Result<Answer, Symptom> {
    progress.set_stage(Stage::Exec);
    let ssh = |stage| move |error| Symptom::Ssh { stage, error };
    let mut channel = session
        .channel_open_session()
        .await
        .map_err(ssh(Stage::Exec))?;
    channel
        .exec(true, command.command_line())
        .await
        .map_err(ssh(Stage::Exec))?;

    progress.set_stage(Stage::Read);
    let mut reader = Reader::new(command, request.output_cap);
    while let Some(message) = channel.wait().await {
        let event = match &message {
            ChannelMsg::Data { data } => ChannelEvent::Stdout(data),
            ChannelMsg::ExtendedData { data, .. } => ChannelEvent::Stderr(data),
            ChannelMsg::ExitStatus { exit_status } => ChannelEvent::ExitStatus(*exit_status),
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                ..
            } => {
                let core = if *core_dumped { " (core dumped)" } else { "" };
                ChannelEvent::ExitSignal(format!("{signal_name:?}{core}"))
            }
            ChannelMsg::Failure => ChannelEvent::Failure,
            ChannelMsg::Close => ChannelEvent::Close,
            _ => continue,
        };
        if reader.feed(event, progress)?.is_break() {
            break;
        }
    }
    reader.end()
}

// === the answer of one command ===

/// What one command printed, bounded by the cap.
#[derive(Debug, Default)]
struct Answer {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit_status: Option<u32>,
}

impl Answer {
    fn bytes(&self) -> usize {
        self.stdout.len() + self.stderr.len()
    }

    /// Keep a chunk, or stop at the cap before it is exceeded.
    fn take(
        &mut self,
        data: &[u8],
        stderr: bool,
        cap: usize,
        progress: &Progress,
    ) -> Result<(), Symptom> {
        if self.bytes().saturating_add(data.len()) > cap {
            return Err(Symptom::TooLarge { cap });
        }
        if stderr {
            self.stderr.extend_from_slice(data);
        } else {
            self.stdout.extend_from_slice(data);
        }
        progress.bytes.fetch_add(data.len(), Ordering::Relaxed);
        Ok(())
    }

    /// The completeness gate, then normalize and hash.
    fn finish(
        self,
        command: ExportCommand,
        retried: bool,
        bytes_read: usize,
        progress: &Progress,
    ) -> Result<Collected, Symptom> {
        progress.set_stage(Stage::Validate);
        let exit_status = self.exit_status.unwrap_or_default();
        let good =
            output::check(&self.stdout, &self.stderr, exit_status).map_err(Symptom::BadExport)?;
        progress.learn_major(good.header.major);
        // `check` proved stdout is UTF-8; this cannot fail, but a device's
        // bytes never justify a panic.
        let export = String::from_utf8(self.stdout).map_err(|e| {
            Symptom::BadExport(output::BadExport::NotAnExport(
                normalize::NotAnExport::NotText {
                    offset: e.utf8_error().valid_up_to(),
                },
            ))
        })?;
        let (normalized, sha256) = normalize::normalized_hash(&export);
        Ok(Collected {
            export,
            normalized,
            sha256,
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
            exit_status,
            host_key: progress.host_key().unwrap_or_default(),
            routeros_version: good.header.version,
            routeros_major: good.header.major,
            command,
            retried,
            bytes_read,
            duration: Duration::ZERO,
        })
    }
}

// === progress: what the deadline reports ===

/// How far an attempt got, shared with the future the deadline may cancel.
#[derive(Debug, Default)]
struct Progress {
    stage: AtomicU8,
    connected: AtomicBool,
    bytes: AtomicUsize,
    /// 0: unknown, else the major version learned.
    major: AtomicU8,
    host_key: Arc<Mutex<Option<String>>>,
}

impl Progress {
    fn set_stage(&self, stage: Stage) {
        self.stage.store(stage.as_u8(), Ordering::Relaxed);
    }

    fn stage(&self) -> Stage {
        Stage::from_u8(self.stage.load(Ordering::Relaxed))
    }

    fn learn_major(&self, major: u32) {
        self.major
            .store(u8::try_from(major).unwrap_or(u8::MAX), Ordering::Relaxed);
    }

    fn learned_major(&self) -> Option<u32> {
        match self.major.load(Ordering::Relaxed) {
            0 => None,
            major => Some(u32::from(major)),
        }
    }

    fn host_key(&self) -> Option<String> {
        self.host_key.lock().map(|k| k.clone()).unwrap_or_default()
    }

    fn deadline_symptom(&self, after: Duration) -> Symptom {
        Symptom::Deadline {
            stage: self.stage(),
            after,
            connected: self.connected.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Whether a symptom seen at the deadline may be the deadline's doing (the
    /// socket stops there, which looks like a dropped connection).
    fn deadline_may_explain(&self, symptom: &Symptom) -> bool {
        matches!(
            symptom,
            Symptom::NoExitStatus { .. } | Symptom::Ssh { .. } | Symptom::Tcp { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_at_least_two_mib_and_nodelay_is_on() {
        for legacy in [false, true] {
            let config = ssh_config(legacy);
            assert!(config.window_size >= 2 * 1024 * 1024);
            assert!(config.nodelay);
        }
    }

    #[test]
    fn legacy_algorithms_are_off_by_default_and_on_when_asked() {
        let modern = ssh_config(false).preferred;
        let legacy = ssh_config(true).preferred;
        let sha1_kex = [kex::DH_G14_SHA1, kex::DH_GEX_SHA1, kex::DH_G1_SHA1];
        assert!(sha1_kex.iter().all(|k| !modern.kex.contains(k)));
        assert!(sha1_kex.iter().all(|k| legacy.kex.contains(k)));
        assert!(!modern.mac.contains(&mac::HMAC_SHA1));
        assert!(legacy.mac.contains(&mac::HMAC_SHA1));
        let ssh_rsa = russh::keys::Algorithm::Rsa { hash: None };
        assert!(!modern.key.contains(&ssh_rsa));
        assert!(legacy.key.contains(&ssh_rsa));
        // The extension markers stay last, where russh expects them.
        assert_eq!(
            legacy
                .kex
                .iter()
                .position(|k| *k == kex::EXTENSION_SUPPORT_AS_CLIENT),
            Some(legacy.kex.len() - 4)
        );
    }

    #[test]
    fn fingerprints_are_compared_as_operators_write_them() {
        let canonical = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        assert_eq!(normalise_fingerprint(canonical), canonical);
        assert_eq!(
            normalise_fingerprint("uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s="),
            canonical
        );
        assert_eq!(normalise_fingerprint(&format!(" {canonical} ")), canonical);
    }

    #[test]
    fn the_first_command_follows_the_hint() {
        assert_eq!(ExportCommand::for_major(None), ExportCommand::ShowSensitive);
        assert_eq!(
            ExportCommand::for_major(Some(7)),
            ExportCommand::ShowSensitive
        );
        assert_eq!(ExportCommand::for_major(Some(6)), ExportCommand::Plain);
    }

    #[test]
    fn the_cap_stops_before_it_is_exceeded() {
        let progress = Progress::default();
        let mut answer = Answer::default();
        answer.take(&[b'a'; 10], false, 15, &progress).unwrap();
        answer.take(&[b'a'; 5], true, 15, &progress).unwrap();
        let symptom = answer.take(b"a", false, 15, &progress).unwrap_err();
        assert!(matches!(symptom, Symptom::TooLarge { cap: 15 }));
        assert_eq!(answer.bytes(), 15);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let request = CollectRequest::new("r1", 22, "backup", "hunter2");
        assert!(!format!("{request:?}").contains("hunter2"));
    }
}
