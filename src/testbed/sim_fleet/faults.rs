//! The fault vocabulary of the simulated fleet: what a simulated device
//! does wrong ([`Fault`], [`DropStage`]), and the `--faults` spec that
//! assigns faults to devices ([`parse_fault_spec`], [`FaultSpecError`]).
//!
//! Kept apart from the server: the CLI, the demo and the tests name faults
//! and parse specs, while only `device`, `server` and `exec` act on them.

use std::collections::BTreeMap;

/// A way a simulated device misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The device's real password differs from the one in the inventory: every
    /// password attempt is rejected.
    WrongPassword,
    /// From its `after`-th connection on (0-based; 0 = always) the device
    /// presents a different host key than the one listed as its fingerprint,
    /// as after a hardware replacement.
    HostKeyReplaced { after: u64 },
    /// TCP is accepted, then nothing: no SSH banner, ever.
    SilentAfterAccept,
    /// The export starts, then stops after `after_bytes` bytes and the
    /// channel stays open and silent.
    SilentMidOutput { after_bytes: u64 },
    /// The whole export, then EOF and close without an exit status.
    CloseBeforeExitStatus,
    /// A valid export padded with address-list entries to `bytes` bytes.
    Oversized { bytes: u64 },
    /// The export trickles at `bytes_per_sec` (in 10 writes per second).
    SlowOutput { bytes_per_sec: u64 },
    /// The device runs RouterOS 6: `/export show-sensitive` is a syntax error.
    RouterOs6,
    /// Nothing listens on the device's port.
    ConnectionRefused,
    /// `bytes` of binary noise instead of an export, exit status 0.
    Garbage { bytes: u64 },
    /// This share of connections (0.0–1.0, deterministic from the seed and the
    /// connection number) is reset right after the TCP accept.
    Flaky { ratio: f64 },
    /// Speaks only what old RouterOS 6 speaks: `diffie-hellman-group14-sha1`
    /// / `group1-sha1` key exchange, `hmac-sha1`, AES-CTR and an `ssh-rsa`
    /// (RSA 2048, SHA-1 signature) host key. A client without its legacy
    /// algorithms enabled cannot agree on a key exchange.
    LegacyAlgorithms,
    /// TCP accepted, then pre-identification text lines forever (RFC 4253
    /// allows lines before `SSH-2.0-…`): a banner that never ends, as fast
    /// as the client reads it.
    EndlessBanner,
    /// After the export's header, one line of `bytes` bytes that never
    /// ends in a newline.
    HugeLine { bytes: u64 },
    /// After the exec request, the device opens `count` channels towards
    /// the client (sessions, forwarded TCP, X11, agent) before it answers.
    ChannelFlood { count: u32 },
    /// The identification and the device's KEXINIT, then silence: a key
    /// exchange that never completes.
    StalledKex,
    /// The connection drops at this stage of the protocol.
    DisconnectAt { stage: DropStage },
}

/// Where a [`Fault::DisconnectAt`] device drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropStage {
    /// Right after its identification line.
    Banner,
    /// Right after its KEXINIT, mid key exchange.
    Kex,
    /// When the password arrives.
    Auth,
    /// When the command arrives.
    Exec,
    /// Halfway through the export, without an exit status.
    Output,
}

impl DropStage {
    /// Every stage, in protocol order.
    pub const ALL: [DropStage; 5] = [
        DropStage::Banner,
        DropStage::Kex,
        DropStage::Auth,
        DropStage::Exec,
        DropStage::Output,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropStage::Banner => "banner",
            DropStage::Kex => "kex",
            DropStage::Auth => "auth",
            DropStage::Exec => "exec",
            DropStage::Output => "output",
        }
    }
}

impl Fault {
    /// The name used in fault specs and inventory tags.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::WrongPassword => "wrong-password",
            Fault::HostKeyReplaced { .. } => "host-key-replaced",
            Fault::SilentAfterAccept => "silent-after-accept",
            Fault::SilentMidOutput { .. } => "silent-mid-output",
            Fault::CloseBeforeExitStatus => "close-before-exit-status",
            Fault::Oversized { .. } => "oversized",
            Fault::SlowOutput { .. } => "slow",
            Fault::RouterOs6 => "routeros6",
            Fault::ConnectionRefused => "refused",
            Fault::Garbage { .. } => "garbage",
            Fault::Flaky { .. } => "flaky",
            Fault::LegacyAlgorithms => "legacy-algorithms",
            Fault::EndlessBanner => "endless-banner",
            Fault::HugeLine { .. } => "huge-line",
            Fault::ChannelFlood { .. } => "channel-flood",
            Fault::StalledKex => "stalled-kex",
            Fault::DisconnectAt { .. } => "disconnect",
        }
    }
}

