//! Every fault of the simulated RouterOS fleet maps to its `FailureKind`
//! within the collector's deadline, with bounded memory — what a broken or
//! hostile router can do after the TCP accept included: the kind is the one
//! that keeps the device's schedule right (a drop is never taken for a
//! refused password), and no answer keeps more than the cap.
//!
//! Each test serves its own one-device fleet on an ephemeral loopback port,
//! so tests run in parallel. The deadline is short ([`DEADLINE`]); elapsed
//! times are checked against it with room for a noisy 2-core machine.

use std::time::Duration;

use confkeep::domain::FailureKind;
use confkeep::effects::ssh::{
    CollectFailure, CollectRequest, Collected, Collector, DEFAULT_OUTPUT_CAP, ExportCommand, Stage,
};
use confkeep::testbed::sim_fleet::{
    DropStage, Fault, FleetSpec, SimDevice, SimFleet, SimFleetHandle,
};

/// The one deadline over each collection in these tests.
const DEADLINE: Duration = Duration::from_secs(2);
/// Scheduling slack on top of the deadline (shared, noisy machine).
const SLACK: Duration = Duration::from_millis(1500);

async fn fleet(faults: &[Fault]) -> (SimFleetHandle, SimDevice) {
    let mut spec = FleetSpec::generated(1, 0xC011EC7);
    for fault in faults {
        spec.add_fault(0, fault.clone());
    }
    let fleet = SimFleet::start(spec).await.expect("the fleet starts");
    let device = fleet.devices()[0].clone();
    (fleet, device)
}

fn request(device: &SimDevice) -> CollectRequest {
    CollectRequest {
        trusted_host_key: Some(device.host_key_fingerprint.clone()),
        timeout: DEADLINE,
        ..CollectRequest::new(
            device.addr.ip().to_string(),
            device.addr.port(),
            &device.user,
            &device.password,
        )
    }
}

/// Collect, and check the attempt ended within the deadline.
async fn collect(request: &CollectRequest) -> Result<Collected, CollectFailure> {
    #[allow(clippy::disallowed_methods)] // measuring the collector's wall time is the point
    let started = std::time::Instant::now();
    let result = Collector::new().collect(request).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed <= request.timeout + SLACK,
        "took {elapsed:?} with a deadline of {:?}",
        request.timeout
    );
    result
}

async fn failure(faults: &[Fault]) -> (CollectFailure, SimDevice) {
    failure_capped(faults, DEFAULT_OUTPUT_CAP).await
}

/// The failure of one collection with this output cap; its message names
/// no secret and stays short whatever the device sent.
async fn failure_capped(faults: &[Fault], cap: usize) -> (CollectFailure, SimDevice) {
    let (_fleet, device) = fleet(faults).await;
    let request = CollectRequest {
        output_cap: cap,
        ..request(&device)
    };
    let failure = match collect(&request).await {
        Ok(c) => panic!("{faults:?} collected {} bytes", c.bytes_read),
        Err(f) => f,
    };
    assert!(
        !failure.message.contains(&device.password),
        "{}",
        failure.message
    );
    assert!(
        failure.message.len() < 1_000,
        "an unbounded message: {} bytes",
        failure.message.len()
    );
    (failure, device)
}

#[tokio::test]
async fn a_healthy_device_collects_with_its_expected_hash() {
    let (_fleet, device) = fleet(&[]).await;
    let collected = collect(&request(&device)).await.expect("collected");
    assert_eq!(collected.sha256, device.expected_hash());
    assert_eq!(collected.host_key, device.host_key_fingerprint);
    assert_eq!(collected.routeros_version, device.version);
    assert_eq!(collected.command, ExportCommand::ShowSensitive);
}

#[tokio::test]
async fn wrong_password_is_auth_failed() {
    let (failure, _) = failure(&[Fault::WrongPassword]).await;
    assert_eq!(failure.kind, FailureKind::AuthFailed);
    assert_eq!(failure.stage, Stage::Auth);
}

#[tokio::test]
async fn a_replaced_host_key_is_a_mismatch_before_authentication() {
    let (failure, device) = failure(&[Fault::HostKeyReplaced { after: 0 }]).await;
    let presented = device
        .replacement_host_key_fingerprint
        .clone()
        .expect("a replacement key");
    assert_ne!(presented, device.host_key_fingerprint);
    assert_eq!(failure.kind, FailureKind::HostKeyMismatch { presented });
    assert_eq!(failure.stage, Stage::KeyExchange);
}

