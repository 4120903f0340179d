//! The `/ip` menus: pools, DHCP, addresses, DNS, firewall, routes and
//! services.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Sections;
use crate::testbed::routeros_gen::entries::entry;
use crate::testbed::routeros_gen::plan::Plan;

impl Plan {
    /// The LAN's address pool and one per VLAN.
    pub(super) fn ip_pool(&self, s: &mut Sections) {
        let lan = self.lan_net();
        let mut pools = vec![
            entry("add")
                .p("name", "default-dhcp")
                .p("ranges", format!("{lan}.10-{lan}.254")),
        ];
        for (name, _, octet) in &self.vlans {
            let net = format!("10.{}.{}", self.site, octet);
            pools.push(
                entry("add")
                    .p("name", format!("pool-{name}"))
                    .p("ranges", format!("{net}.100-{net}.199")),
            );
        }
        s.add("ip pool", pools);
    }

    /// A DHCP server on the bridge and on every VLAN.
    pub(super) fn ip_dhcp_server(&self, s: &mut Sections) {
        let mut servers = vec![
            entry("add")
                .p("address-pool", "default-dhcp")
                .p("interface", "bridge")
                .p("lease-time", "1h")
                .p("name", "defconf"),
        ];
        for (name, _, _) in &self.vlans {
            servers.push(
                entry("add")
                    .p("address-pool", format!("pool-{name}"))
                    .p("interface", format!("vlan-{name}"))
                    .p("name", format!("dhcp-{name}")),
            );
        }
        if !self.v7 {
            // RouterOS 6 prints the default `disabled=no` here.
            servers = servers.into_iter().map(|e| e.p("disabled", "no")).collect();
        }
        s.add("ip dhcp-server", servers);
    }

    pub(super) fn ip_firewall_connection_tracking(&self, s: &mut Sections) {
        s.add(
            "ip firewall connection tracking",
            vec![entry("set").p("udp-timeout", "10s")],
        );
    }

    pub(super) fn ip_neighbor_discovery_settings(&self, s: &mut Sections) {
        s.add(
            "ip neighbor discovery-settings",
            vec![entry("set").p("discover-interface-list", "LAN")],
        );
    }

    /// The bridge's, the VLANs' and a static WAN address.
    pub(super) fn ip_address(&self, s: &mut Sections) {
        let lan = self.lan_net();
        let mut addrs = vec![
            entry("add")
                .p("address", format!("{lan}.1/24"))
                .p("comment", "defconf")
                .p("interface", "bridge")
                .p("network", format!("{lan}.0")),
        ];
        for (name, _, octet) in &self.vlans {
            addrs.push(
                entry("add")
                    .p("address", format!("10.{}.{}.1/24", self.site, octet))
                    .p("interface", format!("vlan-{name}"))
                    .p("network", format!("10.{}.{}.0", self.site, octet)),
            );
        }
        if let Some((net, host)) = self.wan_static {
            let base = if net == 0 { "198.51.100" } else { "203.0.113" };
            addrs.push(
                entry("add")
                    .p("address", format!("{base}.{host}/24"))
                    .p("interface", self.wan_port)
                    .p("network", format!("{base}.0")),
            );
        }
        s.add("ip address", addrs);
    }

    /// The WAN's address from DHCP, unless it is static.
    pub(super) fn ip_dhcp_client(&self, s: &mut Sections) {
        if self.wan_static.is_none() {
            s.add(
                "ip dhcp-client",
                vec![
                    entry("add")
                        .p("comment", "defconf")
                        .p("interface", self.wan_port),
                ],
            );
        }
    }

    pub(super) fn ip_dhcp_server_network(&self, s: &mut Sections) {
        let lan = self.lan_net();
        let mut nets = vec![
            entry("add")
                .p("address", format!("{lan}.0/24"))
                .p("comment", "defconf")
                .p("dns-server", format!("{lan}.1"))
                .p("gateway", format!("{lan}.1")),
        ];
        for (_, _, octet) in &self.vlans {
            let net = format!("10.{}.{}", self.site, octet);
            nets.push(
                entry("add")
                    .p("address", format!("{net}.0/24"))
                    .p("dns-server", format!("{net}.1"))
                    .p("gateway", format!("{net}.1")),
            );
        }
        s.add("ip dhcp-server network", nets);
    }

