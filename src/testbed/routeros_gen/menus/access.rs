//! Who may reach the router besides its admins: `/ppp` (the VPN profile and
//! users), `/snmp` (community and contact) and `/user group`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Sections;
use crate::testbed::routeros_gen::entries::entry;
use crate::testbed::routeros_gen::helpers::{code, password};
use crate::testbed::routeros_gen::plan::Plan;

impl Plan {
    pub(super) fn ppp_profile(&self, s: &mut Sections) {
        s.add(
            "ppp profile",
            vec![
                entry("add")
                    .p("local-address", format!("10.{}.250.1", self.site))
                    .p("name", "vpn")
                    .p("remote-address", "vpn-pool")
                    .p("use-encryption", "yes"),
            ],
        );
    }

    /// VPN users, their passwords as secrets.
    pub(super) fn ppp_secret(&self, rng: &mut ChaCha8Rng, s: &mut Sections) {
        let secrets = rng.random_range(1..=3);
        s.add(
            "ppp secret",
            (0..secrets)
                .map(|i| {
                    entry("add")
                        .p("name", format!("vpn-user{}", i + 1))
                        .secret("password", password(rng, 12))
                        .p("profile", "vpn")
                        .p("service", "l2tp")
                })
                .collect(),
        );
    }

    pub(super) fn snmp_community(&self, rng: &mut ChaCha8Rng, s: &mut Sections) {
        s.add(
            "snmp community",
            vec![
                entry("set [ find default=yes ]")
                    .p("addresses", format!("10.{}.10.0/24", self.site))
                    .p("name", format!("mon{}", code(rng, 6).to_lowercase())),
            ],
        );
    }

    pub(super) fn snmp(&self, s: &mut Sections) {
        s.add(
            "snmp",
            vec![
                entry("set")
                    .p("contact", "noc@example.net")
                    .p("enabled", "yes")
                    .q("location", format!("Site {} rack A", self.site)),
            ],
        );
    }

    /// A read-only backup group (what a backup account would use) and the
    /// full group's policy as RouterOS prints it.
    pub(super) fn user_group(&self, s: &mut Sections) {
        s.add(
            "user group",
            vec![
                entry("add").p("name", "backup").q(
                    "policy",
                    "ssh,read,sensitive,!local,!telnet,!ftp,!reboot,!write,!policy,!test,!winbox,!password,!web,!sniff,!api,!romon,!rest-api",
                ),
                entry("set full").q(
                    "policy",
                    "local,telnet,ssh,ftp,reboot,read,write,policy,test,winbox,password,web,sniff,sensitive,api,romon,rest-api",
                ),
            ],
        );
    }
}
