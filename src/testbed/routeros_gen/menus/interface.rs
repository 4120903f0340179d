//! The `/interface` menus: bridge, ports, VLANs, lists, WireGuard and the
//! radios (`/interface wifi` or `/interface wireless`) with their security.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Sections;
use crate::testbed::routeros_gen::entries::{Volatile, entry};
use crate::testbed::routeros_gen::helpers::{b64key, password, ssid};
use crate::testbed::routeros_gen::models::Radio;
use crate::testbed::routeros_gen::plan::Plan;

impl Plan {
    pub(super) fn interface_bridge(&self, s: &mut Sections) {
        let mut bridge = entry("add")
            .p("admin-mac", &self.admin_mac)
            .p("auto-mac", "no")
            .p("comment", "defconf")
            .p("name", "bridge");
        if !self.vlans.is_empty() && self.v7 {
            bridge = bridge.p("vlan-filtering", "yes");
        }
        s.add("interface bridge", vec![bridge]);
    }

    /// Speed settings and link-state notes; most LAN ports keep the
    /// defaults and print nothing.
    pub(super) fn interface_ethernet(&self, rng: &mut ChaCha8Rng, s: &mut Sections) {
        let mut eth = Vec::new();
        for (i, port) in self.model.ethernet.iter().enumerate() {
            let mut e = entry(&format!("set [ find default-name={port} ]"));
            if port.starts_with("sfp") {
                e = e
                    .p("advertise", "1000M-full,10000M-full")
                    .p("speed", "1Gbps");
            } else if i == 0 {
                e = e.q("comment", "WAN uplink");
            } else if rng.random_bool(0.3) {
                e = e.p(
                    "advertise",
                    "10M-half,10M-full,100M-half,100M-full,1000M-half,1000M-full",
                );
            } else {
                continue;
            }
            if i + 1 == self.model.ethernet.len() || rng.random_bool(0.3) {
                e = e.volatile(Volatile::NotReady((*port).to_owned()));
            }
            eth.push(e);
        }
        s.add("interface ethernet", eth);
    }

    /// A WireGuard management tunnel on some v7 routers; whether this router
    /// has one (its peers come later in the export).
    pub(super) fn interface_wireguard(&self, rng: &mut ChaCha8Rng, s: &mut Sections) -> bool {
        let wireguard = self.v7 && rng.random_bool(0.6);
        if wireguard {
            s.add(
                "interface wireguard",
                vec![
                    entry("add")
                        .p("listen-port", "13231")
                        .p("mtu", "1420")
                        .p("name", "wg-mgmt")
                        .secret("private-key", b64key(rng)),
                ],
            );
        }
        wireguard
    }

    pub(super) fn interface_vlan(&self, s: &mut Sections) {
        s.add(
            "interface vlan",
            self.vlans
                .iter()
                .map(|(name, id, _)| {
                    entry("add")
                        .p("interface", "bridge")
                        .p("name", format!("vlan-{name}"))
                        .p("vlan-id", id.to_string())
                })
                .collect(),
        );
    }

    pub(super) fn interface_list(&self, s: &mut Sections) {
        s.add(
            "interface list",
            vec![
                entry("add").p("comment", "defconf").p("name", "WAN"),
                entry("add").p("comment", "defconf").p("name", "LAN"),
                entry("add").p("name", "MGMT"),
            ],
        );
    }

    /// The radios and their security, with the passphrases as secrets: the
    /// `/interface wifi` package on ax radios from 7.13, `/interface
    /// wireless` before it, and the default security profile alone on a
    /// router without radios.
    pub(super) fn wireless(&self, rng: &mut ChaCha8Rng, s: &mut Sections) {
        // Drawn on every router, radios or not, so the draws after these do
        // not depend on the model's radios.
        let psk = password(rng, 14);
        let guest_psk = password(rng, 10);
        match self.model.radio {
            Radio::Wifi(_) if self.version.has_wifi_package() => {
                self.interface_wifi(rng, &psk, &guest_psk, s);
            }
            Radio::Wireless(_) | Radio::Wifi(_) => {
                self.interface_wireless(rng, &psk, &guest_psk, s);
            }
            Radio::None => {
                s.add(
                    "interface wireless security-profiles",
                    vec![entry("set [ find default=yes ]").p("supplicant-identity", "MikroTik")],
                );
            }
        }
    }

