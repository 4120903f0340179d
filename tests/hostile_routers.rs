//! What a compromised or broken router can do after the TCP accept, against
//! the real collector: each is classified within the attempt deadline, the
//! kind is the one that keeps the device's schedule right (a drop is never
//! taken for a refused password), and no answer keeps more than the cap.
//!
//! Each test serves its own one-device fleet on an ephemeral loopback port.

use std::time::Duration;

use confkeep::domain::FailureKind;
use confkeep::effects::ssh::{CollectFailure, CollectRequest, Collected, Collector, Stage};
use confkeep::testbed::sim_fleet::{
    DropStage, Fault, FleetSpec, SimDevice, SimFleet, SimFleetHandle,
};

/// The deadline over each collection here.
const DEADLINE: Duration = Duration::from_secs(2);
/// Scheduling slack on top of it (shared, noisy machine).
const SLACK: Duration = Duration::from_millis(1500);

async fn fleet(fault: Fault) -> (SimFleetHandle, SimDevice) {
    let mut spec = FleetSpec::generated(1, 0xBAD_C0DE);
    spec.add_fault(0, fault);
    let fleet = SimFleet::start(spec).await.expect("the fleet starts");
    let device = fleet.devices()[0].clone();
    (fleet, device)
}

fn request(device: &SimDevice, cap: usize) -> CollectRequest {
    CollectRequest {
        trusted_host_key: Some(device.host_key_fingerprint.clone()),
        timeout: DEADLINE,
        output_cap: cap,
        ..CollectRequest::new(
            device.addr.ip().to_string(),
            device.addr.port(),
            &device.user,
            &device.password,
        )
    }
}

/// Collect once from a device with `fault`, within the deadline.
async fn collect(
    fault: Fault,
    cap: usize,
) -> (Result<Collected, CollectFailure>, SimDevice, SimFleetHandle) {
    let (fleet, device) = fleet(fault.clone()).await;
    #[allow(clippy::disallowed_methods)] // the collector's wall time is what is checked
    let started = std::time::Instant::now();
    let result = Collector::new().collect(&request(&device, cap)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed <= DEADLINE + SLACK,
        "{fault:?} took {elapsed:?} with a deadline of {DEADLINE:?}"
    );
    if let Err(f) = &result {
        assert!(!f.message.contains(&device.password), "{}", f.message);
        assert!(
            f.message.len() < 1_000,
            "an unbounded message: {} bytes",
            f.message.len()
        );
    }
    (result, device, fleet)
}

async fn failure(fault: Fault, cap: usize) -> CollectFailure {
    let (result, _, _) = collect(fault.clone(), cap).await;
    match result {
        Ok(c) => panic!("{fault:?} collected {} bytes", c.bytes_read),
        Err(f) => f,
    }
}

const CAP: usize = 2 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_exchange_that_never_completes_is_a_timeout() {
    let f = failure(Fault::StalledKex, CAP).await;
    assert_eq!(f.kind, FailureKind::Timeout, "{}", f.message);
    assert_eq!(f.stage, Stage::KeyExchange, "{}", f.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
        let f = failure(Fault::DisconnectAt { stage: drop }, CAP).await;
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
    let f = failure(
        Fault::DisconnectAt {
            stage: DropStage::Output,
        },
        CAP,
    )
    .await;
    assert_eq!(f.kind, FailureKind::Truncated, "{}", f.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_a_second_is_a_timeout_while_reading() {
    let f = failure(Fault::SlowOutput { bytes_per_sec: 1 }, CAP).await;
    assert_eq!(f.kind, FailureKind::Timeout, "{}", f.message);
    assert_eq!(f.stage, Stage::Read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_garbage_is_invalid_output() {
    let f = failure(Fault::Garbage { bytes: 512 * 1024 }, CAP).await;
    assert_eq!(f.kind, FailureKind::InvalidOutput, "{}", f.message);
    assert!(!f.message.contains('\0'), "{}", f.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_single_line_stops_at_the_cap() {
    let f = failure(
        Fault::HugeLine {
            bytes: 64 * 1024 * 1024,
        },
        CAP,
    )
    .await;
    assert_eq!(f.kind, FailureKind::TooLarge, "{}", f.message);
    assert_eq!(f.stage, Stage::Read);
    // Under the cap, a long line is config like any other.
    let (result, _, _) = collect(Fault::HugeLine { bytes: 256 * 1024 }, CAP).await;
    let collected = result.expect("a long line under the cap is collected");
    assert!(collected.bytes_read > 256 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_output_past_the_cap_is_too_large() {
    let f = failure(Fault::Oversized { bytes: 1 << 40 }, CAP).await;
    assert_eq!(f.kind, FailureKind::TooLarge, "{}", f.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_channel_opens_are_refused_and_the_backup_goes_on() {
    let (result, device, fleet) = collect(Fault::ChannelFlood { count: 400 }, CAP).await;
    let collected = result.expect("the export still arrives");
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
    let e = parse_fault_spec("0:disconnect:never", 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("never"), "{e}");
}
