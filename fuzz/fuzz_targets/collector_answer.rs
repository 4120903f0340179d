//! What a device sends after authentication, as the collector's reader sees
//! it: data and stderr chunks, exit status and signal, refusals and close,
//! in any order. Every transcript ends in a snapshot or a classified
//! failure — never a panic, never more kept than the output cap.
#![no_main]

use confkeep::effects::ssh::{ChannelEvent, ExportCommand, read_transcript};
use libfuzzer_sys::fuzz_target;

/// A small cap, so the fuzzer reaches it.
const CAP: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut events = Vec::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let len = usize::from(tail.first().copied().unwrap_or(0));
        let take = len.min(tail.len().saturating_sub(1));
        let body = tail.get(1..1 + take).unwrap_or(&[]);
        rest = tail.get(1 + take..).unwrap_or(&[]);
        events.push(match op % 7 {
            0 | 1 => ChannelEvent::Stdout(body),
            2 => ChannelEvent::Stderr(body),
            3 => ChannelEvent::ExitStatus(u32::from(body.first().copied().unwrap_or(0)) % 3),
            4 => ChannelEvent::ExitSignal(String::from_utf8_lossy(body).into_owned()),
            5 => ChannelEvent::Failure,
            _ => ChannelEvent::Close,
        });
    }
    match read_transcript(&events, CAP, ExportCommand::ShowSensitive) {
        Ok(collected) => {
            assert!(collected.bytes_read <= CAP);
            assert_eq!(collected.exit_status, 0);
            assert_eq!(collected.sha256.len(), 64);
        }
        Err((kind, message)) => {
            assert!(!kind.name().is_empty());
            assert!(message.len() < 2_000, "an unbounded failure message");
        }
    }
});
