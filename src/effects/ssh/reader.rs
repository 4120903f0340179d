//! Reading one command's answer: what the device sends on the exec channel
//! after authentication, event by event, bounded by the output cap; and
//! the same reading over a recorded transcript, for the fuzz target.

use crate::domain::FailureKind;

use super::{Answer, Collected, ExportCommand, Progress, Stage, Symptom, classify};

/// What a device sent on the exec channel, as the reader sees it (russh's
/// messages, without russh): the seam the fuzz target drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelEvent<'a> {
    Stdout(&'a [u8]),
    Stderr(&'a [u8]),
    ExitStatus(u32),
    /// The signal's name (and whether it dumped core).
    ExitSignal(String),
    /// The device refused a channel request.
    Failure,
    Close,
}

/// Reads one command's answer, event by event, bounded by the cap.
pub(super) struct Reader {
    command: ExportCommand,
    cap: usize,
    answer: Answer,
    signal: Option<String>,
}

impl Reader {
    pub(super) fn new(command: ExportCommand, cap: usize) -> Reader {
        Reader {
            command,
            cap,
            answer: Answer::default(),
            signal: None,
        }
    }

    /// Take one event; `Break` once the channel closed.
    pub(super) fn feed(
        &mut self,
        event: ChannelEvent<'_>,
        progress: &Progress,
    ) -> Result<std::ops::ControlFlow<()>, Symptom> {
        match event {
            ChannelEvent::Stdout(data) => self.answer.take(data, false, self.cap, progress)?,
            ChannelEvent::Stderr(data) => self.answer.take(data, true, self.cap, progress)?,
            ChannelEvent::ExitStatus(status) => self.answer.exit_status = Some(status),
            ChannelEvent::ExitSignal(signal) => {
                // A device may repeat it: keep the first, bounded.
                self.signal
                    .get_or_insert_with(|| signal.chars().take(64).collect());
            }
            ChannelEvent::Failure
                if self.answer.bytes() == 0 && self.answer.exit_status.is_none() =>
            {
                return Err(Symptom::ExecRefused {
                    reason: format!("`{}` was refused", self.command.command_line()),
                });
            }
            ChannelEvent::Failure => {}
            ChannelEvent::Close => return Ok(std::ops::ControlFlow::Break(())),
        }
        Ok(std::ops::ControlFlow::Continue(()))
    }

    /// The channel ended (closed, or the session went away).
    pub(super) fn end(self) -> Result<Answer, Symptom> {
        if self.answer.exit_status.is_none() {
            return Err(Symptom::NoExitStatus {
                bytes: self.answer.bytes(),
                signal: self.signal,
            });
        }
        Ok(self.answer)
    }
}

/// Read a whole transcript of what a device sent after authentication,
/// then apply the completeness gate, normalize and hash, exactly as an
/// attempt does: a snapshot, or the failure's kind and message.
pub fn read_transcript(
    events: &[ChannelEvent<'_>],
    output_cap: usize,
    command: ExportCommand,
) -> Result<Collected, (FailureKind, String)> {
    let progress = Progress::default();
    progress.set_stage(Stage::Read);
    let mut reader = Reader::new(command, output_cap);
    let read = (|| {
        for event in events {
            if reader.feed(event.clone(), &progress)?.is_break() {
                break;
            }
        }
        let answer = reader.end()?;
        let bytes = answer.bytes();
        answer.finish(command, false, bytes, &progress)
    })();
    read.map_err(|symptom| classify(&symptom))
}