#[tokio::test]
async fn silence_after_the_tcp_accept_is_a_timeout() {
    let (failure, _) = failure(&[Fault::SilentAfterAccept]).await;
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(failure.stage, Stage::KeyExchange);
    assert!(failure.duration >= DEADLINE);
}

#[tokio::test]
async fn silence_mid_output_is_a_timeout_while_reading() {
    let (failure, _) = failure(&[Fault::SilentMidOutput { after_bytes: 2000 }]).await;
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(failure.stage, Stage::Read);
    assert!(
        failure.message.contains("2000 bytes"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn close_before_the_exit_status_is_truncated() {
    let (failure, _) = failure(&[Fault::CloseBeforeExitStatus]).await;
    assert_eq!(failure.kind, FailureKind::Truncated);
    assert_eq!(failure.stage, Stage::Read);
}

/// Peak resident memory of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status")
        * 1024
}

#[tokio::test]
async fn endless_output_is_too_large_with_bounded_memory() {
    let before = peak_rss();
    let (_fleet, device) = fleet(&[Fault::Oversized {
        bytes: 4 * 1024 * 1024 * 1024,
    }])
    .await;
    let cap = 2 * 1024 * 1024;
    let request = CollectRequest {
        output_cap: cap,
        // Long enough to reach the cap on a slow machine; the cap, not the
        // deadline, must end it.
        timeout: Duration::from_secs(10),
        ..request(&device)
    };
    let failure = collect(&request).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::TooLarge, "{}", failure.message);
    assert_eq!(failure.stage, Stage::Read);
    // 4 GiB offered; only the cap (plus buffers in flight) may be held.
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 64 * 1024 * 1024,
        "peak memory grew by {grown} bytes for a {cap}-byte cap"
    );
}

#[tokio::test]
async fn slow_output_is_a_timeout_while_reading() {
    let (failure, _) = failure(&[Fault::SlowOutput { bytes_per_sec: 500 }]).await;
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(failure.stage, Stage::Read);
}

#[tokio::test]
async fn routeros_6_is_asked_again_and_collects() {
    let (_fleet, device) = fleet(&[Fault::RouterOs6]).await;
    let collected = collect(&request(&device)).await.expect("collected");
    assert_eq!(collected.command, ExportCommand::Plain);
    assert!(collected.retried);
    assert_eq!(collected.routeros_major, 6);
    assert_eq!(collected.sha256, device.expected_hash());
    assert_eq!(device.connections(), 2);

    let request = CollectRequest {
        routeros_major: Some(6),
        ..request(&device)
    };
    let again = collect(&request).await.expect("collected");
    assert!(!again.retried);
    assert_eq!(device.connections(), 3);
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let (failure, _) = failure(&[Fault::ConnectionRefused]).await;
    assert_eq!(failure.kind, FailureKind::ConnectionRefused);
    assert_eq!(failure.stage, Stage::Connect);
}

#[tokio::test]
async fn garbage_is_invalid_output() {
    let (failure, _) = failure(&[Fault::Garbage { bytes: 4096 }]).await;
    assert_eq!(failure.kind, FailureKind::InvalidOutput);
    assert_eq!(failure.stage, Stage::Validate);
}

#[tokio::test]
async fn a_reset_after_accept_is_other_before_any_password() {
    let (failure, _) = failure(&[Fault::Flaky { ratio: 1.0 }]).await;
    assert_eq!(failure.kind, FailureKind::Other, "{}", failure.message);
    assert_eq!(failure.stage, Stage::KeyExchange);
}

