//! Builds the guest crate into the user-phone component, so that `cargo build` and
//! `cargo test` from a clean checkout need nothing else. The component is compiled by a
//! nested cargo with a target dir of its own (`target/guest`), so it never contends with
//! the outer build's lock, and copied into `OUT_DIR` for `include_bytes!`.
//!
//! `USER_PHONE_PREBUILT_WASM` names a component built earlier and skips the nested build.
//! The fuzz targets use it: they are built by a nightly toolchain, which has no
//! `wasm32-wasip2` standard library here, so the stable build makes the component for them.
//!
//! It also generates, with tonic, the gRPC client of ZITADEL's management service from the
//! component's `.proto` files, for the end-to-end tests to call the server as any
//! generated client would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use anyhow::{Context, Result, bail};

const TARGET: &str = "wasm32-wasip2";
const PREBUILT: &str = "USER_PHONE_PREBUILT_WASM";

fn main() -> Result<()> {
    let host_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = host_dir
        .parent()
        .context("the host crate lives in the workspace")?;
    for input in [
        "guest/src",
        "guest/build.rs",
        "guest/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }

    generate_grpc_client(root)?;
    println!("cargo:rerun-if-env-changed={PREBUILT}");
    let built = match env::var_os(PREBUILT) {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", Path::new(&path).display());
            PathBuf::from(path)
        }
        None => build_guest(root)?,
    };
    let out = PathBuf::from(env::var("OUT_DIR")?).join("user_phone.wasm");
    fs::copy(&built, &out).with_context(|| format!("failed to copy {built:?}"))?;
    println!("cargo:rustc-env=USER_PHONE_WASM={}", out.display());
    Ok(())
}

/// Compiles the guest crate with a nested cargo and returns the path of the component.
fn build_guest(root: &Path) -> Result<PathBuf> {
    ensure_target_installed()?;
    let target_dir = root.join("target").join("guest");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(root)
        .args([
            "build",
            "--package",
            "user-phone-guest",
            "--profile",
            "guest",
            "--locked",
        ])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for the host, not for the component.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        build.env_remove(var);
    }
    let status = build
        .status()
        .context("failed to run cargo for the guest")?;
    if !status.success() {
        bail!("failed to build the guest component ({status})");
    }

    Ok(target_dir
        .join(TARGET)
        .join("guest")
        .join("user_phone_guest.wasm"))
}

/// Generates `zitadel_client.rs` in `OUT_DIR`: messages and a client, no server.
fn generate_grpc_client(root: &Path) -> Result<()> {
    let protos = root.join("guest/proto");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_server(false)
        .include_file("zitadel_client.rs")
        .compile_with_config(
            config,
            &[
                protos.join("zitadel/management.proto"),
                protos.join("zitadel/message.proto"),
                protos.join("google/rpc/status.proto"),
            ],
            &[protos.clone(), protoc_bin_vendored::include_path()?],
        )
        .context("failed to generate the gRPC client")
}

/// Installs the `wasm32-wasip2` standard library through rustup when it is missing, so a
/// fresh machine needs no step before `cargo build`.
fn ensure_target_installed() -> Result<()> {
    let sysroot = Command::new(env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .context("failed to ask rustc for its sysroot")?;
    let sysroot = String::from_utf8(sysroot.stdout)?;
    let lib = Path::new(sysroot.trim()).join("lib/rustlib").join(TARGET);
    if lib.exists() {
        return Ok(());
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (once)");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context(
            "failed to run rustup; install the target with `rustup target add wasm32-wasip2`",
        )?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed ({status})");
    }
    Ok(())
}
