//! The configuration model: sections (menus) of entries (`add`/`set`
//! lines) of properties, as the menu builders write them and the renderer
//! prints them, and the fixed order RouterOS prints its menus in.
//!
//! A model between the builders and the text, rather than text directly,
//! because one configuration is printed many ways: secrets shown or hidden,
//! wrapped or not, LF or CRLF, with the volatile comments of the moment.

/// A property value as RouterOS prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// Printed bare unless it needs quotes (space, special characters, empty).
    Auto(String),
    /// Always quoted (`policy="local,telnet,…"`).
    Quoted(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    pub(super) key: String,
    pub(super) value: Value,
    pub(super) sensitive: bool,
}

/// A volatile comment printed before an entry depending on the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Volatile {
    /// `# <port> not ready`: the port's link is down at that moment.
    NotReady(String),
    /// `# inactive time <duration>` before a WireGuard peer.
    InactiveTime,
    /// The firmware notice under `/system routerboard settings`.
    FirmwareUpgraded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// `add`, `set`, `set [ find default-name=ether1 ]`, `set 0`.
    pub(super) command: String,
    pub(super) items: Vec<Item>,
    pub(super) volatile: Option<Volatile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Section {
    pub(super) path: &'static str,
    pub(super) entries: Vec<Entry>,
}

pub(super) fn entry(command: &str) -> Entry {
    Entry {
        command: command.to_owned(),
        items: Vec::new(),
        volatile: None,
    }
}

impl Entry {
    pub(super) fn p(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Auto(value.into()),
            sensitive: false,
        });
        self
    }

    pub(super) fn q(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Quoted(value.into()),
            sensitive: false,
        });
        self
    }

    /// A secret: printed only when sensitive values are shown.
    pub(super) fn secret(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Auto(value.into()),
            sensitive: true,
        });
        self
    }

    pub(super) fn secret_quoted(mut self, key: &str, value: impl Into<String>) -> Self {
        self.items.push(Item {
            key: key.to_owned(),
            value: Value::Quoted(value.into()),
            sensitive: true,
        });
        self
    }

    pub(super) fn volatile(mut self, v: Volatile) -> Self {
        self.volatile = Some(v);
        self
    }
}

/// Export order of the menus this generator writes (RouterOS prints menus in
/// a fixed order, not alphabetically).
pub(super) const SECTION_ORDER: &[&str] = &[
    "interface bridge",
    "interface ethernet",
    "interface wireguard",
    "interface vlan",
    "interface list",
    "interface wifi security",
    "interface wifi",
    "interface wireless security-profiles",
    "interface wireless",
    "ip pool",
    "ip dhcp-server",
    "ppp profile",
    "snmp community",
    "system logging action",
    "user group",
    "interface bridge port",
    "ip firewall connection tracking",
    "ip neighbor discovery-settings",
    "interface bridge vlan",
    "interface list member",
    "interface wireguard peers",
    "ip address",
    "ip dhcp-client",
    "ip dhcp-server lease",
    "ip dhcp-server network",
    "ip dns",
    "ip dns static",
    "ip firewall address-list",
    "ip firewall filter",
    "ip firewall nat",
    "ip route",
    "ip service",
    "ip ssh",
    "ppp secret",
    "snmp",
    "system clock",
    "system identity",
    "system logging",
    "system note",
    "system ntp client",
    "system ntp client servers",
    "system routerboard settings",
    "system scheduler",
    "system script",
    "tool mac-server",
    "tool mac-server mac-winbox",
];

pub(super) fn section_rank(path: &str) -> usize {
    SECTION_ORDER
        .iter()
        .position(|p| *p == path)
        .unwrap_or(SECTION_ORDER.len())
}
