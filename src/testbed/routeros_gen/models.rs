//! The hardware the generator can pretend to be: RouterBOARD and CHR
//! models, their ports and radios, and which RouterOS majors they run.
//!
//! Kept apart as a table: the menus only ask a model for its ports and
//! radios, so adding a model touches nothing else.

/// Hardware the generator can pretend to be.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) name: &'static str,
    pub(super) ethernet: &'static [&'static str],
    pub(super) radio: Radio,
    pub(super) routerboard: bool,
    pub(super) v6: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Radio {
    None,
    /// Legacy `/interface wireless` radios (`wlan1`, …).
    Wireless(u8),
    /// 802.11ax radios: `/interface wifi` from 7.13, `wifiwave2` names.
    Wifi(u8),
}

const ETH5: &[&str] = &["ether1", "ether2", "ether3", "ether4", "ether5"];
const ETH5_SFP: &[&str] = &["ether1", "ether2", "ether3", "ether4", "ether5", "sfp1"];
const RB5009: &[&str] = &[
    "ether1",
    "ether2",
    "ether3",
    "ether4",
    "ether5",
    "ether6",
    "ether7",
    "ether8",
    "sfp-sfpplus1",
];
const RB4011: &[&str] = &[
    "ether1",
    "ether2",
    "ether3",
    "ether4",
    "ether5",
    "ether6",
    "ether7",
    "ether8",
    "ether9",
    "ether10",
    "sfp-sfpplus1",
];
const CCR2004: &[&str] = &[
    "ether1",
    "ether2",
    "ether3",
    "ether4",
    "ether5",
    "ether6",
    "ether7",
    "ether8",
    "ether9",
    "ether10",
    "ether11",
    "ether12",
    "ether13",
    "ether14",
    "ether15",
    "ether16",
    "sfp-sfpplus1",
    "sfp-sfpplus2",
];
const CHR: &[&str] = &["ether1", "ether2", "ether3"];

pub(super) const MODELS: &[Model] = &[
    Model {
        name: "RB5009UG+S+",
        ethernet: RB5009,
        radio: Radio::None,
        routerboard: true,
        v6: false,
    },
    Model {
        name: "C52iG-5HaxD2HaxD",
        ethernet: ETH5,
        radio: Radio::Wifi(2),
        routerboard: true,
        v6: false,
    },
    Model {
        name: "CCR2004-16G-2S+",
        ethernet: CCR2004,
        radio: Radio::None,
        routerboard: true,
        v6: false,
    },
    Model {
        name: "RB4011iGS+",
        ethernet: RB4011,
        radio: Radio::None,
        routerboard: true,
        v6: true,
    },
    Model {
        name: "RBD52G-5HacD2HnD",
        ethernet: ETH5,
        radio: Radio::Wireless(2),
        routerboard: true,
        v6: true,
    },
    Model {
        name: "951Ui-2HnD",
        ethernet: ETH5,
        radio: Radio::Wireless(1),
        routerboard: true,
        v6: true,
    },
    Model {
        name: "RB760iGS",
        ethernet: ETH5_SFP,
        radio: Radio::None,
        routerboard: true,
        v6: true,
    },
    Model {
        name: "CHR",
        ethernet: CHR,
        radio: Radio::None,
        routerboard: false,
        v6: true,
    },
];
