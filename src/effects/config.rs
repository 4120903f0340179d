//! The daemon's configuration file (`confkeep.toml`) and its environment
//! overrides.
//!
//! ```toml
//! node = "backup-1"                  # recorded in every event; default: host name
//! data_dir = "/var/lib/confkeep"     # embedded log and snapshot files
//! inventory = "inventory.toml"       # relative to this file
//! http_listen = "127.0.0.1:9180"     # status, history, metrics, triggers
//! metrics_listen = "0.0.0.0:9091"    # only /metrics and /healthz, no token
//! api_token_file = "api-token"       # mode 600; or CONFKEEP_API_TOKEN
//! api_public_reads = false           # off loopback, reads need the token too
//! http_tls_cert = "api.crt"          # TLS for the API (PEM)
//! http_tls_key = "api.key"
//! http_allow_plaintext = false       # off loopback without TLS: only if true
//! http_max_connections = 256
//! shutdown_grace_secs = 10
//! inventory_poll_secs = 2            # 0: re-read the inventory only on SIGHUP
//!
//! [nats]                             # absent: embedded mode (redb + files)
//! url = "nats://127.0.0.1:4222"
//! replicas = 3
//!
//! [redis]                            # absent: no online gate, no lock
//! url = "redis://127.0.0.1:6379"
//!
//! [postgres]                         # the platform's inventory instead of the file
//! url = "postgres://collector@db/platform"
//! refresh_secs = 60
//!
//! [ssh]
//! output_cap_bytes = 16777216
//! legacy_algorithms = false
//!
//! [policy]                           # see RetryPolicy; seconds
//! interval_secs = 21600
//! max_concurrent = 10
//!
//! [[policy_for]]                     # per tag, first match wins (see domain::policy_rules)
//! tags = ["core"]
//! interval_secs = 3600
//! ```
//!
//! Environment overrides use the names operators of the platform we replace
//! already know: `CONFIG_BACKUP_INTERVAL`, `CONFIG_BACKUP_MAX_CONCURRENT`,
//! `CONFIG_BACKUP_COMMAND_TIMEOUT` (seconds), `METRICS_LISTEN`; plus
//! `CONFKEEP_NATS_URL`, `CONFKEEP_REDIS_URL`, `CONFKEEP_DATA_DIR`.
//!
//! Without a configuration file, [`DaemonConfig::platform`] builds one from
//! the platform's own environment (`DATABASE_URL`, `NATS_URL`, `REDIS_URL`,
//! `DEVICE_REFRESH_SECONDS`, …): `confkeep run` is then a drop-in for the
//! platform's backup scheduler. The credential key and OpenBao's address
//! and token are read from the environment only (never from a file).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::{Policies, PolicyError, PolicyRule, RetentionRule, RetryPolicy, RuleError};

/// NATS settings (JetStream mode).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub url: String,
    #[serde(default = "one")]
    pub replicas: usize,
    /// Seconds to keep events; 0 keeps them forever (an audit log).
    #[serde(default)]
    pub max_age_secs: u64,
    /// The events stream (default `BACKUP_EVENTS`).
    #[serde(default = "events_stream")]
    pub stream: String,
    /// Subjects of the events: `<prefix>.<tenant>.<device>`.
    #[serde(default = "events_prefix")]
    pub subject_prefix: String,
    /// The subject of a device's snapshots: `{device_id}` and `{tenant_id}`
    /// are replaced (default: the platform's `config.snapshot.create.{device_id}`).
    #[serde(default = "snapshot_subject")]
    pub snapshot_subject: String,
    /// The stream created for snapshots only when no stream covers their
    /// subject (the platform's `DEVICE_EVENTS` covers `config.snapshot.>`).
    #[serde(default = "snapshot_stream")]
    pub snapshot_stream: String,
    /// The object store bucket for configs over the server's `max_payload`
    /// (created on first need).
    #[serde(default = "snapshot_objects")]
    pub snapshot_objects: String,
    /// Manual triggers (core NATS request-reply, the platform's subject).
    #[serde(default = "trigger_subject")]
    pub trigger_subject: String,
    /// The queue group: one daemon of several answers each trigger.
    #[serde(default = "trigger_queue")]
    pub trigger_queue: String,
}

