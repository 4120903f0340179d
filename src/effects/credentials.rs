//! Sealed credentials, as the platform stores them, opened for one attempt.
//!
//! A PostgreSQL inventory row carries its login sealed in up to four places,
//! tried in the platform's order: the device's transit ciphertext
//! (`vault:v1:…`, opened by OpenBao's transit engine under the key
//! `tenant_<tenant_id>`), the device's legacy bytea (AES-256-GCM,
//! `nonce(12) ‖ ciphertext ‖ tag(16)` under `CREDENTIAL_ENCRYPTION_KEY`),
//! then the same two of its credential profile. The first one present is
//! the one used: a value that does not open is that device's failure,
//! naming the column, never a silent fall-through to an older secret.
//!
//! The plaintext is JSON, `{"type":"routeros","username":…,"password":…}`
//! (`type` may be absent) or `{"type":"ssh_key","username":…,
//! "private_key":…}`. It lives in memory for the attempt only and no error
//! here quotes it.

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use crate::domain::TenantId;

/// Where a sealed value was read from, as the operator finds it in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    DeviceTransit,
    DeviceLegacy,
    ProfileTransit,
    ProfileLegacy,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::DeviceTransit => "devices.encrypted_credentials_transit",
            Column::DeviceLegacy => "devices.encrypted_credentials",
            Column::ProfileTransit => "credential_profiles.encrypted_credentials_transit",
            Column::ProfileLegacy => "credential_profiles.encrypted_credentials",
        }
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One sealed login, as stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Sealed {
    /// OpenBao transit ciphertext (`vault:v1:…`).
    Transit(String),
    /// AES-256-GCM bytes: nonce, ciphertext, tag.
    Legacy(Vec<u8>),
}

/// The login of one device: the value to open and where it came from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SealedLogin {
    pub tenant: TenantId,
    pub column: Column,
    pub value: Sealed,
}

impl std::fmt::Debug for SealedLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedLogin({}, <sealed>)", self.column)
    }
}

impl SealedLogin {
    /// The first present of the four places, in the platform's order.
    pub fn first_present(
        tenant: &TenantId,
        candidates: [(Column, Option<Sealed>); 4],
    ) -> Option<SealedLogin> {
        candidates
            .into_iter()
            .find_map(|(column, value)| value.map(|value| (column, value)))
            .map(|(column, value)| SealedLogin {
                tenant: tenant.clone(),
                column,
                value,
            })
    }

    /// A digest of the sealed value: it changes when the platform writes new
    /// credentials, so the scheduler sees the change without the secret.
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.column.name().as_bytes());
        match &self.value {
            Sealed::Transit(t) => h.update(t.as_bytes()),
            Sealed::Legacy(b) => h.update(b),
        }
        hex::encode(&h.finalize()[..8])
    }
}

/// How to log in, opened.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub secret: Secret,
}

/// The secret half of a login.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Password(String),
    /// An OpenSSH private key, PEM/OpenSSH text.
    PrivateKey(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(<redacted>)"),
            Secret::PrivateKey(_) => f.write_str("PrivateKey(<redacted>)"),
        }
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.secret {
            Secret::Password(_) => "password",
            Secret::PrivateKey(_) => "private key",
        };
        write!(f, "Login({}, {kind} <redacted>)", self.user)
    }
}

/// Why a sealed login could not be opened. Names the column; never holds
/// the plaintext or the key.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{column}: legacy ciphertext but CREDENTIAL_ENCRYPTION_KEY is not set (the collector cannot open it)"
    )]
    NoKey { column: Column },
    #[error("{column}: transit ciphertext but OPENBAO_ADDR / OPENBAO_TOKEN are not set")]
    NoTransit { column: Column },
    #[error("{column}: {len} bytes, too short for AES-GCM (nonce 12 + tag 16)")]
    TooShort { column: Column, len: usize },
    #[error(
        "{column}: does not decrypt under CREDENTIAL_ENCRYPTION_KEY (wrong key, or the value was altered)"
    )]
    Undecryptable { column: Column },
    #[error("{column}: OpenBao transit decrypt with key tenant_{tenant} failed: {reason}")]
    Transit {
        column: Column,
        tenant: TenantId,
        reason: String,
    },
    #[error("{column}: the decrypted credentials are not the expected JSON: {reason}")]
    Malformed { column: Column, reason: String },
}

/// A `CREDENTIAL_ENCRYPTION_KEY` that cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("CREDENTIAL_ENCRYPTION_KEY is not base64: {0}")]
    NotBase64(String),
    #[error("CREDENTIAL_ENCRYPTION_KEY decodes to {0} bytes; AES-256 needs exactly 32")]
    WrongLength(usize),
}

/// The AES-256-GCM key of the legacy column.
#[derive(Clone)]
pub struct LegacyKey(Arc<Aes256Gcm>);

impl std::fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegacyKey(<redacted>)")
    }
}