/// A bad `--faults` spec, naming the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("fault spec token {token:?}: expected KIND[:PARAM]=DEVICES, e.g. wrong-password=1,3")]
    Shape { token: String },
    #[error(
        "fault spec token {token:?}: unknown fault {kind:?}; known: wrong-password, host-key-replaced, silent-after-accept (silence), silent-mid-output, close-before-exit-status (no-exit-status), oversized (too-large), slow, routeros6 (v6), refused, garbage, flaky, legacy-algorithms (legacy), endless-banner, huge-line, channel-flood, stalled-kex, disconnect:banner|kex|auth|exec|output"
    )]
    UnknownKind { token: String, kind: String },
    #[error("fault spec token {token:?}: bad parameter {param:?} ({why})")]
    BadParam {
        token: String,
        param: String,
        why: &'static str,
    },
    #[error(
        "fault spec token {token:?}: device {device:?} is not in 1..={count} (devices are numbered as in their ids, sim-0001 is 1), nor a range N-M or `all`"
    )]
    BadDevice {
        token: String,
        device: String,
        count: usize,
    },
}

/// Parse a fault spec into faults per device index (0-based).
///
/// Syntax: groups separated by `;`, each `KIND[:PARAM]=DEVICES`, where
/// DEVICES is a comma list of device numbers as in the ids (1 = `sim-0001`),
/// ranges `N-M`, or `all`. Parameters: `host-key-replaced:AFTER` (connections
/// before the swap, default 1), `silent-mid-output:BYTES` (default 4096),
/// `oversized:BYTES` (default 20MiB), `slow:BYTES_PER_SEC` (default 1024),
/// `garbage:BYTES` (default 4096), `flaky:RATIO` (default 0.3). Sizes take
/// `K`, `KiB`, `M`, `MiB` suffixes. Example:
/// `wrong-password=1,3;host-key-replaced:2=5;silence=7;flaky:0.5=8-10`.
pub fn parse_fault_spec(
    spec: &str,
    count: usize,
) -> Result<BTreeMap<usize, Vec<Fault>>, FaultSpecError> {
    let mut out: BTreeMap<usize, Vec<Fault>> = BTreeMap::new();
    for token in spec.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let shape = || FaultSpecError::Shape {
            token: token.to_owned(),
        };
        let (head, devices) = token.split_once('=').ok_or_else(shape)?;
        let (kind, param) = match head.split_once(':') {
            Some((k, p)) => (k.trim(), Some(p.trim())),
            None => (head.trim(), None),
        };
        let fault = parse_fault(token, kind, param)?;
        let devices = devices.trim();
        if devices.is_empty() {
            return Err(shape());
        }
        for index in parse_devices(token, devices, count)? {
            out.entry(index).or_default().push(fault.clone());
        }
    }
    Ok(out)
}

fn parse_fault(token: &str, kind: &str, param: Option<&str>) -> Result<Fault, FaultSpecError> {
    let bad = |param: &str, why: &'static str| FaultSpecError::BadParam {
        token: token.to_owned(),
        param: param.to_owned(),
        why,
    };
    let size = |default: u64| -> Result<u64, FaultSpecError> {
        match param {
            None => Ok(default),
            Some(p) => {
                parse_size(p).ok_or_else(|| bad(p, "expected a byte count like 4096, 64K or 20MiB"))
            }
        }
    };
    let no_param = |f: Fault| match param {
        None => Ok(f),
        Some(p) => Err(bad(p, "this fault takes no parameter")),
    };
    match kind {
        "wrong-password" => no_param(Fault::WrongPassword),
        "host-key-replaced" => {
            let after = match param {
                None => 1,
                Some(p) => p
                    .parse()
                    .map_err(|_| bad(p, "expected a connection count like 1"))?,
            };
            Ok(Fault::HostKeyReplaced { after })
        }
        "silent-after-accept" | "silence" => no_param(Fault::SilentAfterAccept),
        "silent-mid-output" => Ok(Fault::SilentMidOutput {
            after_bytes: size(4096)?,
        }),
        "close-before-exit-status" | "no-exit-status" => no_param(Fault::CloseBeforeExitStatus),
        "oversized" | "too-large" => Ok(Fault::Oversized {
            bytes: size(20 * 1024 * 1024)?,
        }),
        "slow" => {
            let bytes_per_sec = size(1024)?;
            if bytes_per_sec == 0 {
                return Err(bad(
                    param.unwrap_or("0"),
                    "must be at least 1 byte per second",
                ));
            }
            Ok(Fault::SlowOutput { bytes_per_sec })
        }
        "routeros6" | "v6" => no_param(Fault::RouterOs6),
        "legacy-algorithms" | "legacy" => no_param(Fault::LegacyAlgorithms),
        "endless-banner" => no_param(Fault::EndlessBanner),
        "huge-line" => Ok(Fault::HugeLine {
            bytes: size(20 * 1024 * 1024)?,
        }),
        "channel-flood" => {
            let count = match param {
                None => 500,
                Some(p) => p
                    .parse()
                    .map_err(|_| bad(p, "expected a channel count like 500"))?,
            };
            Ok(Fault::ChannelFlood { count })
        }
        "stalled-kex" => no_param(Fault::StalledKex),
        "disconnect" => {
            let p = param.unwrap_or("output");
            let stage = DropStage::ALL
                .into_iter()
                .find(|s| s.name() == p)
                .ok_or_else(|| bad(p, "expected banner, kex, auth, exec or output"))?;
            Ok(Fault::DisconnectAt { stage })
        }
        "refused" | "connection-refused" => no_param(Fault::ConnectionRefused),
        "garbage" => Ok(Fault::Garbage { bytes: size(4096)? }),
        "flaky" => {
            let ratio = match param {
                None => 0.3,
                Some(p) => p
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad(p, "expected a ratio between 0 and 1 like 0.3"))?,
            };
            Ok(Fault::Flaky { ratio })
        }
        other => Err(FaultSpecError::UnknownKind {
            token: token.to_owned(),
            kind: other.to_owned(),
        }),
    }
}

