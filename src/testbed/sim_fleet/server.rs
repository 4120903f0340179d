//! The SSH server side of a device: the accept loop, the per-connection
//! faults below SSH (resets, silence, hostile banners), authentication as
//! RouterOS does it, and the exec request handed to `exec`.
//!
//! russh owns the stream once the session runs, so a fault that drops the
//! connection mid-protocol goes through a second handle on the socket.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use russh::keys::PublicKey;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::device::DeviceRuntime;
use super::exec::run_exec;
use super::{DropStage, Fault};
use crate::testbed::sim_hostile::{Raw, misbehave};

/// Accept connections on a device's port until the fleet stops, each
/// served in a task of its own.
pub(super) async fn serve_device(
    listener: TcpListener,
    device: Arc<DeviceRuntime>,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(e) => {
                // Out of file descriptors and the like: keep serving.
                tracing::debug!(device = %device.id, error = %e, "sim device accept failed");
                continue;
            }
        };
        let connection = device.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve_connection(
            socket,
            device.clone(),
            connection,
            cancel.clone(),
        ));
    }
}

/// One TCP connection: the faults below SSH first (a reset, silence, a
/// hostile banner or key exchange), then an SSH session under russh.
async fn serve_connection(
    socket: TcpStream,
    device: Arc<DeviceRuntime>,
    connection: u64,
    cancel: CancellationToken,
) {
    let _ = socket.set_nodelay(true);
    if device.flaky_drops(connection) {
        // A reset, as a flaky link or an overloaded router gives.
        let _ = socket.set_zero_linger();
        return;
    }
    if let Some(how) = device.fault(|f| match f {
        Fault::SilentAfterAccept => Some(Raw::Silence),
        Fault::EndlessBanner => Some(Raw::EndlessBanner),
        Fault::StalledKex => Some(Raw::KexInitThenSilence),
        Fault::DisconnectAt {
            stage: DropStage::Banner,
        } => Some(Raw::BannerThenClose),
        Fault::DisconnectAt {
            stage: DropStage::Kex,
        } => Some(Raw::KexInitThenClose),
        _ => None,
    }) {
        misbehave(socket, how, cancel).await;
        return;
    }
    // A second handle on the socket, to drop the connection from under
    // russh (which owns the stream) when the device's fault says so.
    let killer = socket
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::net::TcpStream::from);
    let session_cancel = cancel.child_token();
    let handler = DeviceSession {
        device: device.clone(),
        connection,
        cancel: session_cancel.clone(),
        channels: HashMap::new(),
    };
    let config = device.config_for(connection);
    match russh::server::run_stream(config, socket, handler).await {
        Ok(session) => {
            let handle = session.handle();
            tokio::select! {
                r = session => {
                    if let Err(e) = r {
                        tracing::debug!(device = %device.id, error = %e, "sim device session ended");
                    }
                }
                _ = cancel.cancelled() => {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "shutting down".into(), "en".into())
                        .await;
                }
                // The device itself drops the connection (no SSH goodbye).
                _ = session_cancel.cancelled() => {
                    if let Some(k) = &killer {
                        let _ = k.shutdown(std::net::Shutdown::Both);
                    }
                }
            }
        }
        Err(e) => tracing::debug!(device = %device.id, error = %e, "sim device handshake failed"),
    }
    session_cancel.cancel();
}

/// One SSH connection to a device.
struct DeviceSession {
    device: Arc<DeviceRuntime>,
    connection: u64,
    cancel: CancellationToken,
    channels: HashMap<ChannelId, ChannelWriteHalf<Msg>>,
}

impl DeviceSession {
    fn reject(&self) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(self.device.config.methods.clone()),
            partial_success: false,
        }
    }

    fn key_allowed(&self, user: &str, key: &PublicKey) -> bool {
        user == self.device.user
            && self
                .device
                .authorized_keys
                .iter()
                .any(|k| k.key_data() == key.key_data())
    }
}

impl russh::server::Handler for DeviceSession {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.device.drops_at(DropStage::Auth) {
            // No answer: the connection goes (serve_connection drops the
            // session, and this future with it).
            self.cancel.cancel();
            std::future::pending::<()>().await;
        }
        if user == self.device.user && self.device.password_ok(password) {
            Ok(Auth::Accept)
        } else {
            Ok(self.reject())
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_allowed(user, offer.public_key) {
            Ok(Auth::Accept)
        } else {
            Ok(self.reject())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_allowed(user, key.public_key) {
            Ok(Auth::Accept)
        } else {
            Ok(self.reject())
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The read half is dropped: a device ignores stdin, and russh
        // ignores sends to a dropped reader instead of blocking on it.
        let (_read, write) = channel.split();
        self.channels.insert(write.id(), write);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The simulation serves exec only (what a backup uses).
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(write) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        if self.device.drops_at(DropStage::Exec) {
            self.cancel.cancel();
            std::future::pending::<()>().await;
        }
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        let device = self.device.clone();
        let connection = self.connection;
        let cancel = self.cancel.clone();
        let handle = session.handle();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = async {
                    flood_channels(&device, &handle).await;
                    run_exec(&device, connection, &command, &write).await
                } => {
                    if let Err(e) = r {
                        tracing::debug!(device = %device.id, error = %e, "sim device exec ended early");
                    }
                    if device.drops_at(DropStage::Output) {
                        cancel.cancel();
                    }
                }
            }
        });
        Ok(())
    }
}

/// Under [`Fault::ChannelFlood`], open that many channels towards the
/// client, of every kind a server may open, one after the other (each
/// waits for the client's answer).
async fn flood_channels(device: &DeviceRuntime, handle: &russh::server::Handle) {
    let Some(count) = device.fault(|f| match f {
        Fault::ChannelFlood { count } => Some(*count),
        _ => None,
    }) else {
        return;
    };
    let mut accepted = 0u32;
    for i in 0..count {
        let opened = match i % 4 {
            0 => handle.channel_open_session().await,
            1 => {
                handle
                    .channel_open_forwarded_tcpip("127.0.0.1", 8080, "192.0.2.66", i)
                    .await
            }
            2 => handle.channel_open_x11("192.0.2.66", i).await,
            _ => handle.channel_open_agent().await,
        };
        match opened {
            Ok(_) => accepted += 1,
            Err(russh::Error::ChannelOpenFailure(_)) => {}
            Err(_) => break, // the client went away
        }
    }
    device
        .flood_accepted
        .fetch_add(u64::from(accepted), Ordering::Relaxed);
}