#[tokio::test]
async fn a_banner_that_never_ends_is_refused_within_the_deadline() {
    // russh stops reading pre-identification lines after its limit: the
    // device never said it is an SSH server.
    let (failure, _) = failure(&[Fault::EndlessBanner]).await;
    assert_eq!(failure.kind, FailureKind::Other, "{}", failure.message);
    assert!(
        failure
            .message
            .contains("did not identify as an SSH server"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn an_old_router_needs_legacy_algorithms_and_collects_with_them() {
    let (_fleet, device) = fleet(&[Fault::LegacyAlgorithms]).await;
    let modern = collect(&request(&device)).await.unwrap_err();
    assert_eq!(modern.kind, FailureKind::Other, "{}", modern.message);
    assert!(modern.message.contains("legacy"), "{}", modern.message);

    let legacy = CollectRequest {
        legacy: true,
        ..request(&device)
    };
    let collected = collect(&legacy)
        .await
        .expect("collected with legacy algorithms");
    assert_eq!(collected.sha256, device.expected_hash());
    assert_eq!(collected.host_key, device.host_key_fingerprint);
}

// === hostile routers ===

/// A small cap, so that endless answers reach it quickly.
const CAP: usize = 2 * 1024 * 1024;

#[tokio::test]
async fn a_key_exchange_that_never_completes_is_a_timeout() {
    let (f, _) = failure(&[Fault::StalledKex]).await;
    assert_eq!(f.kind, FailureKind::Timeout, "{}", f.message);
    assert_eq!(f.stage, Stage::KeyExchange, "{}", f.message);
}

#[tokio::test]
async fn a_disconnect_at_every_stage_is_transient_and_names_the_stage() {
    let expected = [
        (DropStage::Banner, Stage::KeyExchange),
        (DropStage::Kex, Stage::KeyExchange),
        (DropStage::Auth, Stage::Auth),
        // The command is sent without waiting for its reply: the drop is
        // seen while reading.
        (DropStage::Exec, Stage::Read),
        (DropStage::Output, Stage::Read),
    ];
    for (drop, stage) in expected {
        let (f, _) = failure(&[Fault::DisconnectAt { stage: drop }]).await;
        assert!(
            f.kind.is_transient(),
            "a drop at {} became {:?}: {}",
            drop.name(),
            f.kind,
            f.message
        );
        assert_ne!(f.kind, FailureKind::AuthFailed, "{}", f.message);
        assert_eq!(f.stage, stage, "drop at {}: {}", drop.name(), f.message);
    }
    let (f, _) = failure(&[Fault::DisconnectAt {
        stage: DropStage::Output,
    }])
    .await;
    assert_eq!(f.kind, FailureKind::Truncated, "{}", f.message);
}

#[tokio::test]
async fn one_byte_a_second_is_a_timeout_while_reading() {
    let (f, _) = failure(&[Fault::SlowOutput { bytes_per_sec: 1 }]).await;
    assert_eq!(f.kind, FailureKind::Timeout, "{}", f.message);
    assert_eq!(f.stage, Stage::Read);
}

#[tokio::test]
async fn binary_garbage_past_a_chunk_is_invalid_output_without_control_characters() {
    let (f, _) = failure(&[Fault::Garbage { bytes: 512 * 1024 }]).await;
    assert_eq!(f.kind, FailureKind::InvalidOutput, "{}", f.message);
    assert!(!f.message.contains('\0'), "{}", f.message);
}

#[tokio::test]
async fn a_huge_single_line_stops_at_the_cap() {
    let (f, _) = failure_capped(&[Fault::HugeLine { bytes: 64 << 20 }], CAP).await;
    assert_eq!(f.kind, FailureKind::TooLarge, "{}", f.message);
    assert_eq!(f.stage, Stage::Read);
    // Under the cap, a long line is config like any other.
    let (_fleet, device) = fleet(&[Fault::HugeLine { bytes: 256 * 1024 }]).await;
    let request = CollectRequest {
        output_cap: CAP,
        ..request(&device)
    };
    let collected = collect(&request)
        .await
        .expect("a long line under the cap is collected");
    assert!(collected.bytes_read > 256 * 1024);
}

#[tokio::test]
async fn endless_output_past_the_cap_is_too_large() {
    let (f, _) = failure_capped(&[Fault::Oversized { bytes: 1 << 40 }], CAP).await;
    assert_eq!(f.kind, FailureKind::TooLarge, "{}", f.message);
}

#[tokio::test]
async fn hundreds_of_channel_opens_are_refused_and_the_backup_goes_on() {
    let (fleet, device) = fleet(&[Fault::ChannelFlood { count: 400 }]).await;
    let collected = collect(&request(&device))
        .await
        .expect("the export still arrives");
    assert_eq!(collected.sha256, device.expected_hash());
    let accepted = fleet.devices()[0].flood_accepted();
    assert_eq!(
        accepted, 0,
        "the client took {accepted} channels from the device"
    );
}

#[test]
fn hostile_faults_parse_from_specs() {
    use confkeep::testbed::sim_fleet::parse_fault_spec;
    let map = parse_fault_spec(
        "stalled-kex=1;disconnect:auth=2;huge-line:1MiB=3;channel-flood:300=4",
        4,
    )
    .unwrap();
    assert_eq!(map[&0], vec![Fault::StalledKex]);
    assert_eq!(
        map[&1],
        vec![Fault::DisconnectAt {
            stage: DropStage::Auth
        }]
    );
    assert_eq!(map[&2], vec![Fault::HugeLine { bytes: 1 << 20 }]);
    assert_eq!(map[&3], vec![Fault::ChannelFlood { count: 300 }]);
    let e = parse_fault_spec("disconnect:never=1", 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("never"), "{e}");
}
