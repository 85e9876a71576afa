//! Generates the Rust types of the protobuf messages in `proto/` (ZITADEL's
//! `GetHumanPhone` request and response, `google.rpc.Status` and ZITADEL's `ErrorDetail`)
//! for the gRPC and gRPC-web encodings. protoc and the well-known types come from
//! `protoc-bin-vendored`, so a build needs nothing installed.

use std::io::{Error, Result};
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/zitadel/management.proto",
    "proto/zitadel/message.proto",
    "proto/google/rpc/status.proto",
];

fn main() -> Result<()> {
    link_small_stack();
    println!("cargo:rerun-if-changed=proto");
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(Error::other)?;
    let well_known = protoc_bin_vendored::include_path().map_err(Error::other)?;
    prost_build::Config::new()
        .protoc_executable(protoc)
        .compile_protos(PROTOS, &[PathBuf::from("proto"), well_known])
}

// --- Guest stack size (for speed; see BENCHMARKS.md) ---------------------------------------

/// Gives the component a 64 KiB stack instead of the linker's 1 MiB. The stack lies at the
/// bottom of linear memory, so its size is memory every instance starts with and that the
/// host maps, protects and resets per instance; the endpoint uses a few KiB of it. An
/// overflow runs below address 0 and traps instead of overwriting data. Native builds
/// (tests, benchmarks) keep their own stacks.
fn link_small_stack() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=65536");
    }
}
