//! The inventory file: which routers to back up, and how to log in.
//!
//! Embedded mode reads a TOML file of `[[device]]` tables:
//!
//! ```toml
//! [[device]]
//! id = "core-1"              # letters, digits, '-', '_' (a subject token and a file name)
//! tenant = "acme"            # default "default"
//! host = "192.0.2.10"        # IP address or host name
//! port = 22                  # default 22
//! user = "backup"
//! password_env = "CORE1_PW"  # or password_file = "/etc/confkeep/core-1.pw", or password = "..."
//! tags = ["core", "v7"]
//! legacy_algorithms = false  # SHA-1 kex/MACs and ssh-rsa, for old RouterOS
//! ```
//!
//! The platform's PostgreSQL inventory is the other source
//! ([`postgres`]): the same [`Inventory`], with sealed logins.
//!
//! Every error names the file, the line and the field. A bad file at start-up
//! stops the daemon; a bad edit while running is reported and the last good
//! inventory stays in force. Changes become `Enrolled` / `Retired` events.
//! Passwords are resolved when needed and never logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::domain::{DeviceId, TenantId};
use crate::effects::credentials::SealedLogin;

pub mod postgres;

/// Where a device's password comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Inline(String),
    File(PathBuf),
    Env(String),
}

impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            PasswordSource::File(p) => write!(f, "File({})", p.display()),
            PasswordSource::Env(v) => write!(f, "Env({v})"),
        }
    }
}

/// Why a password could not be read (never contains the password).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("password file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set")]
    Env(String),
}

impl PasswordSource {
    /// The password itself. Files are read each time, so a rotated password
    /// is picked up without a restart.
    pub fn resolve(&self) -> Result<String, CredentialError> {
        match self {
            PasswordSource::Inline(p) => Ok(p.clone()),
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|source| CredentialError::File {
                    path: path.clone(),
                    source,
                }),
            PasswordSource::Env(var) => {
                std::env::var(var).map_err(|_| CredentialError::Env(var.clone()))
            }
        }
    }
}

/// One router of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryDevice {
    pub id: DeviceId,
    pub tenant: TenantId,
    pub host: String,
    pub port: u16,
    pub login: LoginSource,
    pub tags: Vec<String>,
    pub legacy_algorithms: bool,
    /// The line of the file where the device's password source is given,
    /// for errors about it (0: not from a file).
    pub password_line: usize,
    /// The host key the inventory already trusts (the platform's
    /// `ssh_host_key_fingerprint`), adopted when confkeep trusts none yet.
    pub known_host_key: Option<String>,
    /// Why the device cannot be dialed as the inventory gives it (naming
    /// the column); its attempts fail with this, the others go on.
    pub problem: Option<String>,
}

/// How to log in to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginSource {
    /// From the inventory file: a user and where the password is.
    File {
        user: String,
        password: PasswordSource,
    },
    /// From PostgreSQL: sealed, opened for each attempt (the user is inside).
    Sealed(SealedLogin),
}

impl InventoryDevice {
    /// Which credentials the inventory names for the device: a digest of the
    /// user and the password's source, so the scheduler can tell that an
    /// operator changed them (its fix of a refused login) without ever
    /// holding them. Not a secret, never recorded.
    pub fn credentials_version(&self) -> String {
        use sha2::{Digest, Sha256};
        let (user, password) = match &self.login {
            LoginSource::Sealed(sealed) => return sealed.version(),
            LoginSource::File { user, password } => (user, password),
        };
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        match password {
            PasswordSource::Inline(p) => h.update([b"inline:", p.as_bytes()].concat()),
            PasswordSource::File(f) => {
                h.update([b"file:", f.as_os_str().as_encoded_bytes()].concat())
            }
            PasswordSource::Env(v) => h.update([b"env:", v.as_bytes()].concat()),
        }
        hex::encode(&h.finalize()[..8])
    }
}

/// The whole inventory, by device id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub devices: BTreeMap<DeviceId, InventoryDevice>,
    /// Whether any device carries an inline password (for the permission warning).
    pub has_inline_passwords: bool,
}

