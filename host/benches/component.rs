//! The component against the same guest logic compiled natively, in one run: the typed
//! export and the wire export (REST and gRPC), each on a warm instance kept across calls
//! and on a fresh instance per call as the server runs it, next to a direct native call
//! over the same in-memory data. Ends with a table of medians and ratios, the size of the
//! component and the linear memory one instance uses.
//!
//! Run with `cargo bench -p user-phone --bench component`; a filter after `--` (`typed`,
//! `rest`, `grpc`) runs one group.

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use user_phone::bindings::lookup::Caller;
use user_phone::bindings::wire::{Request, Response};
use user_phone::runtime::COMPONENT;
use user_phone::{Runtime, RuntimeConfig, Storage};
use user_phone_guest::endpoint::{Call, Header};
use user_phone_guest::{typed, wire};

use common::Native;

/// Each row of the summary: the group, the component's variant, and the target median.
const TARGETS: &[(&str, &str, Option<f64>)] = &[
    ("typed", "component_warm", Some(2_000.0)),
    ("typed", "component_fresh", Some(10_000.0)),
    ("rest", "component_warm", Some(3_000.0)),
    ("rest", "component_fresh", None),
    ("grpc", "component_warm", None),
    ("grpc", "component_fresh", None),
];

fn main() {
    let store = common::demo_store();
    let storage: Arc<dyn Storage> = store.clone();
    let native = Native(store);
    let runtime = Runtime::new(runtime_config()).expect("the component loads");

    let mut criterion = Criterion::default()
        .output_directory(&criterion_dir())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    typed_group(&mut criterion, &runtime, &storage, &native);
    wire_group(
        &mut criterion,
        "rest",
        common::rest_request(),
        &runtime,
        &storage,
        &native,
    );
    wire_group(
        &mut criterion,
        "grpc",
        common::grpc_request(),
        &runtime,
        &storage,
        &native,
    );
    criterion.final_summary();

    summary(&runtime, &storage);
}

/// The server's limits. `BENCH_MAX_INSTANCES` shrinks the pool, whose address space
/// (some 4 GiB per slot) valgrind cannot reserve at the default size.
fn runtime_config() -> RuntimeConfig {
    let slots = std::env::var("BENCH_MAX_INSTANCES")
        .ok()
        .and_then(|n| n.parse().ok());
    let defaults = RuntimeConfig::default();
    RuntimeConfig {
        max_instances: slots.unwrap_or(defaults.max_instances),
        ..defaults
    }
}

/// The typed export: `get-user-phone` with the demo caller.
fn typed_group(c: &mut Criterion, runtime: &Runtime, storage: &Arc<dyn Storage>, native: &Native) {
    let caller = common::caller();
    let mut warm = runtime
        .warm(storage.clone())
        .expect("the component instantiates");
    let expected = warm.get_user_phone(&caller, common::USER_ID);
    assert!(expected.is_ok(), "the demo call succeeds: {expected:?}");

    let mut group = c.benchmark_group("typed");
    group.bench_function("native", |b| {
        b.iter(|| native_typed(native, black_box(&caller)))
    });
    group.bench_function("component_warm", |b| {
        b.iter(|| warm.get_user_phone(black_box(&caller), common::USER_ID))
    });
    group.bench_function("component_fresh", |b| {
        b.iter(|| runtime.get_user_phone(storage.clone(), black_box(&caller), common::USER_ID))
    });
    group.finish();
}

/// What the component's typed export does, compiled natively: the endpoint, then the
/// `user-phone` record.
fn native_typed(native: &Native, caller: &Caller) -> Option<u64> {
    let call = Call {
        host: Header::Value(&caller.host),
        authorization: Header::from_option(caller.authorization.as_deref()),
        org_id: Header::from_option(caller.org_id.as_deref()),
        accept_language: caller.accept_language.as_deref(),
        now: user_phone_guest::Timestamp {
            seconds: caller.now.seconds,
            nanos: caller.now.nanos,
        },
        user_id: common::USER_ID,
    };
    let found = user_phone_guest::endpoint::get_user_phone(native, &call).ok()?;
    Some(typed::user_phone(found).details.sequence)
}

/// The wire export: request bytes in, response bytes out.
fn wire_group(
    c: &mut Criterion,
    name: &str,
    request: Request,
    runtime: &Runtime,
    storage: &Arc<dyn Storage>,
    native: &Native,
) {
    let guest_request = common::guest_request(&request);
    let mut warm = runtime
        .warm(storage.clone())
        .expect("the component instantiates");
    let answer = warm.handle(&request);
    let baseline = wire::handle(native, &guest_request);
    assert_eq!(answer.status, 200, "{name}: the demo request succeeds");
    assert_eq!(
        (&answer.body, &answer.trailers),
        (&baseline.body, &baseline.trailers),
        "{name}: the component and the native build answer alike"
    );
    if name == "grpc" {
        assert_eq!(grpc_status(&answer), Some("0"), "{name}: the call succeeds");
    }

    let mut group = c.benchmark_group(name);
    group.bench_function("native", |b| {
        b.iter(|| wire::handle(native, black_box(&guest_request)))
    });
    group.bench_function("component_warm", |b| {
        b.iter(|| warm.handle(black_box(&request)))
    });
    group.bench_function("component_fresh", |b| {
        b.iter(|| runtime.handle(storage.clone(), black_box(&request)))
    });
    group.finish();
}

fn grpc_status(answer: &Response) -> Option<&str> {
    let field = answer
        .trailers
        .iter()
        .find(|(name, _)| name == "grpc-status")?;
    Some(&field.1)
}

/// Medians against their native baseline and target, the component's size, and the
/// linear memory of an instance after each kind of call.
fn summary(runtime: &Runtime, storage: &Arc<dyn Storage>) {
    println!(
        "\n{:<24} {:>12} {:>12} {:>8} {:>10}",
        "benchmark", "median", "native", "ratio", "target"
    );
    for (group, variant, target) in TARGETS {
        let (Some(median), Some(native)) = (median(group, variant), median(group, "native")) else {
            continue;
        };
        let target = target.map_or("-".to_string(), |t| format!("≤ {}", nanos(t)));
        let name = format!("{group}/{variant}");
        let ratio = median / native;
        println!(
            "{name:<24} {:>12} {:>12} {ratio:>7.1}x {target:>10}",
            nanos(median),
            nanos(native)
        );
    }

    let size = COMPONENT.len();
    println!(
        "\ncomponent size: {size} bytes ({:.1} KiB; target ≤ 150 KiB)",
        size as f64 / 1024.0
    );
    let mut warm = runtime
        .warm(storage.clone())
        .expect("the component instantiates");
    println!(
        "linear memory after instantiation: {} bytes",
        warm.memory_size()
    );
    warm.get_user_phone(&common::caller(), common::USER_ID)
        .expect("the demo call succeeds");
    println!(
        "linear memory after a typed call: {} bytes",
        warm.memory_size()
    );
    warm.handle(&common::rest_request());
    println!(
        "linear memory after a REST call: {} bytes",
        warm.memory_size()
    );
    warm.handle(&common::grpc_request());
    println!(
        "linear memory after a gRPC call: {} bytes",
        warm.memory_size()
    );
}

/// Where criterion keeps its results: `target/criterion` of the workspace.
fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    let target = target.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// The median criterion measured for `group/function` in this run, in nanoseconds.
fn median(group: &str, function: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn nanos(value: f64) -> String {
    if value >= 1_000.0 {
        format!("{:.2} µs", value / 1_000.0)
    } else {
        format!("{value:.0} ns")
    }
}