impl LegacyKey {
    /// From the base64 text of `CREDENTIAL_ENCRYPTION_KEY`.
    pub fn parse(text: &str) -> Result<LegacyKey, KeyError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|e| KeyError::NotBase64(e.to_string()))?;
        let cipher =
            Aes256Gcm::new_from_slice(&bytes).map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(LegacyKey(Arc::new(cipher)))
    }

    fn open(&self, column: Column, blob: &[u8]) -> Result<Vec<u8>, OpenError> {
        if blob.len() < 12 + 16 {
            return Err(OpenError::TooShort {
                column,
                len: blob.len(),
            });
        }
        let (nonce, sealed) = blob.split_at(12);
        self.0
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| OpenError::Undecryptable { column })
    }

    /// Seal `plaintext` as the platform does, with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        // A nonce must never repeat under one key: the OS's generator, not
        // a seeded one (this is a credential, not a scheduling decision).
        #[allow(clippy::disallowed_methods)]
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }
}

/// OpenBao's transit engine, reached over HTTP(S).
#[derive(Clone)]
pub struct Transit {
    addr: String,
    token: Arc<str>,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for Transit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transit({}, token <redacted>)", self.addr)
    }
}

#[derive(Deserialize)]
struct TransitAnswer {
    data: TransitData,
}

#[derive(Deserialize)]
struct TransitData {
    plaintext: String,
}

impl Transit {
    pub fn new(addr: &str, token: &str) -> Transit {
        let http = http_client(std::time::Duration::from_secs(10));
        Transit {
            addr: addr.trim_end_matches('/').to_owned(),
            token: Arc::from(token),
            http,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn open(
        &self,
        column: Column,
        tenant: &TenantId,
        ciphertext: &str,
    ) -> Result<Vec<u8>, OpenError> {
        let fail = |reason: String| OpenError::Transit {
            column,
            tenant: tenant.clone(),
            reason,
        };
        let url = format!("{}/v1/transit/decrypt/tenant_{tenant}", self.addr);
        let http = self
            .http
            .as_ref()
            .ok_or_else(|| fail("no TLS-capable HTTP client could be built".into()))?;
        let answer = http
            .post(&url)
            .header("X-Vault-Token", &*self.token)
            .json(&serde_json::json!({ "ciphertext": ciphertext }))
            .send()
            .await
            .map_err(|e| fail(format!("{} unreachable: {}", self.addr, without_url(e))))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        let body: TransitAnswer = answer
            .json()
            .await
            .map_err(|e| fail(format!("answer without data.plaintext: {}", without_url(e))))?;
        BASE64
            .decode(body.data.plaintext.trim())
            .map_err(|e| fail(format!("data.plaintext is not base64: {e}")))
    }
}

/// An HTTP(S) client on the crate's one TLS stack (rustls with ring, the
/// system's roots), bounded by `timeout` per request. `None` only if TLS
/// cannot be set up at all (then a transit value fails, saying so).
pub fn http_client(timeout: std::time::Duration) -> Option<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let builder = reqwest::Client::builder().timeout(timeout);
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    builder.use_preconfigured_tls(tls).build().ok()
}

/// reqwest's message and its cause, without the URL (we say the address
/// once, and a URL may carry a token in its query).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    match std::error::Error::source(&e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

/// What opens sealed logins: the legacy key and the transit engine, either
/// of which may be absent (a row that needs it then fails, naming why).
#[derive(Debug, Clone, Default)]
pub struct Vault {
    pub legacy: Option<LegacyKey>,
    pub transit: Option<Transit>,
}

impl Vault {
    /// From `CREDENTIAL_ENCRYPTION_KEY`, `OPENBAO_ADDR` and `OPENBAO_TOKEN`
    /// (each optional; a key that is set must be base64 of 32 bytes).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Vault, KeyError> {
        let set = |n: &str| get(n).filter(|v| !v.trim().is_empty());
        let legacy = set("CREDENTIAL_ENCRYPTION_KEY")
            .map(|k| LegacyKey::parse(&k))
            .transpose()?;
        let transit = match (set("OPENBAO_ADDR"), set("OPENBAO_TOKEN")) {
            (Some(addr), Some(token)) => Some(Transit::new(&addr, &token)),
            _ => None,
        };
        Ok(Vault { legacy, transit })
    }

    /// What it can open, for the start-up log (no secret).
    pub fn describe(&self) -> String {
        let legacy = if self.legacy.is_some() {
            "legacy key set"
        } else {
            "no legacy key"
        };
        match &self.transit {
            Some(t) => format!("{legacy}, OpenBao transit at {}", t.addr()),
            None => format!("{legacy}, no OpenBao transit"),
        }
    }
}

#[derive(Deserialize)]
struct Plaintext {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
}

