//! What a device prints for a command, under its faults: the export or
//! the console's answer, trickled, cut off, padded to a size, replaced by
//! noise, or one line without end.
//!
//! Large outputs are streamed in chunks under SSH flow control, never held
//! in memory whole: an oversized device costs a chunk of memory, not its
//! output's size.

use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use russh::ChannelWriteHalf;
use russh::server::Msg;

use super::device::{Answer, DeviceRuntime};
use super::{DropStage, Fault, mix};
use crate::testbed::routeros_gen::{BulkLines, LineEnding};

/// Bytes per write on the channel (under SSH flow control).
const CHUNK: usize = 64 * 1024;

/// Writes output under the device's faults: trickles it when slow, stops for
/// good after a cut-off when silent mid-output.
struct Delivery<'a> {
    write: &'a ChannelWriteHalf<Msg>,
    sent: u64,
    stall_at: Option<u64>,
    slow: Option<u64>,
}

impl Delivery<'_> {
    async fn send(&mut self, data: impl Into<Bytes>) -> Result<(), russh::Error> {
        let mut data: Bytes = data.into();
        while !data.is_empty() {
            let mut take = data.len().min(CHUNK);
            if let Some(rate) = self.slow {
                // Ten writes a second, or one byte at a time below 10 B/s.
                take = take.min((rate / 10).max(1) as usize);
            }
            if let Some(stall) = self.stall_at {
                let left = stall.saturating_sub(self.sent) as usize;
                if left == 0 {
                    // Silent from here on; the connection's cancellation
                    // (client gone, fleet shut down) ends this task.
                    std::future::pending::<()>().await;
                }
                take = take.min(left);
            }
            self.write.data_bytes(data.split_to(take)).await?;
            self.sent += take as u64;
            if let Some(rate) = self.slow {
                let pause = if rate >= 10 { 100 } else { 1000 / rate.max(1) };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
        Ok(())
    }
}

/// Answer one exec request on `write`, then end the channel as RouterOS
/// does (exit status 0, EOF, close), unless a fault says otherwise.
pub(super) async fn run_exec(
    device: &DeviceRuntime,
    connection: u64,
    command: &str,
    write: &ChannelWriteHalf<Msg>,
) -> Result<(), russh::Error> {
    let mut out = Delivery {
        write,
        sent: 0,
        stall_at: device.fault(|f| match f {
            Fault::SilentMidOutput { after_bytes } => Some(*after_bytes),
            _ => None,
        }),
        slow: device.fault(|f| match f {
            Fault::SlowOutput { bytes_per_sec } => Some(*bytes_per_sec),
            _ => None,
        }),
    };
    let garbage = device.fault(|f| match f {
        Fault::Garbage { bytes } => Some(*bytes),
        _ => None,
    });
    let nl = match device.spec.line_ending {
        LineEnding::Lf => "\n",
        LineEnding::CrLf => "\r\n",
    };
    if let Some(bytes) = garbage {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(device.seed ^ mix(connection)));
        let mut left = bytes;
        let mut buf = vec![0u8; CHUNK];
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            rng.fill(&mut buf[..n]);
            // Binary, and never accidentally a valid export.
            buf[0] = 0;
            out.send(Bytes::copy_from_slice(&buf[..n])).await?;
            left -= n as u64;
        }
    } else {
        match device.answer(command) {
            Answer::Text(text) => {
                out.send(format!("{text}{nl}")).await?;
            }
            Answer::Export(sensitive) => {
                let text = device.export().render(device.clock.now_millis(), sensitive);
                if device.drops_at(DropStage::Output) {
                    // Half the export, then the connection drops.
                    let half = text.len() / 2;
                    out.send(Bytes::copy_from_slice(&text.as_bytes()[..half]))
                        .await?;
                    return Ok(());
                }
                if let Some(bytes) = device.fault(|f| match f {
                    Fault::HugeLine { bytes } => Some(*bytes),
                    _ => None,
                }) {
                    send_huge_line(&mut out, &text, bytes).await?;
                    write.exit_status(0).await?;
                    write.eof().await?;
                    return write.close().await;
                }
                let sent = text.len() as u64;
                out.send(text).await?;
                let oversized = device.fault(|f| match f {
                    Fault::Oversized { bytes } => Some(*bytes),
                    _ => None,
                });
                if let Some(total) = oversized {
                    let mut bulk = BulkLines::new(device.seed, device.spec.line_ending);
                    let mut sent = sent;
                    let mut buf = bulk.header();
                    while sent < total {
                        let want = (total - sent).min(CHUNK as u64) as usize;
                        let need = want.saturating_sub(buf.len());
                        bulk.fill(&mut buf, need);
                        sent += buf.len() as u64;
                        out.send(std::mem::take(&mut buf)).await?;
                    }
                }
            }
        }
    }
    if device
        .fault(|f| (*f == Fault::CloseBeforeExitStatus).then_some(()))
        .is_none()
    {
        write.exit_status(0).await?;
    }
    write.eof().await?;
    write.close().await?;
    Ok(())
}

/// The export's header, then one line of `bytes` bytes with no end.
async fn send_huge_line(
    out: &mut Delivery<'_>,
    export: &str,
    bytes: u64,
) -> Result<(), russh::Error> {
    let header = export.lines().next().unwrap_or_default();
    out.send(format!("{header}\n/system note\nset note=\""))
        .await?;
    let chunk = Bytes::from(vec![b'A'; CHUNK]);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        out.send(chunk.slice(..n)).await?;
        left -= n as u64;
    }
    Ok(())
}