/// An inventory file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("inventory {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("inventory {path}, line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("inventory {path}, line {line}, field `{field}`: {message}")]
    Field {
        path: PathBuf,
        line: usize,
        field: &'static str,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    device: Vec<Spanned<FileDevice>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDevice {
    id: Spanned<String>,
    #[serde(default)]
    tenant: Option<Spanned<String>>,
    host: Spanned<String>,
    #[serde(default)]
    port: Option<Spanned<i64>>,
    user: Spanned<String>,
    #[serde(default)]
    password: Option<Spanned<InlinePassword>>,
    #[serde(default)]
    password_file: Option<Spanned<String>>,
    #[serde(default)]
    password_env: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    legacy_algorithms: bool,
}

/// An inline password. Its own deserializer, so that a mistyped value
/// (`password = 1234`) is refused without quoting it in the error, as
/// toml's default message would.
struct InlinePassword(String);

impl std::fmt::Debug for InlinePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for InlinePassword {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = InlinePassword;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string (the value given is not shown: it may be a password)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<InlinePassword, E> {
                Ok(InlinePassword(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<InlinePassword, E> {
                Err(E::custom(
                    "`password` must be a string (the value given is not shown)",
                ))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<InlinePassword, E> {
                Err(E::custom(
                    "`password` must be a string (the value given is not shown)",
                ))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<InlinePassword, E> {
                Err(E::custom(
                    "`password` must be a string (the value given is not shown)",
                ))
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// Line numbers of byte offsets in one text. The newlines are found once:
/// counting them from the start for every device made loading a large
/// inventory quadratic (100 000 devices would take hours).
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        Lines(
            text.bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
        )
    }

    /// The 1-based line of the byte at `offset`.
    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// Whether `host` is an IP address or a plausible DNS name.
fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // No top-level domain is all digits: `10.0.0.256` is a mistyped
    // address, not a name to look up.
    if host
        .rsplit('.')
        .next()
        .is_some_and(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl Inventory {
    /// Read and check an inventory file, credentials included.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.to_owned(),
            source,
        })?;
        let inventory = Self::parse(path, &text)?;
        inventory.check_credentials(path)?;
        Ok(inventory)
    }

    /// Parse inventory text; `path` names it in errors and anchors relative
    /// password files.
    pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
        let lines = Lines::new(text);
        let doc: FileDoc = toml::from_str(text).map_err(|e| InventoryError::Syntax {
            path: path.to_owned(),
            line: e.span().map(|s| lines.of(s.start)).unwrap_or(0),
            message: e.message().to_owned(),
        })?;
        let field = |offset: usize, field: &'static str, message: String| InventoryError::Field {
            path: path.to_owned(),
            line: lines.of(offset),
            field,
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut inventory = Inventory::default();
        let mut seen_at: BTreeMap<DeviceId, usize> = BTreeMap::new();
        for table in doc.device {
            let table_start = table.span().start;
            let d = table.into_inner();
            let id = DeviceId::parse(d.id.get_ref())
                .map_err(|e| field(d.id.span().start, "id", e.to_string()))?;
            if let Some(first) = seen_at.get(&id) {
                return Err(field(
                    d.id.span().start,
                    "id",
                    format!("duplicate device id {id:?} (first defined on line {first})"),
                ));
            }
            seen_at.insert(id.clone(), lines.of(d.id.span().start));
            let tenant = match &d.tenant {
                Some(t) => TenantId::parse(t.get_ref())
                    .map_err(|e| field(t.span().start, "tenant", e.to_string()))?,
                None => TenantId::parse("default")
                    .map_err(|e| field(table_start, "tenant", e.to_string()))?,
            };
            let host = d.host.get_ref().trim().to_owned();
            if !valid_host(&host) {
                return Err(field(
                    d.host.span().start,
                    "host",
                    format!("{host:?} is not an IP address or a host name"),
                ));
            }
            let port = match &d.port {
                None => 22,
                Some(p) => match u16::try_from(*p.get_ref()) {
                    Ok(0) | Err(_) => {
                        return Err(field(
                            p.span().start,
                            "port",
                            format!("{} is not a TCP port (1-65535)", p.get_ref()),
                        ));
                    }
                    Ok(port) => port,
                },
            };
            if d.user.get_ref().is_empty() {
                return Err(field(d.user.span().start, "user", "is empty".into()));
            }
            let (password, password_line) = match (d.password, d.password_file, d.password_env) {
                (Some(p), None, None) => {
                    inventory.has_inline_passwords = true;
                    let line = lines.of(p.span().start);
                    (PasswordSource::Inline(p.into_inner().0), line)
                }
                (None, Some(f), None) => {
                    let line = lines.of(f.span().start);
                    (PasswordSource::File(base.join(f.into_inner())), line)
                }
                (None, None, Some(v)) => {
                    let line = lines.of(v.span().start);
                    (PasswordSource::Env(v.into_inner()), line)
                }
                (p, f, v) => {
                    let found = [p.is_some(), f.is_some(), v.is_some()]
                        .iter()
                        .filter(|b| **b)
                        .count();
                    return Err(field(
                        table_start,
                        "password",
                        format!(
                            "device {id}: give exactly one of password, password_file, password_env (found {found})"
                        ),
                    ));
                }
            };
            inventory.devices.insert(
                id.clone(),
                InventoryDevice {
                    id,
                    tenant,
                    host,
                    port,
                    login: LoginSource::File {
                        user: d.user.into_inner(),
                        password,
                    },
                    tags: d.tags,
                    legacy_algorithms: d.legacy_algorithms,
                    password_line,
                    known_host_key: None,
                    problem: None,
                },
            );
        }
        Ok(inventory)
    }
}

impl Inventory {
    /// Check that every device's password can be read now (the variable is
    /// set, the file is readable), without keeping it: a daemon that cannot
    /// log in anywhere should say so at start-up, not as failed backups.
    pub fn check_credentials(&self, path: &Path) -> Result<(), InventoryError> {
        for d in self.devices.values() {
            let LoginSource::File { password, .. } = &d.login else {
                continue;
            };
            let field = match password {
                PasswordSource::Inline(_) => continue,
                PasswordSource::File(_) => "password_file",
                PasswordSource::Env(_) => "password_env",
            };
            if let Err(e) = password.resolve() {
                return Err(InventoryError::Field {
                    path: path.to_owned(),
                    line: d.password_line,
                    field,
                    message: format!("device {}: {e}", d.id),
                });
            }
        }
        Ok(())
    }

    /// Warnings for every file that holds this inventory's passwords and can
    /// be read by others: the inventory itself when it has inline
    /// passwords, and each password file.
    pub fn permission_warnings(&self, inventory_path: &Path) -> Vec<String> {
        let mut files: Vec<&Path> = Vec::new();
        if self.has_inline_passwords {
            files.push(inventory_path);
        }
        for d in self.devices.values() {
            if let LoginSource::File {
                password: PasswordSource::File(f),
                ..
            } = &d.login
                && !files.contains(&f.as_path())
            {
                files.push(f);
            }
        }
        files.into_iter().filter_map(permission_warning).collect()
    }
}

/// A warning when a file that holds passwords can be read by others.
pub fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} holds passwords and is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Inventory, InventoryError> {
        Inventory::parse(Path::new("inv.toml"), text)
    }