    /// `/ip dns` and `/ip dns static` (the bulk fill adds more static names).
    pub(super) fn ip_dns(&self, s: &mut Sections) {
        s.add(
            "ip dns",
            vec![
                entry("set")
                    .p("allow-remote-requests", "yes")
                    .p("cache-max-ttl", "1d")
                    .p("servers", "9.9.9.9,149.112.112.112,1.1.1.1"),
            ],
        );
        s.add(
            "ip dns static",
            vec![
                entry("add")
                    .p("address", format!("{}.1", self.lan_net()))
                    .p("comment", "defconf")
                    .p("name", "router.lan"),
            ],
        );
    }

    /// The management hosts (the bulk fill and the edits add more lists).
    pub(super) fn ip_firewall_address_list(&self, s: &mut Sections) {
        s.add(
            "ip firewall address-list",
            vec![
                entry("add")
                    .p("address", format!("10.{}.10.0/24", self.site))
                    .p("list", "mgmt-hosts"),
            ],
        );
    }

    /// The default input and forward policy plus a management rule; the
    /// bulk fill inserts its rules before the last two drop rules.
    pub(super) fn ip_firewall_filter(&self, s: &mut Sections) {
        let rule = |chain: &str, action: &str, comment: &str| {
            entry("add")
                .p("action", action)
                .p("chain", chain)
                .q("comment", comment)
        };
        s.add(
            "ip firewall filter",
            vec![
                rule(
                    "input",
                    "accept",
                    "defconf: accept established,related,untracked",
                )
                .p("connection-state", "established,related,untracked"),
                rule("input", "drop", "defconf: drop invalid").p("connection-state", "invalid"),
                rule("input", "accept", "defconf: accept ICMP").p("protocol", "icmp"),
                rule("input", "accept", "allow management")
                    .p("dst-port", "22,8291")
                    .p("protocol", "tcp")
                    .p("src-address-list", "mgmt-hosts"),
                rule("input", "drop", "defconf: drop all not coming from LAN")
                    .p("in-interface-list", "!LAN"),
                rule("forward", "drop", "defconf: drop all from WAN not DSTNATed")
                    .p("connection-nat-state", "!dstnat")
                    .p("connection-state", "new")
                    .p("in-interface-list", "WAN"),
            ],
        );
    }

    /// Masquerade, and on half the routers a port forward to a web server.
    pub(super) fn ip_firewall_nat(&self, rng: &mut ChaCha8Rng, s: &mut Sections) {
        let mut nat = vec![
            entry("add")
                .p("action", "masquerade")
                .p("chain", "srcnat")
                .q("comment", "defconf: masquerade")
                .p("ipsec-policy", "out,none")
                .p("out-interface-list", "WAN"),
        ];
        if rng.random_bool(0.5) {
            nat.push(
                entry("add")
                    .p("action", "dst-nat")
                    .p("chain", "dstnat")
                    .q("comment", "web server")
                    .p("dst-port", "443")
                    .p("in-interface-list", "WAN")
                    .p("protocol", "tcp")
                    .p("to-addresses", format!("{}.20", self.lan_net()))
                    .p("to-ports", "443"),
            );
        }
        s.add("ip firewall nat", nat);
    }

    /// The default route of a static WAN (a DHCP WAN learns it instead).
    pub(super) fn ip_route(&self, s: &mut Sections) {
        let Some((net, _)) = self.wan_static else {
            return;
        };
        let gw = if net == 0 {
            "198.51.100.1"
        } else {
            "203.0.113.1"
        };
        let mut r = entry("add")
            .p("disabled", "no")
            .p("dst-address", "0.0.0.0/0")
            .p("gateway", gw);
        if self.v7 {
            r = r.p("routing-table", "main").p("suppress-hw-offload", "no");
        } else {
            r = r.p("distance", "1");
        }
        s.add("ip route", vec![r]);
    }

    /// The plaintext services (and the API) off.
    pub(super) fn ip_service(&self, s: &mut Sections) {
        s.add(
            "ip service",
            ["telnet", "ftp", "www", "api", "api-ssl"]
                .iter()
                .map(|service| entry(&format!("set {service}")).p("disabled", "yes"))
                .collect(),
        );
    }

    pub(super) fn ip_ssh(&self, s: &mut Sections) {
        s.add("ip ssh", vec![entry("set").p("strong-crypto", "yes")]);
    }
}
