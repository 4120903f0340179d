//! Every way an SSH collection can fail, and the one place that turns it
//! into the domain's [`FailureKind`] (the table is in the parent module's
//! doc; one test per row below).
//!
//! The collector never decides a kind where the failure happens: it records
//! a [`Symptom`] (what happened, at which [`Stage`]) and [`classify`] decides.
//! So the retry policy's view of the world (transient or blocking) is
//! written down once.

use std::io;
use std::time::Duration;

use super::output::BadExport;
use crate::domain::FailureKind;

/// How far an attempt got: the domain's [`AttemptStage`], recorded in a
/// failed outcome as it is.
pub use crate::domain::AttemptStage as Stage;

impl Stage {
    pub(crate) fn as_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(value: u8) -> Stage {
        match value {
            0 => Stage::Connect,
            1 => Stage::KeyExchange,
            2 => Stage::Auth,
            3 => Stage::Exec,
            4 => Stage::Read,
            5 => Stage::Validate,
            _ => Stage::Publish,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// What the collector saw go wrong, before classification: the symptom,
/// which [`classify`] turns into a kind. (Not the testbed's `Fault`, which
/// is what a simulated device is made to do wrong; a fault shows here as
/// whatever symptom the collector runs into.) Never holds a password or
/// config text (device answers are quoted sanitised, see `output`).
#[derive(Debug)]
pub enum Symptom {
    /// The host name did not resolve (or resolved to nothing).
    Resolve { host: String, reason: String },
    /// The TCP connection could not be opened.
    Tcp { addr: String, error: io::Error },
    /// The deadline passed. `connected`: whether TCP was up by then.
    Deadline {
        stage: Stage,
        after: Duration,
        connected: bool,
        bytes: usize,
    },
    /// The device presented a host key other than the trusted one.
    HostKeyMismatch { presented: String, trusted: String },
    /// The device refused every credential we offered.
    AuthRejected { methods: String },
    /// The device offers no authentication method we can use.
    NoAuthMethod,
    /// The device would not open a session or run the command.
    ExecRefused { reason: String },
    /// The channel or the connection ended before an exit status.
    NoExitStatus {
        bytes: usize,
        signal: Option<String>,
    },
    /// The output went past the cap.
    TooLarge { cap: usize },
    /// The answer is not a complete export.
    BadExport(BadExport),
    /// RouterOS 6 refused `show-sensitive`, and plain `/export` failed too.
    V6RetryFailed(Box<Symptom>),
    /// An SSH protocol error from russh, at this stage.
    Ssh { stage: Stage, error: russh::Error },
}

/// The failure kind and an operator-facing message for a symptom.
///
/// The one place where failures are classified; see the table in the
/// parent module's doc.
pub fn classify(symptom: &Symptom) -> (FailureKind, String) {
    match symptom {
        Symptom::Resolve { host, reason } => (
            FailureKind::Unreachable,
            format!("cannot resolve {host:?}: {reason}"),
        ),
        Symptom::Tcp { addr, error } => (
            tcp_kind(error),
            format!("cannot connect to {addr}: {error}"),
        ),
        Symptom::Deadline {
            stage,
            after,
            connected: false,
            ..
        } => (
            FailureKind::Unreachable,
            format!(
                "no TCP connection within {:.1} s while {stage}: host down or filtered",
                after.as_secs_f64()
            ),
        ),
        Symptom::Deadline {
            stage,
            after,
            connected: true,
            bytes,
        } => (
            FailureKind::Timeout,
            format!(
                "timed out after {:.1} s during {stage} ({bytes} bytes of output so far)",
                after.as_secs_f64()
            ),
        ),
        Symptom::HostKeyMismatch { presented, trusted } => (
            FailureKind::HostKeyMismatch {
                presented: presented.clone(),
            },
            format!(
                "the device presented host key {presented}, not the trusted {trusted}: no password was sent"
            ),
        ),
        Symptom::AuthRejected { methods } => (
            FailureKind::AuthFailed,
            format!("the device refused our credentials (it offers: {methods})"),
        ),
        Symptom::NoAuthMethod => (
            FailureKind::AuthFailed,
            "the device offers no authentication method we have credentials for".to_owned(),
        ),
        Symptom::ExecRefused { reason } => (
            FailureKind::Other,
            format!("the device would not run the export: {reason}"),
        ),
        Symptom::NoExitStatus {
            bytes,
            signal: None,
        } => (
            FailureKind::Truncated,
            format!(
                "the output ended without an exit status after {bytes} bytes: a cut-off export"
            ),
        ),
        Symptom::NoExitStatus {
            bytes,
            signal: Some(signal),
        } => (
            FailureKind::Truncated,
            format!("the export command was killed by signal {signal} after {bytes} bytes"),
        ),
        Symptom::TooLarge { cap } => (
            FailureKind::TooLarge,
            format!("the output exceeded the cap of {cap} bytes; connection closed"),
        ),
        Symptom::BadExport(bad) => (FailureKind::InvalidOutput, bad.to_string()),
        Symptom::V6RetryFailed(inner) => {
            let (kind, message) = classify(inner);
            (
                kind,
                format!(
                    "RouterOS 6 refused `/export show-sensitive`; plain `/export` then failed: {message}"
                ),
            )
        }
        Symptom::Ssh { stage, error } => ssh_kind(*stage, error),
    }
}

/// A failed TCP connect, by the operating system's answer.
fn tcp_kind(error: &io::Error) -> FailureKind {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => FailureKind::ConnectionRefused,
        io::ErrorKind::TimedOut => FailureKind::Unreachable,
        io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::NetworkDown => FailureKind::Unreachable,
        _ => FailureKind::Other,
    }
}

/// An error of the SSH layer, by what it means for the operator.
fn ssh_kind(stage: Stage, error: &russh::Error) -> (FailureKind, String) {
    use russh::Error as E;
    let at = stage.describe();
    match error {
        E::IO(io) if io.kind() == io::ErrorKind::TimedOut => {
            (FailureKind::Timeout, format!("timed out during {at}: {io}"))
        }
        // The connection dropped while the export was streaming: what we
        // have is a cut-off export.
        E::IO(_) | E::Disconnect | E::HUP if stage >= Stage::Read => (
            FailureKind::Truncated,
            format!("the connection dropped during {at}: {error}"),
        ),
        E::NoCommonAlgo { kind, .. } => (
            FailureKind::Other,
            format!(
                "no common {kind:?} algorithm with the device (old RouterOS may need legacy algorithms: SHA-1 key exchange, ssh-rsa)"
            ),
        ),
        E::Version => (
            FailureKind::Other,
            "the device did not identify as an SSH server".to_owned(),
        ),
        E::UnknownKey | E::WrongServerSig => (
            FailureKind::Other,
            format!("the device's host key could not be verified during {at}: {error}"),
        ),
        E::ChannelOpenFailure(reason) => (
            FailureKind::Other,
            format!("the device would not open a session: {reason:?}"),
        ),
        _ => (
            FailureKind::Other,
            format!("SSH error during {at}: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(symptom: Symptom) -> FailureKind {
        classify(&symptom).0
    }

    // One test per row of the table in the parent module's doc.

    #[test]
    fn row_name_does_not_resolve_is_unreachable() {
        let symptom = Symptom::Resolve {
            host: "nowhere.invalid".into(),
            reason: "no such host".into(),
        };
        assert_eq!(kind(symptom), FailureKind::Unreachable);
    }

    #[test]
    fn row_tcp_refused_is_connection_refused() {
        let symptom = Symptom::Tcp {
            addr: "127.0.0.1:1".into(),
            error: io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(kind(symptom), FailureKind::ConnectionRefused);
    }

    #[test]
    fn row_no_route_is_unreachable() {
        for error in [
            io::ErrorKind::HostUnreachable,
            io::ErrorKind::NetworkUnreachable,
            io::ErrorKind::AddrNotAvailable,
            io::ErrorKind::TimedOut,
        ] {
            let symptom = Symptom::Tcp {
                addr: "192.0.2.1:22".into(),
                error: error.into(),
            };
            assert_eq!(kind(symptom), FailureKind::Unreachable, "{error:?}");
        }
    }

    #[test]
    fn row_deadline_before_tcp_is_unreachable() {
        let symptom = Symptom::Deadline {
            stage: Stage::Connect,
            after: Duration::from_secs(3),
            connected: false,
            bytes: 0,
        };
        assert_eq!(kind(symptom), FailureKind::Unreachable);
    }

    #[test]
    fn row_deadline_after_tcp_is_timeout_at_every_stage() {
        for stage in [
            Stage::Connect,
            Stage::KeyExchange,
            Stage::Auth,
            Stage::Exec,
            Stage::Read,
        ] {
            let symptom = Symptom::Deadline {
                stage,
                after: Duration::from_secs(3),
                connected: true,
                bytes: 10,
            };
            let (kind, message) = classify(&symptom);
            assert_eq!(kind, FailureKind::Timeout);
            assert!(message.contains(stage.describe()), "{message}");
        }
    }

    #[test]
    fn row_io_timeout_from_the_ssh_layer_is_timeout() {
        let symptom = Symptom::Ssh {
            stage: Stage::KeyExchange,
            error: russh::Error::IO(io::ErrorKind::TimedOut.into()),
        };
        assert_eq!(kind(symptom), FailureKind::Timeout);
    }

    #[test]
    fn row_host_key_mismatch_carries_the_presented_key() {
        let symptom = Symptom::HostKeyMismatch {
            presented: "SHA256:new".into(),
            trusted: "SHA256:old".into(),
        };
        assert_eq!(
            kind(symptom),
            FailureKind::HostKeyMismatch {
                presented: "SHA256:new".into()
            }
        );
    }

    #[test]
    fn row_refused_credentials_are_auth_failed() {
        let symptom = Symptom::AuthRejected {
            methods: "password".into(),
        };
        assert_eq!(kind(symptom), FailureKind::AuthFailed);
        assert_eq!(kind(Symptom::NoAuthMethod), FailureKind::AuthFailed);
    }

    #[test]
    fn row_exec_refused_is_other() {
        let symptom = Symptom::ExecRefused {
            reason: "channel request failed".into(),
        };
        assert_eq!(kind(symptom), FailureKind::Other);
        let symptom = Symptom::Ssh {
            stage: Stage::Exec,
            error: russh::Error::ChannelOpenFailure(
                russh::ChannelOpenFailure::AdministrativelyProhibited,
            ),
        };
        assert_eq!(kind(symptom), FailureKind::Other);
    }

    #[test]
    fn row_no_exit_status_is_truncated() {
        let symptom = Symptom::NoExitStatus {
            bytes: 100,
            signal: None,
        };
        assert_eq!(kind(symptom), FailureKind::Truncated);
        let symptom = Symptom::NoExitStatus {
            bytes: 100,
            signal: Some("KILL".into()),
        };
        assert_eq!(kind(symptom), FailureKind::Truncated);
    }

    #[test]
    fn row_connection_dropped_while_reading_is_truncated() {
        for error in [
            russh::Error::Disconnect,
            russh::Error::HUP,
            russh::Error::IO(io::ErrorKind::ConnectionReset.into()),
        ] {
            let symptom = Symptom::Ssh {
                stage: Stage::Read,
                error,
            };
            assert_eq!(kind(symptom), FailureKind::Truncated);
        }
    }

    #[test]
    fn row_output_over_the_cap_is_too_large() {
        assert_eq!(kind(Symptom::TooLarge { cap: 1024 }), FailureKind::TooLarge);
    }

    #[test]
    fn row_bad_exports_are_invalid_output() {
        let bads = [
            BadExport::ExitStatus {
                status: 1,
                first_line: String::new(),
            },
            BadExport::RouterOsError {
                line: "bad command name x".into(),
            },
            BadExport::NotAnExport(crate::domain::normalize::NotAnExport::Empty),
            BadExport::NoHeader {
                first_line: "/ip address".into(),
            },
        ];
        for bad in bads {
            assert_eq!(kind(Symptom::BadExport(bad)), FailureKind::InvalidOutput);
        }
    }

    #[test]
    fn row_v6_retry_failure_keeps_the_retry_kind() {
        let inner = Symptom::NoExitStatus {
            bytes: 5,
            signal: None,
        };
        let (kind, message) = classify(&Symptom::V6RetryFailed(Box::new(inner)));
        assert_eq!(kind, FailureKind::Truncated);
        assert!(message.contains("RouterOS 6"), "{message}");
    }

    #[test]
    fn row_no_common_algorithm_is_other_and_mentions_legacy() {
        let symptom = Symptom::Ssh {
            stage: Stage::KeyExchange,
            error: russh::Error::NoCommonAlgo {
                kind: russh::AlgorithmKind::Kex,
                ours: vec![],
                theirs: vec![],
            },
        };
        let (kind, message) = classify(&symptom);
        assert_eq!(kind, FailureKind::Other);
        assert!(message.contains("legacy"), "{message}");
    }

    #[test]
    fn row_not_an_ssh_server_is_other() {
        let symptom = Symptom::Ssh {
            stage: Stage::KeyExchange,
            error: russh::Error::Version,
        };
        assert_eq!(kind(symptom), FailureKind::Other);
    }

    #[test]
    fn row_other_protocol_errors_are_other() {
        for (stage, error) in [
            (Stage::KeyExchange, russh::Error::Disconnect),
            (Stage::Auth, russh::Error::DecryptionError),
            (Stage::Connect, russh::Error::Inconsistent),
        ] {
            assert_eq!(kind(Symptom::Ssh { stage, error }), FailureKind::Other);
        }
    }

    #[test]
    fn other_io_errors_at_connect_are_other() {
        let symptom = Symptom::Tcp {
            addr: "x".into(),
            error: io::ErrorKind::PermissionDenied.into(),
        };
        assert_eq!(kind(symptom), FailureKind::Other);
    }
}