    const GOOD: &str = r#"
[[device]]
id = "core-1"
tenant = "acme"
host = "192.0.2.10"
user = "backup"
password_env = "CORE1_PW"

[[device]]
id = "edge-2"
host = "edge-2.example.net"
port = 2222
user = "backup"
password = "s3cret"
tags = ["edge"]
"#;

    #[test]
    fn a_good_inventory_loads() {
        let inv = parse(GOOD).unwrap();
        assert_eq!(inv.devices.len(), 2);
        let edge = &inv.devices[&DeviceId::parse("edge-2").unwrap()];
        assert_eq!(edge.port, 2222);
        assert_eq!(edge.tenant.as_str(), "default");
        assert!(inv.has_inline_passwords);
        assert!(!format!("{:?}", edge.login).contains("s3cret"));
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let dup = format!(
            "{GOOD}\n[[device]]\nid = \"core-1\"\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\n"
        );
        let e = err(&dup);
        assert!(e.contains("inv.toml, line 18, field `id`"), "{e}");
        assert!(e.contains("first defined on line 3"), "{e}");

        let e =
            err("[[device]]\nid = \"a\"\nhost = \"h\"\nport = 0\nuser = \"u\"\npassword = \"p\"\n");
        assert!(e.contains("line 4, field `port`"), "{e}");

        let e =
            err("[[device]]\nid = \"a\"\nhost = \"not a host!\"\nuser = \"u\"\npassword = \"p\"\n");
        assert!(e.contains("line 3, field `host`"), "{e}");

        let e = err("[[device]]\nid = \"a\"\nhost = \"h\"\nuser = \"u\"\n");
        assert!(e.contains("field `password`"), "{e}");

        let e = err(
            "[[device]]\nid = \"a\"\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\ncolour = 1\n",
        );
        assert!(e.contains("line 6") && e.contains("colour"), "{e}");

        let e = err("[[device]]\nid = \"a.b\"\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\n");
        assert!(e.contains("line 2, field `id`"), "{e}");

        for bad in ["10.0.0.256", "999.1.1.1", "1.2.3"] {
            let e = err(&format!(
                "[[device]]\nid = \"a\"\nhost = \"{bad}\"\nuser = \"u\"\npassword = \"p\"\n"
            ));
            assert!(e.contains("line 3, field `host`"), "{bad}: {e}");
        }
    }