    /// `/interface wifi security` and `/interface wifi` (7.13 on, ax radios).
    pub(super) fn interface_wifi(
        &self,
        rng: &mut ChaCha8Rng,
        psk: &str,
        guest_psk: &str,
        s: &mut Sections,
    ) {
        s.add(
            "interface wifi security",
            vec![
                entry("add")
                    .p("authentication-types", "wpa2-psk,wpa3-psk")
                    .p("name", "sec-main")
                    .secret("passphrase", psk),
                entry("add")
                    .p("authentication-types", "wpa2-psk")
                    .p("name", "sec-guest")
                    .secret("passphrase", guest_psk),
            ],
        );
        let ssid = ssid(rng);
        s.add(
            "interface wifi",
            self.wifi_radios()
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    entry(&format!("set [ find default-name={r} ]"))
                        .p("channel.band", if i == 0 { "5ghz-ax" } else { "2ghz-ax" })
                        .p("channel.skip-dfs-channels", "10min-cac")
                        .p("configuration.country", "Netherlands")
                        .p("configuration.mode", "ap")
                        .q("configuration.ssid", &ssid)
                        .p("disabled", "no")
                        .p("security", "sec-main")
                })
                .collect(),
        );
    }

    /// `/interface wireless security-profiles` and `/interface wireless`.
    pub(super) fn interface_wireless(
        &self,
        rng: &mut ChaCha8Rng,
        psk: &str,
        guest_psk: &str,
        s: &mut Sections,
    ) {
        s.add(
            "interface wireless security-profiles",
            vec![
                entry("set [ find default=yes ]")
                    .p("authentication-types", "wpa-psk,wpa2-psk")
                    .p("eap-methods", "")
                    .p("mode", "dynamic-keys")
                    .p("supplicant-identity", "MikroTik")
                    .secret("wpa-pre-shared-key", psk)
                    .secret("wpa2-pre-shared-key", psk),
                entry("add")
                    .p("authentication-types", "wpa2-psk")
                    .p("mode", "dynamic-keys")
                    .p("name", "guest")
                    .p("supplicant-identity", "MikroTik")
                    .secret("wpa2-pre-shared-key", guest_psk),
            ],
        );
        let ssid = ssid(rng);
        s.add(
            "interface wireless",
            self.wifi_radios()
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    entry(&format!("set [ find default-name={r} ]"))
                        .p("band", if i == 0 { "2ghz-b/g/n" } else { "5ghz-a/n/ac" })
                        .p("country", "netherlands")
                        .p("disabled", "no")
                        .p("distance", "indoors")
                        .p("frequency", "auto")
                        .p("installation", "indoor")
                        .p("mode", "ap-bridge")
                        .q("ssid", &ssid)
                        .p("wireless-protocol", "802.11")
                })
                .collect(),
        );
    }

    /// The LAN ports and the radios, all in the one bridge.
    pub(super) fn interface_bridge_port(&self, s: &mut Sections) {
        let ports = self
            .lan_ports
            .iter()
            .copied()
            .map(str::to_owned)
            .chain(self.wifi_radios())
            .map(|p| {
                entry("add")
                    .p("bridge", "bridge")
                    .p("comment", "defconf")
                    .p("interface", p)
            })
            .collect();
        s.add("interface bridge port", ports);
    }

    /// The VLAN table of a VLAN-filtering bridge (v7 routers with VLANs),
    /// tagged on the last LAN port as the trunk.
    pub(super) fn interface_bridge_vlan(&self, s: &mut Sections) {
        if !self.v7 || self.vlans.is_empty() {
            return;
        }
        let trunk = self.lan_ports.last().copied().unwrap_or("ether2");
        s.add(
            "interface bridge vlan",
            self.vlans
                .iter()
                .map(|(_, id, _)| {
                    entry("add")
                        .p("bridge", "bridge")
                        .p("tagged", format!("bridge,{trunk}"))
                        .p("vlan-ids", id.to_string())
                })
                .collect(),
        );
    }

    pub(super) fn interface_list_member(&self, s: &mut Sections) {
        let mut members = vec![
            entry("add")
                .p("comment", "defconf")
                .p("interface", "bridge")
                .p("list", "LAN"),
            entry("add")
                .p("comment", "defconf")
                .p("interface", self.wan_port)
                .p("list", "WAN"),
        ];
        for (name, _, _) in &self.vlans {
            members.push(
                entry("add")
                    .p("interface", format!("vlan-{name}"))
                    .p("list", if *name == "mgmt" { "MGMT" } else { "LAN" }),
            );
        }
        s.add("interface list member", members);
    }

    /// The admins' laptops on the management tunnel, each with a preshared
    /// key (a secret) and an inactive-time note that changes by the second.
    pub(super) fn interface_wireguard_peers(&self, rng: &mut ChaCha8Rng, s: &mut Sections) {
        let peers = rng.random_range(1..=4);
        s.add(
            "interface wireguard peers",
            (0..peers)
                .map(|i| {
                    entry("add")
                        .p(
                            "allowed-address",
                            format!("10.{}.249.{}/32", self.site, i + 2),
                        )
                        .q("comment", format!("admin laptop {}", i + 1))
                        .p("interface", "wg-mgmt")
                        .p("public-key", b64key(rng))
                        .secret("preshared-key", b64key(rng))
                        .volatile(Volatile::InactiveTime)
                })
                .collect(),
        );
    }
}