fn trigger_subject() -> String {
    "config.backup.trigger".into()
}
fn trigger_queue() -> String {
    "confkeep".into()
}

fn events_stream() -> String {
    "BACKUP_EVENTS".into()
}
fn events_prefix() -> String {
    "backup.events".into()
}
fn snapshot_subject() -> String {
    "config.snapshot.create.{device_id}".into()
}
fn snapshot_stream() -> String {
    "CONFIG_SNAPSHOTS".into()
}
fn snapshot_objects() -> String {
    "CONFIG_SNAPSHOT_OBJECTS".into()
}

impl NatsConfig {
    /// Production names for a server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            replicas: 1,
            max_age_secs: 0,
            stream: events_stream(),
            subject_prefix: events_prefix(),
            snapshot_subject: snapshot_subject(),
            snapshot_stream: snapshot_stream(),
            snapshot_objects: snapshot_objects(),
            trigger_subject: trigger_subject(),
            trigger_queue: trigger_queue(),
        }
    }
}

fn one() -> usize {
    1
}

/// Redis settings (online gate and lock).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    pub url: String,
    /// Prefix for every key (empty in production).
    #[serde(default)]
    pub key_prefix: String,
}

/// The platform's PostgreSQL inventory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    pub url: String,
    /// How often the `devices` table is re-read, in seconds.
    #[serde(default = "sixty")]
    pub refresh_secs: u64,
}

fn sixty() -> u64 {
    60
}

/// SSH settings shared by every device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    pub output_cap_bytes: usize,
    /// Allow SHA-1 key exchange/MACs and ssh-rsa for every device.
    pub legacy_algorithms: bool,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            output_cap_bytes: 16 * 1024 * 1024,
            legacy_algorithms: false,
        }
    }
}

/// Where the platform's Prometheus scrapes its collector.
pub const PLATFORM_METRICS_LISTEN: &str = "0.0.0.0:9091";

/// The daemon's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_inventory")]
    pub inventory: PathBuf,
    #[serde(default)]
    pub http_listen: Option<String>,
    /// A listener for Prometheus alone (`/metrics`, `/healthz`): nothing on
    /// it changes state, so it needs no token and may face the network.
    /// The platform scrapes port 9091, the default without a config file.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// A file holding the API token (mode 600); `CONFKEEP_API_TOKEN` instead.
    #[serde(default)]
    pub api_token_file: Option<PathBuf>,
    /// Reads (status, history, metrics) without the token off loopback.
    #[serde(default)]
    pub api_public_reads: bool,
    /// TLS for the API (PEM certificate chain and key).
    #[serde(default)]
    pub http_tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub http_tls_key: Option<PathBuf>,
    /// Plain HTTP off loopback (behind a TLS proxy); said at start-up.
    #[serde(default)]
    pub http_allow_plaintext: bool,
    /// Connections served at once; more wait in the kernel's backlog.
    #[serde(default = "max_connections")]
    pub http_max_connections: usize,
    #[serde(default = "ten")]
    pub shutdown_grace_secs: u64,
    /// How often the inventory file is checked for changes, in seconds;
    /// 0: only on SIGHUP.
    #[serde(default = "two")]
    pub inventory_poll_secs: u64,
    #[serde(default)]
    pub nats: Option<NatsConfig>,
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// The inventory from PostgreSQL (then `inventory` is not read).
    #[serde(default)]
    pub postgres: Option<PostgresConfig>,
    #[serde(default)]
    pub ssh: SshConfig,
    #[serde(default)]
    pub policy: RetryPolicy,
    /// `[[policy_for]]`: per-tag refinements of `policy`, first match wins.
    #[serde(default)]
    pub policy_for: Vec<PolicyRule>,
    /// `[retention]`: snapshot files kept per device, removed by the daemon
    /// every `every_hours` (and by `confkeep gc`).
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
    /// `[[notify]]`: webhooks and exec hooks told of changes, blocks,
    /// staleness and recoveries.
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
    /// `[read_model]`: status and history also as PostgreSQL tables.
    #[serde(default)]
    pub read_model: Option<ReadModelConfig>,
    /// `[git]`: every changed config also committed to a git repository.
    #[serde(default)]
    pub git: Option<GitConfig>,
    /// `[history]`: checkpoints of the folded state.
    #[serde(default)]
    pub history: HistoryConfig,
}