    #[test]
    fn line_numbers_count_from_one_at_any_offset() {
        let lines = Lines::new("a\nbb\n\nc");
        let at: Vec<usize> = (0..9).map(|o| lines.of(o)).collect();
        assert_eq!(at, [1, 1, 2, 2, 2, 3, 4, 4, 4]);
    }

    #[test]
    fn a_large_inventory_loads_with_the_right_line_numbers() {
        // 20 000 devices (line numbers were counted from the start for
        // every field, which made large inventories quadratic).
        let text: String = (0..20_000)
            .map(|i| {
                format!(
                    "[[device]]\nid = \"r{i}\"\nhost = \"10.0.{}.{}\"\nuser = \"u\"\npassword = \"p\"\n",
                    i / 256,
                    i % 256
                )
            })
            .collect();
        let inv = parse(&text).unwrap();
        assert_eq!(inv.devices.len(), 20_000);
        let last = &inv.devices[&DeviceId::parse("r19999").unwrap()];
        assert_eq!(last.password_line, 20_000 * 5);
    }

    #[test]
    fn a_mistyped_password_is_refused_without_quoting_it() {
        let e = err("[[device]]\nid = \"a\"\nhost = \"h\"\nuser = \"u\"\npassword = 918273\n");
        assert!(e.contains("line 5"), "{e}");
        assert!(e.contains("must be a string"), "{e}");
        assert!(!e.contains("918273"), "the value leaked: {e}");
    }

    #[test]
    fn unreadable_credentials_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.toml");
        let text = "[[device]]\nid = \"a\"\nhost = \"h\"\nuser = \"u\"\npassword_env = \"CONFKEEP_TEST_SURELY_UNSET_PW\"\n";
        std::fs::write(&path, text).unwrap();
        let e = Inventory::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 5, field `password_env`"), "{e}");
        assert!(
            e.contains("CONFKEEP_TEST_SURELY_UNSET_PW is not set"),
            "{e}"
        );

        let text = "[[device]]\nid = \"a\"\nhost = \"h\"\nuser = \"u\"\n\npassword_file = \"missing.pw\"\n";
        std::fs::write(&path, text).unwrap();
        let e = Inventory::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 6, field `password_file`"), "{e}");
        assert!(e.contains("missing.pw"), "{e}");

        std::fs::write(dir.path().join("missing.pw"), "pw\n").unwrap();
        let inv = Inventory::load(&path).unwrap();
        assert_eq!(inv.devices.len(), 1);
    }

    #[test]
    fn password_files_readable_by_others_are_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("a.pw");
        std::fs::write(&pw, "pw\n").unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = dir.path().join("inv.toml");
        std::fs::write(
            &path,
            "[[device]]\nid = \"a\"\nhost = \"h\"\nuser = \"u\"\npassword_file = \"a.pw\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let inv = Inventory::load(&path).unwrap();
        let warnings = inv.permission_warnings(&path);
        // The inventory holds no password itself: only the file is named.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("a.pw") && warnings[0].contains("644"),
            "{warnings:?}"
        );
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(inv.permission_warnings(&path).is_empty());
    }
}
