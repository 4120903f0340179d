//! Compaction of the JetStream log, one device at a time, without a
//! consumer: a device's oldest events are walked message by message with
//! the stream's direct "next message on this subject from this sequence"
//! get, and removed by a purge of its subject below the first kept one.
//!
//! Why not the device's history through a filtered consumer: on
//! nats-server 2.9 creating one scans the stream (≈ 200 ms per device on a
//! 584 000-event stream, growing with it; `cargo bench --bench storage`),
//! so a pass over 100 000 devices took days. The walk costs one request
//! per old event plus one: after the first pass, about one an hour per
//! device.

use async_nats::jetstream::stream::LastRawMessageErrorKind;

use super::JetStreamLog;
use crate::domain::{DeviceId, Envelope, Timestamp};
use crate::store::StoreError;

impl JetStreamLog {
    /// The literal subject `device`'s events are filed on (its tenant
    /// found from its last event), or `None` without events.
    async fn filed_on(&self, device: &DeviceId) -> Result<Option<String>, StoreError> {
        let wildcard = format!("{}.*.{device}", self.inner.prefix);
        Ok(self
            .last_message(&wildcard)
            .await?
            .map(|m| m.subject.to_string()))
    }

    /// The first message on `subject` at or after stream sequence `from`:
    /// its stream sequence and envelope (`None`: there is none; an
    /// envelope that does not decode ends the walk there too — nothing is
    /// ever removed past a record that cannot be archived).
    async fn next_on(
        &self,
        subject: &str,
        from: u64,
    ) -> Result<Option<(u64, Envelope)>, StoreError> {
        let message = match self
            .inner
            .stream
            .raw_message_builder()
            .sequence(from)
            .next_by_subject(subject)
            .send()
            .await
        {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(StoreError::unavailable(format!(
                    "stream {}: cannot read {subject} from sequence {from}: {e}",
                    self.inner.stream_name
                )));
            }
        };
        Ok(crate::store::codec::decode(&message.payload)
            .ok()
            .map(|env| (message.sequence, env)))
    }

    /// `device`'s events older than `cutoff`, oldest first, and the first
    /// one that is not (if any): what a compaction pass decides on.
    pub(super) async fn oldest_events_inner(
        &self,
        device: &DeviceId,
        cutoff: Timestamp,
    ) -> Result<Vec<Envelope>, StoreError> {
        let Some(subject) = self.filed_on(device).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut from = 1;
        while let Some((at, env)) = self.next_on(&subject, from).await? {
            let old = env.at < cutoff;
            out.push(env);
            if !old {
                break;
            }
            from = at + 1;
        }
        Ok(out)
    }

    pub(super) async fn compact_inner(
        &self,
        device: &DeviceId,
        keep_from: u64,
    ) -> Result<u64, StoreError> {
        let Some(subject) = self.filed_on(device).await? else {
            return Ok(0);
        };
        // The first kept event: the first at `keep_from`, else the last.
        let (mut from, mut first_kept, mut removed_any) = (1, None, false);
        while let Some((at, env)) = self.next_on(&subject, from).await? {
            first_kept = Some(at);
            if env.seq >= keep_from {
                break;
            }
            removed_any = true;
            from = at + 1;
        }
        let Some(first_kept) = first_kept.filter(|_| removed_any) else {
            return Ok(0);
        };
        let purged = self
            .inner
            .stream
            .purge()
            .filter(subject.clone())
            .sequence(first_kept)
            .await
            .map_err(|e| {
                StoreError::unavailable(format!(
                    "stream {}: cannot purge {subject} below sequence {first_kept}: {e}",
                    self.inner.stream_name
                ))
            })?;
        Ok(purged.purged)
    }
}
