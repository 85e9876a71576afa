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
    println!("cargo:rerun-if-changed=proto");
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(Error::other)?;
    let well_known = protoc_bin_vendored::include_path().map_err(Error::other)?;
    prost_build::Config::new()
        .protoc_executable(protoc)
        .compile_protos(PROTOS, &[PathBuf::from("proto"), well_known])
}
