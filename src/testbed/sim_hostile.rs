//! Simulated routers that misbehave below SSH, before russh's key exchange
//! is done: what a broken or compromised device does after the TCP accept
//! (silence, a banner that never ends, a key exchange cut short or never
//! finished). (Misbehaviour inside the SSH session — floods of channel opens,
//! a huge single line, drops after authentication — lives with the rest of
//! the simulated device in `sim_fleet`.)

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// What the device does with the raw connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Raw {
    /// Nothing at all, ever (what it is sent is read and dropped).
    Silence,
    /// Pre-identification text lines forever (RFC 4253 allows lines before
    /// `SSH-2.0-…`), as fast as the client reads them.
    EndlessBanner,
    /// Its identification line, then the connection closes.
    BannerThenClose,
    /// Identification and its `SSH_MSG_KEXINIT`, then the connection closes.
    KexInitThenClose,
    /// Identification and its `SSH_MSG_KEXINIT`, then nothing, ever: the
    /// key exchange never completes.
    KexInitThenSilence,
}

/// What RouterOS says first.
const BANNER: &[u8] = b"SSH-2.0-ROSSSH\r\n";

/// A well-formed `SSH_MSG_KEXINIT` packet (RFC 4253 §7.1, unencrypted)
/// offering what a modern client accepts, so the client goes on to its
/// half of the exchange and waits for ours.
pub(super) fn kexinit_packet() -> Vec<u8> {
    let mut payload = vec![20u8]; // SSH_MSG_KEXINIT
    payload.extend_from_slice(&[0x5a; 16]); // cookie
    let lists = [
        "curve25519-sha256,curve25519-sha256@libssh.org",
        "ssh-ed25519",
        "aes128-ctr,aes256-gcm@openssh.com",
        "aes128-ctr,aes256-gcm@openssh.com",
        "hmac-sha2-256",
        "hmac-sha2-256",
        "none",
        "none",
        "",
        "",
    ];
    for list in lists {
        payload.extend_from_slice(&(list.len() as u32).to_be_bytes());
        payload.extend_from_slice(list.as_bytes());
    }
    payload.push(0); // first_kex_packet_follows
    payload.extend_from_slice(&0u32.to_be_bytes()); // reserved
    // Padding: at least 4 bytes, the whole packet a multiple of 8.
    let mut padding = 8 - (4 + 1 + payload.len()) % 8;
    if padding < 4 {
        padding += 8;
    }
    let length = 1 + payload.len() + padding;
    let mut packet = (length as u32).to_be_bytes().to_vec();
    packet.push(padding as u8);
    packet.extend_from_slice(&payload);
    packet.extend(std::iter::repeat_n(0u8, padding));
    packet
}

/// Misbehave on `socket` as `how` says, until the client gives up or the
/// fleet shuts down.
pub(super) async fn misbehave(mut socket: TcpStream, how: Raw, cancel: CancellationToken) {
    let opening = match how {
        Raw::Silence => Vec::new(),
        Raw::EndlessBanner => return endless_banner(socket, cancel).await,
        Raw::BannerThenClose => BANNER.to_vec(),
        Raw::KexInitThenClose | Raw::KexInitThenSilence => [BANNER, &kexinit_packet()].concat(),
    };
    if socket.write_all(&opening).await.is_err() {
        return;
    }
    if matches!(how, Raw::Silence | Raw::KexInitThenSilence) {
        swallow(socket, cancel).await;
    } // else dropped: the connection closes
}

/// Read and drop whatever the client sends until it goes away.
async fn swallow(mut socket: TcpStream, cancel: CancellationToken) {
    let mut sink = [0u8; 4096];
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = socket.read(&mut sink) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}

async fn endless_banner(mut socket: TcpStream, cancel: CancellationToken) {
    let line = b"MikroTik RouterOS: please wait, the system is starting up...\r\n".repeat(64);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = socket.write_all(&line) => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kexinit_packet_is_framed_as_rfc_4253_says() {
        let p = kexinit_packet();
        let length = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
        assert_eq!(p.len(), 4 + length);
        assert_eq!(p.len() % 8, 0);
        let padding = p[4] as usize;
        assert!(padding >= 4);
        assert_eq!(p[5], 20);
    }
}
