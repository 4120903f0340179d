//! What is decided once per router (addressing, VLANs, WAN, ports), and
//! the entries the bulk fill appends until an export reaches its size.
//!
//! The plan is drawn right after the identity block and before any menu,
//! and both the base menus (`menus`) and the fill read it, so a bulk lease
//! or filter rule uses the same site and VLANs as the base configuration.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::RouterOsVersion;
use super::entries::{Entry, entry};
use super::helpers::{mac, password};
use super::models::{Model, Radio};

/// Addressing and naming decided once per router, shared by the base
/// configuration and the bulk fill.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) v7: bool,
    pub(super) version: RouterOsVersion,
    pub(super) model: &'static Model,
    /// Second octet of the router's private ranges (10.X.0.0/16).
    pub(super) site: u8,
    pub(super) wan_port: &'static str,
    pub(super) lan_ports: Vec<&'static str>,
    /// (name, vlan id, third octet)
    pub(super) vlans: Vec<(&'static str, u16, u8)>,
    pub(super) wan_static: Option<(u8, u8)>,
    pub(super) admin_mac: String,
}

const VLAN_NAMES: &[&str] = &["mgmt", "staff", "guest", "iot", "voip", "cctv", "servers"];

impl Plan {
    pub(super) fn new(
        rng: &mut ChaCha8Rng,
        model: &'static Model,
        version: &RouterOsVersion,
    ) -> Self {
        let v7 = version.major() == 7;
        let site = rng.random_range(1..=250u8);
        let wan_port = model.ethernet[0];
        let lan_ports: Vec<&'static str> = model.ethernet[1..].to_vec();
        let mut vlans = Vec::new();
        if v7 || rng.random_bool(0.3) {
            let n = rng.random_range(2..=VLAN_NAMES.len());
            for (i, name) in VLAN_NAMES.iter().take(n).enumerate() {
                let id = 10 * (i as u16 + 1) + rng.random_range(0..5u16);
                vlans.push((*name, id, (i as u8 + 1) * 10));
            }
        }
        let wan_static = rng
            .random_bool(0.5)
            .then(|| (rng.random_range(0..2u8), rng.random_range(2..250u8)));
        let admin_mac = mac(rng);
        Plan {
            v7,
            version: version.clone(),
            model,
            site,
            wan_port,
            lan_ports,
            vlans,
            wan_static,
            admin_mac,
        }
    }

    pub(super) fn lan_net(&self) -> String {
        format!("10.{}.1", self.site)
    }

    pub(super) fn wifi_radios(&self) -> Vec<String> {
        match self.model.radio {
            Radio::None => Vec::new(),
            Radio::Wireless(n) => (1..=n).map(|i| format!("wlan{i}")).collect(),
            Radio::Wifi(n) => (1..=n).map(|i| format!("wifi{i}")).collect(),
        }
    }

    pub(super) fn script_named(&self, rng: &mut ChaCha8Rng, name: &str, template: &str) -> Entry {
        let token = password(rng, 16);
        let source = template
            .replace("{site}", &self.site.to_string())
            .replace("{token}", &token)
            .replace('\n', "\r\n");
        entry("add")
            .p("dont-require-permissions", "no")
            .p("name", name)
            .p("owner", "admin")
            .p(
                "policy",
                "ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon",
            )
            .secret_quoted("source", source)
    }

    pub(super) fn address_list_entry(&self, rng: &mut ChaCha8Rng) -> Entry {
        let lists = ["blocklist", "bogons", "partners", "mgmt-hosts", "scanners"];
        let list = lists[rng.random_range(0..lists.len())];
        let addr = format!(
            "{}.{}.{}.{}",
            rng.random_range(11..=223u8),
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random_range(1..255u8)
        );
        let mut e = entry("add").p("address", addr);
        if rng.random_bool(0.3) {
            e = e.q(
                "comment",
                format!("ticket #{}", rng.random_range(1000..99999u32)),
            );
        }
        e.p("list", list)
    }

    pub(super) fn lease_entry(&self, rng: &mut ChaCha8Rng, n: u32) -> Entry {
        let octet = self.vlans.first().map(|v| v.2).unwrap_or(1);
        let hosts = [
            "printer", "ap", "camera", "nas", "phone", "desk", "tv", "sensor",
        ];
        let host = hosts[rng.random_range(0..hosts.len())];
        entry("add")
            .p(
                "address",
                format!(
                    "10.{}.{}.{}",
                    self.site,
                    octet.wrapping_add((n / 250 % 100) as u8),
                    2 + n % 250
                ),
            )
            .q("comment", format!("{host} {n}"))
            .p("mac-address", mac(rng))
            .p("server", "defconf")
    }

    pub(super) fn dns_static_entry(&self, rng: &mut ChaCha8Rng, n: u32) -> Entry {
        entry("add")
            .p(
                "address",
                format!(
                    "10.{}.{}.{}",
                    self.site,
                    rng.random_range(1..=60u8),
                    2 + n % 250
                ),
            )
            .p("name", format!("host-{n}.site{}.lan", self.site))
            .p("ttl", "1h")
    }

    pub(super) fn filter_entry(&self, rng: &mut ChaCha8Rng) -> Entry {
        let port = rng.random_range(1..65535u16);
        let proto = if rng.random_bool(0.7) { "tcp" } else { "udp" };
        let mut e = entry("add")
            .p(
                "action",
                if rng.random_bool(0.6) {
                    "accept"
                } else {
                    "drop"
                },
            )
            .p("chain", "forward")
            .q("comment", format!("rule for service {port}/{proto}"))
            .p(
                "dst-address",
                format!("{}.{}", self.lan_net(), rng.random_range(2..254u8)),
            )
            .p("dst-port", port.to_string())
            .p("protocol", proto);
        if rng.random_bool(0.4) {
            e = e.p("src-address-list", "partners");
        }
        if rng.random_bool(0.1) {
            e = e.p("disabled", "yes");
        }
        e
    }

    pub(super) fn script_entry(&self, rng: &mut ChaCha8Rng, n: u32) -> Entry {
        let template = SCRIPTS[rng.random_range(0..SCRIPTS.len())];
        self.script_named(rng, &format!("job-{n}"), template)
    }
}

pub(super) const HEALTH_CHECK: &str = r#":local wan [/ip address get [find interface="ether1"] address]
:log info ("health-check: WAN address is " . $wan)
:if ([/ping 9.9.9.9 count=3] = 0) do={
	:log warning "health-check: upstream unreachable, bouncing ether1"
	/interface ethernet disable ether1
	:delay 2s
	/interface ethernet enable ether1
}
# report to the NOC (token {token})
/tool fetch url="https://noc.example.net/hc?site={site}&token={token}" keep-result=no"#;

const SCRIPTS: &[&str] = &[
    r#":foreach i in=[/ip dhcp-server lease find dynamic=yes] do={
	:local mac [/ip dhcp-server lease get $i mac-address]
	:log info "lease: $mac"
}"#,
    r#":local name [/system identity get name]
:local file ("backup-" . $name)
/system backup save name=$file password="{token}"
:put "saved \"$file\" on site {site}""#,
    r#"# café wifi rotation \ weekly
:local psk [:pick [/certificate scep-server otp generate as-value minutes-valid=1] 0 12]
/interface wireless security-profiles set guest wpa2-pre-shared-key=$psk
:log info "guest key rotated?""#,
];
