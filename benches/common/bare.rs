//! The baseline the SSH and daemon benchmarks compare with: a bare russh
//! connect–auth–exec–read–close against a simulated device, with nothing of
//! ours in it (no host-key check, no gate, no normalization, no log), and
//! the process CPU clock both sides are charged on; and the memory figures
//! of a process.

use std::sync::Arc;

use confkeep::testbed::sim_fleet::SimDevice;

/// Accepts any host key: the bare loop measures SSH, not trust.
struct AnyKey;

impl russh::client::Handler for AnyKey {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// One bare backup: connect, authenticate, exec, read to the end, close.
/// Returns the bytes read.
pub async fn bare_once(config: Arc<russh::client::Config>, device: &SimDevice) -> usize {
    let mut session = russh::client::connect(config, device.addr, AnyKey)
        .await
        .expect("connect");
    let auth = session
        .authenticate_password(device.user.as_str(), device.password.as_str())
        .await
        .expect("auth");
    assert!(auth.success(), "bare loop: password refused");
    let mut channel = session.channel_open_session().await.expect("channel");
    channel
        .exec(true, "/export show-sensitive")
        .await
        .expect("exec");
    let mut bytes = 0;
    while let Some(msg) = channel.wait().await {
        match msg {
            russh::ChannelMsg::Data { data } => bytes += data.len(),
            russh::ChannelMsg::Close => break,
            _ => {}
        }
    }
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    bytes
}

/// CPU time (user + system) of this process, in clock ticks (1/100 s).
pub fn cpu_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// A `kB` field of `/proc/<process>/status` (`process`: `self` or a pid),
/// e.g. `VmRSS:` or `VmHWM:`; 0 when it cannot be read.
#[allow(dead_code)] // not every benchmark that includes this file reads memory
pub fn proc_status_kb(process: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
