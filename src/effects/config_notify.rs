//! `[[notify]]`: who is told what, as the config file says it; checked at
//! load so that a bad receiver stops the start naming its number and field.

use serde::Deserialize;

use super::ten;

/// The notification kinds a `[[notify]]` may ask for.
pub const NOTIFICATION_KINDS: [&str; 4] = [
    "config.changed",
    "device.blocked",
    "device.stale",
    "device.recovered",
];

/// `[[notify]]`: one receiver — a webhook (`POST` of the JSON facts) or an
/// exec hook (the facts in `CONFKEEP_*` environment variables).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Names its checkpoint and its line in the status (default `notify-N`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub webhook: Option<String>,
    /// The program and its arguments (no shell).
    #[serde(default)]
    pub exec: Option<Vec<String>>,
    /// Which kinds (default: all of [`NOTIFICATION_KINDS`]).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// One delivery may take this long; then it counts as failed.
    #[serde(default = "ten")]
    pub timeout_secs: u64,
}

impl NotifyConfig {
    /// The receiver's name: its own, or `notify-N` by its place.
    pub fn name_at(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("notify-{}", index + 1))
    }

    /// Whether it wants notifications of `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|e| e.iter().any(|k| k == kind))
    }

    pub(super) fn check(&self) -> Result<(), String> {
        match (&self.webhook, &self.exec) {
            (Some(_), Some(_)) => return Err("give webhook or exec, not both".into()),
            (None, None) => {
                return Err("give webhook = \"https://…\" or exec = [\"program\", …]".into());
            }
            (Some(url), None) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                return Err("webhook: expected an http:// or https:// URL".into());
            }
            (None, Some(argv)) if argv.is_empty() || argv[0].is_empty() => {
                return Err("exec: the program is missing".into());
            }
            _ => {}
        }
        if let Some(bad) = self
            .events
            .iter()
            .flatten()
            .find(|k| !NOTIFICATION_KINDS.contains(&k.as_str()))
        {
            return Err(format!(
                "events: {bad:?} is not one of {}",
                NOTIFICATION_KINDS.join(", ")
            ));
        }
        if self.timeout_secs == 0 {
            return Err("timeout_secs = 0: use at least 1".into());
        }
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        match &self.name {
            Some(n) if !name_ok(n) => Err(format!(
                "name {n:?}: letters, digits, '-' and '_' only (it names a file)"
            )),
            _ => Ok(()),
        }
    }
}