/// `[git]`: where the repository of configs is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// A bare repository, created when missing; relative to `data_dir`.
    #[serde(default = "default_git_path")]
    pub path: PathBuf,
}

fn default_git_path() -> PathBuf {
    PathBuf::from("configs.git")
}

/// `[read_model]`: where the SQL read model is written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadModelConfig {
    /// `postgres://…` (a database of its own or shared: the tables are
    /// created when missing).
    pub url: String,
}

/// `[retention]`: the rule ([`RetentionRule`]) and how often it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Distinct snapshots kept per device (the latest always).
    #[serde(default)]
    pub keep: Option<usize>,
    /// Snapshots last collected longer ago than this are removed (the
    /// latest never).
    #[serde(default)]
    pub keep_days: Option<u64>,
    #[serde(default = "daily")]
    pub every_hours: u64,
}

fn daily() -> u64 {
    24
}

impl RetentionConfig {
    pub fn rule(&self) -> RetentionRule {
        RetentionRule {
            keep: self.keep,
            keep_days: self.keep_days,
        }
    }
}

#[path = "config_history.rs"]
mod history;
pub use history::HistoryConfig;

#[path = "config_notify.rs"]
mod notify;
pub use notify::{NOTIFICATION_KINDS, NotifyConfig};

fn default_data_dir() -> PathBuf {
    PathBuf::from("confkeep-data")
}
fn default_inventory() -> PathBuf {
    PathBuf::from("inventory.toml")
}
fn ten() -> u64 {
    10
}
fn two() -> u64 {
    2
}
fn max_connections() -> usize {
    256
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            node: None,
            data_dir: default_data_dir(),
            inventory: default_inventory(),
            http_listen: None,
            metrics_listen: None,
            api_token_file: None,
            api_public_reads: false,
            http_tls_cert: None,
            http_tls_key: None,
            http_allow_plaintext: false,
            http_max_connections: max_connections(),
            shutdown_grace_secs: 10,
            inventory_poll_secs: 2,
            nats: None,
            redis: None,
            postgres: None,
            ssh: SshConfig::default(),
            policy: RetryPolicy::default(),
            policy_for: Vec::new(),
            retention: None,
            notify: Vec::new(),
            read_model: None,
            git: None,
            history: HistoryConfig::default(),
        }
    }
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}, line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("environment variable {name}={value:?}: expected a whole number of {unit}")]
    Env {
        name: &'static str,
        value: String,
        unit: &'static str,
    },
    #[error("config {path}, [policy]: {source}")]
    Policy { path: PathBuf, source: PolicyError },
    #[error("config {path}, {source}")]
    PolicyRule { path: PathBuf, source: RuleError },
    #[error("config {path}, [retention]: {message}")]
    Retention { path: PathBuf, message: String },
    #[error("config {path}, [[notify]] number {number}: {message}")]
    Notify {
        path: PathBuf,
        number: usize,
        message: String,
    },
}

