//! The base configuration of a generated router: one builder per RouterOS
//! menu (tiny neighbouring menus of one parent share a builder).
//!
//! `Plan::base_sections` calls them in export order. That order is also the
//! order in which they draw from the router's random stream, so it is part
//! of what a seed means: reordering the calls, or adding a draw to one
//! builder, changes every generated router after it.
//!
//! The builders live with their top-level menu: `interface`, `ip`,
//! `system` (with `/tool`), and `access` (`/ppp`, `/snmp`, `/user`).

mod access;
mod interface;
mod ip;
mod system;

use rand_chacha::ChaCha8Rng;

use super::entries::{Entry, Section};
use super::plan::Plan;

/// The base configuration's sections in the making: menus with no entries
/// are left out, as RouterOS leaves them out of an export.
#[derive(Debug, Default)]
struct Sections(Vec<Section>);

impl Sections {
    fn add(&mut self, path: &'static str, entries: Vec<Entry>) {
        if !entries.is_empty() {
            self.0.push(Section { path, entries });
        }
    }
}

impl Plan {
    /// Every menu of the base configuration, before the bulk fill.
    ///
    /// The order of the calls is the order of the menus in the export, and
    /// also the order in which the menus draw from `rng`: moving a call
    /// changes every generated router, not only this export's menu order.
    pub(super) fn base_sections(&self, rng: &mut ChaCha8Rng, identity: &str) -> Vec<Section> {
        let mut s = Sections::default();
        self.interface_bridge(&mut s);
        self.interface_ethernet(rng, &mut s);
        let wireguard = self.interface_wireguard(rng, &mut s);
        self.interface_vlan(&mut s);
        self.interface_list(&mut s);
        self.wireless(rng, &mut s);
        self.ip_pool(&mut s);
        self.ip_dhcp_server(&mut s);
        self.ppp_profile(&mut s);
        self.snmp_community(rng, &mut s);
        self.system_logging_action(&mut s);
        self.user_group(&mut s);
        self.interface_bridge_port(&mut s);
        self.ip_firewall_connection_tracking(&mut s);
        self.ip_neighbor_discovery_settings(&mut s);
        self.interface_bridge_vlan(&mut s);
        self.interface_list_member(&mut s);
        if wireguard {
            self.interface_wireguard_peers(rng, &mut s);
        }
        self.ip_address(&mut s);
        self.ip_dhcp_client(&mut s);
        self.ip_dhcp_server_network(&mut s);
        self.ip_dns(&mut s);
        self.ip_firewall_address_list(&mut s);
        self.ip_firewall_filter(&mut s);
        self.ip_firewall_nat(rng, &mut s);
        self.ip_route(&mut s);
        self.ip_service(&mut s);
        self.ip_ssh(&mut s);
        self.ppp_secret(rng, &mut s);
        self.snmp(&mut s);
        self.system_clock(&mut s);
        self.system_identity(identity, &mut s);
        self.system_logging(&mut s);
        self.system_note(&mut s);
        self.system_ntp(&mut s);
        self.system_routerboard_settings(&mut s);
        self.system_scheduler(&mut s);
        self.system_script(rng, &mut s);
        self.tool_mac_server(&mut s);
        s.0
    }
}
