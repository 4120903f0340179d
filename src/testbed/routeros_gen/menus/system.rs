//! The `/system` menus (clock, identity, logging, NTP, RouterBOARD
//! settings, scheduler, scripts) and `/tool mac-server`.

use rand_chacha::ChaCha8Rng;

use super::Sections;
use crate::testbed::routeros_gen::entries::{Volatile, entry};
use crate::testbed::routeros_gen::plan::{HEALTH_CHECK, Plan};

impl Plan {
    /// The remote logging target (action 3 is the default `remote`).
    pub(super) fn system_logging_action(&self, s: &mut Sections) {
        s.add(
            "system logging action",
            vec![
                entry("set 3")
                    .p("remote", format!("10.{}.10.5", self.site))
                    .p("src-address", format!("{}.1", self.lan_net())),
            ],
        );
    }

    pub(super) fn system_clock(&self, s: &mut Sections) {
        s.add(
            "system clock",
            vec![entry("set").p("time-zone-name", "Europe/Amsterdam")],
        );
    }

    /// The router's name: drawn before the plan, since the device also
    /// answers `/system identity print` with it.
    pub(super) fn system_identity(&self, identity: &str, s: &mut Sections) {
        s.add("system identity", vec![entry("set").p("name", identity)]);
    }

    /// Warnings and worse to the remote logging target.
    pub(super) fn system_logging(&self, s: &mut Sections) {
        s.add(
            "system logging",
            vec![
                entry("add")
                    .p("action", "remote")
                    .p("topics", "critical,error,warning"),
            ],
        );
    }

    /// The login note menu exists from RouterOS 7.
    pub(super) fn system_note(&self, s: &mut Sections) {
        if self.v7 {
            s.add("system note", vec![entry("set").p("show-at-login", "no")]);
        }
    }

    /// NTP: v7 lists its servers in a menu of their own, v6 in a property.
    pub(super) fn system_ntp(&self, s: &mut Sections) {
        if self.v7 {
            s.add("system ntp client", vec![entry("set").p("enabled", "yes")]);
            s.add(
                "system ntp client servers",
                vec![
                    entry("add").p("address", "0.pool.ntp.org"),
                    entry("add").p("address", "1.pool.ntp.org"),
                ],
            );
        } else {
            s.add(
                "system ntp client",
                vec![
                    entry("set")
                        .p("enabled", "yes")
                        .p("server-dns-names", "0.pool.ntp.org,1.pool.ntp.org"),
                ],
            );
        }
    }

    /// Firmware auto-upgrade, with its reboot notice, on RouterBOARDs only.
    pub(super) fn system_routerboard_settings(&self, s: &mut Sections) {
        if self.model.routerboard {
            s.add(
                "system routerboard settings",
                vec![
                    entry("set")
                        .p("auto-upgrade", "yes")
                        .volatile(Volatile::FirmwareUpgraded),
                ],
            );
        }
    }

    /// The nightly run of the health-check script, its start date in the
    /// version's date format.
    pub(super) fn system_scheduler(&self, s: &mut Sections) {
        let start_date = if self.version.iso_header() {
            "2024-01-01"
        } else {
            "jan/01/2024"
        };
        s.add(
            "system scheduler",
            vec![
                entry("add")
                    .p("interval", "1d")
                    .p("name", "nightly-check")
                    .q("on-event", "/system script run health-check")
                    .p(
                        "policy",
                        "ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon",
                    )
                    .p("start-date", start_date)
                    .p("start-time", "03:15:00"),
            ],
        );
    }

    /// The health-check script (the bulk fill adds more).
    pub(super) fn system_script(&self, rng: &mut ChaCha8Rng, s: &mut Sections) {
        s.add(
            "system script",
            vec![self.script_named(rng, "health-check", HEALTH_CHECK)],
        );
    }

    /// `/tool mac-server` and its `mac-winbox`: MAC access from the LAN only.
    pub(super) fn tool_mac_server(&self, s: &mut Sections) {
        s.add(
            "tool mac-server",
            vec![entry("set").p("allowed-interface-list", "LAN")],
        );
        s.add(
            "tool mac-server mac-winbox",
            vec![entry("set").p("allowed-interface-list", "LAN")],
        );
    }
}