impl DaemonConfig {
    /// Read the file, apply environment overrides, resolve relative paths
    /// against the file's directory, and validate the policy.
    pub fn load(path: &Path) -> Result<DaemonConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = DaemonConfig::parse(path, &text)?;
        config.apply_env(&|name| std::env::var(name).ok())?;
        config.check_policy(path)?;
        Ok(config)
    }

    /// The platform's collector, from its environment alone: inventory from
    /// `DATABASE_URL` (re-read every `DEVICE_REFRESH_SECONDS`, default 60),
    /// log and snapshots on `NATS_URL` when set (else embedded under
    /// `CONFKEEP_DATA_DIR`), gate and lock on `REDIS_URL` when set, and the
    /// `CONFIG_BACKUP_*` policy overrides. `None` without `DATABASE_URL`.
    pub fn platform(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<DaemonConfig>, ConfigError> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let Some(database) = set("DATABASE_URL") else {
            return Ok(None);
        };
        let refresh_secs = match set("DEVICE_REFRESH_SECONDS") {
            None => sixty(),
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Env {
                name: "DEVICE_REFRESH_SECONDS",
                value: v,
                unit: "seconds",
            })?,
        };
        let mut config = DaemonConfig {
            postgres: Some(PostgresConfig {
                url: database,
                refresh_secs,
            }),
            nats: set("NATS_URL").map(NatsConfig::new),
            redis: set("REDIS_URL").map(|url| RedisConfig {
                url,
                key_prefix: String::new(),
            }),
            metrics_listen: Some(PLATFORM_METRICS_LISTEN.to_owned()),
            ..DaemonConfig::default()
        };
        config.apply_env(&get)?;
        config
            .policy
            .validate()
            .map_err(|source| ConfigError::Policy {
                path: PathBuf::from("(environment)"),
                source,
            })?;
        Ok(Some(config))
    }

    /// Parse the text of the file at `path` (no environment overrides):
    /// relative paths resolved against its directory, the policy checked.
    pub fn parse(path: &Path, text: &str) -> Result<DaemonConfig, ConfigError> {
        let mut config: DaemonConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            line: e
                .span()
                .map(|s| {
                    // Count bytes: a span need not fall on a character boundary.
                    text.as_bytes()[..s.start.min(text.len())]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        + 1
                })
                .unwrap_or(0),
            message: e.message().to_owned(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.inventory.is_relative() {
            config.inventory = base.join(&config.inventory);
        }
        if config.data_dir.is_relative() {
            config.data_dir = base.join(&config.data_dir);
        }
        for p in [
            &mut config.api_token_file,
            &mut config.http_tls_cert,
            &mut config.http_tls_key,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        config.check_policy(path)?;
        Ok(config)
    }

    fn check_policy(&self, path: &Path) -> Result<(), ConfigError> {
        self.policy
            .validate()
            .map_err(|source| ConfigError::Policy {
                path: path.to_owned(),
                source,
            })?;
        self.policies()
            .validate()
            .map_err(|source| ConfigError::PolicyRule {
                path: path.to_owned(),
                source,
            })?;
        self.check_notify(path)?;
        let Some(r) = &self.retention else {
            return Ok(());
        };
        let message = match (r.rule().validate(), r.every_hours) {
            (Err(e), _) => e.to_string(),
            (Ok(()), 0) => "every_hours = 0: use at least 1".into(),
            (Ok(()), _) if r.rule().is_empty() => {
                "neither keep nor keep_days is set: retention would remove nothing".into()
            }
            (Ok(()), _) => return Ok(()),
        };
        Err(ConfigError::Retention {
            path: path.to_owned(),
            message,
        })
    }

    fn check_notify(&self, path: &Path) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for (i, n) in self.notify.iter().enumerate() {
            let fail = |message: String| ConfigError::Notify {
                path: path.to_owned(),
                number: i + 1,
                message,
            };
            n.check().map_err(fail)?;
            if !names.insert(n.name_at(i)) {
                return Err(fail(format!("name {:?} is used twice", n.name_at(i))));
            }
        }
        Ok(())
    }

    /// The base policy with its per-tag rules.
    pub fn policies(&self) -> Policies {
        Policies {
            base: self.policy.clone(),
            rules: self.policy_for.clone(),
        }
    }

    /// Apply the environment overrides, read through `get`.
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let number = |name: &'static str, unit: &'static str| -> Result<Option<u64>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| ConfigError::Env {
                    name,
                    value: v,
                    unit,
                }),
            }
        };
        if let Some(v) = number("CONFIG_BACKUP_INTERVAL", "seconds")? {
            self.policy.interval_secs = v;
        }
        if let Some(v) = number("CONFIG_BACKUP_MAX_CONCURRENT", "attempts")? {
            self.policy.max_concurrent = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(v) = number("CONFIG_BACKUP_COMMAND_TIMEOUT", "seconds")? {
            self.policy.command_timeout_secs = v;
        }
        if let Some(listen) = get("METRICS_LISTEN") {
            // Empty: no metrics listener.
            self.metrics_listen = Some(listen.trim().to_owned()).filter(|l| !l.is_empty());
        }
        if let Some(url) = get("CONFKEEP_NATS_URL").filter(|s| !s.is_empty()) {
            match &mut self.nats {
                Some(n) => n.url = url,
                None => self.nats = Some(NatsConfig::new(url)),
            }
        }
        if let Some(url) = get("CONFKEEP_REDIS_URL").filter(|s| !s.is_empty()) {
            match &mut self.redis {
                Some(r) => r.url = url,
                None => {
                    self.redis = Some(RedisConfig {
                        url,
                        key_prefix: String::new(),
                    })
                }
            }
        }
        if let Some(dir) = get("CONFKEEP_DATA_DIR").filter(|s| !s.is_empty()) {
            self.data_dir = PathBuf::from(dir);
        }
        Ok(())
    }

    /// The node id: configured, else the host name, else `confkeep`.
    pub fn node_id(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "confkeep".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_use_the_names_operators_know() {
        let mut c = DaemonConfig::default();
        c.apply_env(&|n| match n {
            "CONFIG_BACKUP_INTERVAL" => Some("3600".into()),
            "CONFIG_BACKUP_MAX_CONCURRENT" => Some("25".into()),
            "CONFIG_BACKUP_COMMAND_TIMEOUT" => Some("20".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.policy.interval_secs, 3600);
        assert_eq!(c.policy.max_concurrent, 25);
        assert_eq!(c.policy.command_timeout_secs, 20);
        let e = c
            .apply_env(&|n| (n == "CONFIG_BACKUP_INTERVAL").then(|| "6h".into()))
            .unwrap_err();
        assert!(e.to_string().contains("CONFIG_BACKUP_INTERVAL"), "{e}");
    }

    #[test]
    fn the_platforms_environment_alone_makes_a_collector() {
        let env = |n: &str| match n {
            "DATABASE_URL" => Some("postgres://collector:pw@db/platform".into()),
            "NATS_URL" => Some("nats://nats:4222".into()),
            "REDIS_URL" => Some("redis://redis:6379".into()),
            "DEVICE_REFRESH_SECONDS" => Some("30".into()),
            "CONFIG_BACKUP_INTERVAL" => Some("7200".into()),
            _ => None,
        };
        let c = DaemonConfig::platform(env).unwrap().unwrap();
        assert_eq!(c.postgres.as_ref().unwrap().refresh_secs, 30);
        assert_eq!(c.nats.as_ref().unwrap().url, "nats://nats:4222");
        assert_eq!(c.redis.as_ref().unwrap().url, "redis://redis:6379");
        assert_eq!(c.policy.interval_secs, 7200);
        assert_eq!(c.metrics_listen.as_deref(), Some("0.0.0.0:9091"));
        let local = DaemonConfig::platform(|n| match n {
            "METRICS_LISTEN" => Some("127.0.0.1:0".into()),
            other => env(other),
        })
        .unwrap()
        .unwrap();
        assert_eq!(local.metrics_listen.as_deref(), Some("127.0.0.1:0"));
        assert!(DaemonConfig::platform(|_| None).unwrap().is_none());
        let e = DaemonConfig::platform(|n| match n {
            "DATABASE_URL" => Some("postgres://db/p".into()),
            "DEVICE_REFRESH_SECONDS" => Some("1m".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("DEVICE_REFRESH_SECONDS"), "{e}");
    }

    #[test]
    fn a_bad_policy_names_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confkeep.toml");
        std::fs::write(&path, "[policy]\ninterval_secs = 0\n").unwrap();
        let e = DaemonConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("confkeep.toml") && e.contains("interval_secs"),
            "{e}"
        );
        std::fs::write(&path, "[policy]\nintervall = 5\n").unwrap();
        let e = DaemonConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("intervall"), "{e}");
    }

    #[test]
    fn notify_receivers_are_read_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confkeep.toml");
        let good = "[[notify]]\nwebhook = \"https://hooks.example/x\"\nevents = [\"device.blocked\"]\n\n[[notify]]\nexec = [\"/usr/local/bin/page\"]\n";
        std::fs::write(&path, good).unwrap();
        let c = DaemonConfig::load(&path).unwrap();
        assert_eq!(c.notify.len(), 2);
        assert!(c.notify[0].wants("device.blocked") && !c.notify[0].wants("config.changed"));
        assert_eq!(c.notify[1].name_at(1), "notify-2");
        for (text, says) in [
            ("[[notify]]\nevents = []\n", "give webhook"),
            ("[[notify]]\nwebhook = \"ftp://x\"\n", "http:// or https://"),
            (
                "[[notify]]\nexec = [\"x\"]\nevents = [\"device.gone\"]\n",
                "\"device.gone\" is not one of",
            ),
            (
                "[[notify]]\nexec = [\"x\"]\nname = \"a/b\"\n",
                "names a file",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = DaemonConfig::load(&path).unwrap_err().to_string();
            assert!(e.contains("[[notify]] number 1") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn retention_is_read_and_a_rule_that_keeps_nothing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confkeep.toml");
        std::fs::write(&path, "[retention]\nkeep = 20\nkeep_days = 365\n").unwrap();
        let r = DaemonConfig::load(&path).unwrap().retention.unwrap();
        assert_eq!(
            (r.keep, r.keep_days, r.every_hours),
            (Some(20), Some(365), 24)
        );
        for (text, says) in [
            ("[retention]\nkeep = 0\n", "keep = 0"),
            (
                "[retention]\nevery_hours = 6\n",
                "neither keep nor keep_days",
            ),
            (
                "[retention]\nkeep = 3\nevery_hours = 0\n",
                "every_hours = 0",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = DaemonConfig::load(&path).unwrap_err().to_string();
            assert!(e.contains("[retention]") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn per_tag_policies_are_read_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confkeep.toml");
        std::fs::write(
            &path,
            "[policy]\ninterval_secs = 7200\n\n[[policy_for]]\ntags = [\"core\"]\ninterval_secs = 600\nbackoff_secs = [60]\n",
        )
        .unwrap();
        let c = DaemonConfig::load(&path).unwrap();
        let p = c.policies();
        assert_eq!(p.for_tags(&["core".into()]).interval_secs, 600);
        assert_eq!(p.for_tags(&["core".into()]).backoff_secs, [60]);
        assert_eq!(p.for_tags(&[]).interval_secs, 7200);
        std::fs::write(
            &path,
            "[[policy_for]]\ntags = [\"core\"]\ninterval_secs = 0\n",
        )
        .unwrap();
        let e = DaemonConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("confkeep.toml")
                && e.contains("[[policy_for]] number 1")
                && e.contains("interval_secs"),
            "{e}"
        );
        std::fs::write(
            &path,
            "[[policy_for]]\ntags = [\"core\"]\nmax_concurrent = 3\n",
        )
        .unwrap();
        let e = DaemonConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("max_concurrent") && e.contains("line 3"), "{e}");
    }
}