fn parse_devices(token: &str, devices: &str, count: usize) -> Result<Vec<usize>, FaultSpecError> {
    if devices == "all" {
        return Ok((0..count).collect());
    }
    let mut out = Vec::new();
    for part in devices.split(',').map(str::trim) {
        let bad = || FaultSpecError::BadDevice {
            token: token.to_owned(),
            device: part.to_owned(),
            count,
        };
        let number = |s: &str| -> Result<usize, FaultSpecError> {
            let s = s.trim();
            let s = s.strip_prefix("sim-").unwrap_or(s);
            s.parse::<usize>()
                .ok()
                .filter(|n| (1..=count).contains(n))
                .ok_or_else(bad)
        };
        match part.split_once('-').filter(|_| !part.starts_with("sim-")) {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(bad());
                }
                out.extend(a - 1..b);
            }
            None => out.push(number(part)? - 1),
        }
    }
    Ok(out)
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" | "KB" | "kB" => 1024,
        "M" | "MiB" | "MB" => 1024 * 1024,
        "G" | "GiB" | "GB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_with_defaults_and_params() {
        let map = parse_fault_spec(
            "wrong-password=1,3; host-key-replaced:2=5;silence=7;flaky:0.5=8-10;oversized:1MiB=2;slow=4",
            10,
        )
        .unwrap();
        assert_eq!(map[&0], vec![Fault::WrongPassword]);
        assert_eq!(map[&2], vec![Fault::WrongPassword]);
        assert_eq!(map[&4], vec![Fault::HostKeyReplaced { after: 2 }]);
        assert_eq!(map[&6], vec![Fault::SilentAfterAccept]);
        assert_eq!(map[&7], vec![Fault::Flaky { ratio: 0.5 }]);
        assert_eq!(map[&9], vec![Fault::Flaky { ratio: 0.5 }]);
        assert_eq!(map[&1], vec![Fault::Oversized { bytes: 1 << 20 }]);
        assert_eq!(
            map[&3],
            vec![Fault::SlowOutput {
                bytes_per_sec: 1024
            }]
        );
        assert!(!map.contains_key(&5));
        let all = parse_fault_spec("v6=all;garbage:64K=sim-0002;legacy=3", 3).unwrap();
        assert_eq!(all[&2], vec![Fault::RouterOs6, Fault::LegacyAlgorithms]);
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[&1],
            vec![Fault::RouterOs6, Fault::Garbage { bytes: 65536 }]
        );
    }

    #[test]
    fn bad_fault_specs_name_the_token() {
        let e = parse_fault_spec("wrong-password=1;bogus=2", 5).unwrap_err();
        assert!(e.to_string().contains("\"bogus=2\""), "{e}");
        assert!(e.to_string().contains("unknown fault \"bogus\""), "{e}");
        let e = parse_fault_spec("wrong-password=0", 5).unwrap_err();
        assert!(e.to_string().contains("device \"0\""), "{e}");
        let e = parse_fault_spec("flaky:2=1", 5).unwrap_err();
        assert!(e.to_string().contains("\"flaky:2=1\""), "{e}");
        let e = parse_fault_spec("silence", 5).unwrap_err();
        assert!(e.to_string().contains("KIND[:PARAM]=DEVICES"), "{e}");
        let e = parse_fault_spec("garbage:lots=1", 5).unwrap_err();
        assert!(e.to_string().contains("\"lots\""), "{e}");
        let e = parse_fault_spec("refused:3=1", 5).unwrap_err();
        assert!(e.to_string().contains("takes no parameter"), "{e}");
        let e = parse_fault_spec("slow=6", 5).unwrap_err();
        assert!(e.to_string().contains("1..=5"), "{e}");
    }
}