impl Vault {
    /// Open one device's login for an attempt.
    pub async fn open(&self, sealed: &SealedLogin) -> Result<Login, OpenError> {
        let column = sealed.column;
        let bytes = match &sealed.value {
            Sealed::Legacy(blob) => self
                .legacy
                .as_ref()
                .ok_or(OpenError::NoKey { column })?
                .open(column, blob)?,
            Sealed::Transit(text) => {
                self.transit
                    .as_ref()
                    .ok_or(OpenError::NoTransit { column })?
                    .open(column, &sealed.tenant, text)
                    .await?
            }
        };
        parse_login(column, &bytes)
    }
}

/// The plaintext JSON as a login (errors name the field, never its value).
pub fn parse_login(column: Column, bytes: &[u8]) -> Result<Login, OpenError> {
    let malformed = |reason: String| OpenError::Malformed { column, reason };
    let p: Plaintext = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's message may quote a value: keep only where it broke.
        malformed(format!(
            "not JSON with a string `username` (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let secret = match p.kind.as_deref() {
        None | Some("routeros") | Some("password") => Secret::Password(
            p.password
                .ok_or_else(|| malformed("no `password` field".into()))?,
        ),
        Some("ssh_key") => Secret::PrivateKey(
            p.private_key
                .ok_or_else(|| malformed("type ssh_key without `private_key`".into()))?,
        ),
        Some(other) => {
            return Err(malformed(format!(
                "unknown type {:?} (known: routeros, ssh_key)",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    if p.username.is_empty() {
        return Err(malformed("empty `username`".into()));
    }
    Ok(Login {
        user: p.username,
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LegacyKey {
        LegacyKey::parse(&BASE64.encode([7u8; 32])).unwrap()
    }

    fn sealed(column: Column, value: Sealed) -> SealedLogin {
        SealedLogin {
            tenant: TenantId::parse("t1").unwrap(),
            column,
            value,
        }
    }

    #[tokio::test]
    async fn a_legacy_value_opens_to_a_password_login() {
        let k = key();
        let blob = k.seal(br#"{"type":"routeros","username":"backup","password":"s3cret"}"#);
        let vault = Vault {
            legacy: Some(k),
            transit: None,
        };
        let login = vault
            .open(&sealed(Column::DeviceLegacy, Sealed::Legacy(blob)))
            .await
            .unwrap();
        assert_eq!(login.user, "backup");
        assert_eq!(login.secret, Secret::Password("s3cret".into()));
        assert!(!format!("{login:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn failures_name_the_column_and_never_the_secret() {
        let k = key();
        let mut blob = k.seal(br#"{"username":"u","password":"hunter2"}"#);
        blob[20] ^= 1;
        let vault = Vault {
            legacy: Some(k.clone()),
            transit: None,
        };
        let e = vault
            .open(&sealed(Column::ProfileLegacy, Sealed::Legacy(blob)))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credential_profiles.encrypted_credentials"),
            "{e}"
        );
        let e = vault
            .open(&sealed(Column::DeviceLegacy, Sealed::Legacy(vec![1; 5])))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("5 bytes"), "{e}");
        let bad = k.seal(br#"{"username":"u","pass":"hunter2"}"#);
        let e = vault
            .open(&sealed(Column::DeviceLegacy, Sealed::Legacy(bad)))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("password") && !e.contains("hunter2"), "{e}");
        let e = Vault::default()
            .open(&sealed(
                Column::DeviceTransit,
                Sealed::Transit("vault:v1:x".into()),
            ))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("OPENBAO_ADDR"), "{e}");
    }

    #[test]
    fn a_key_must_be_base64_of_32_bytes() {
        assert_eq!(
            LegacyKey::parse(&BASE64.encode([1u8; 16])).unwrap_err(),
            KeyError::WrongLength(16)
        );
        assert!(matches!(
            LegacyKey::parse("not base64!").unwrap_err(),
            KeyError::NotBase64(_)
        ));
    }

    #[test]
    fn the_first_present_source_wins_in_the_platforms_order() {
        let t = TenantId::parse("t").unwrap();
        let pick = SealedLogin::first_present(
            &t,
            [
                (Column::DeviceTransit, None),
                (Column::DeviceLegacy, None),
                (
                    Column::ProfileTransit,
                    Some(Sealed::Transit("vault:v1:p".into())),
                ),
                (Column::ProfileLegacy, Some(Sealed::Legacy(vec![0; 40]))),
            ],
        )
        .unwrap();
        assert_eq!(pick.column, Column::ProfileTransit);
        assert!(
            SealedLogin::first_present(
                &t,
                [
                    (Column::DeviceTransit, None),
                    (Column::DeviceLegacy, None),
                    (Column::ProfileTransit, None),
                    (Column::ProfileLegacy, None),
                ],
            )
            .is_none()
        );
    }

    #[test]
    fn an_ssh_key_login_carries_the_key() {
        let login = parse_login(
            Column::DeviceLegacy,
            br#"{"type":"ssh_key","username":"u","private_key":"-----BEGIN OPENSSH PRIVATE KEY-----"}"#,
        )
        .unwrap();
        assert!(matches!(login.secret, Secret::PrivateKey(_)));
    }
}
