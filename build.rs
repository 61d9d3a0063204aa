//! Builds the guest plugins (`plugins/`, target `wasm32-wasip2`) so the host can embed the
//! built-in ones (`builtin:tag`, `builtin:sql92`) and its tests can load the testing ones.
//! The plugins are a Cargo workspace of their own, built by a nested `cargo build` into
//! `target/plugins/`; `LOCKGATE_PLUGIN_DIR` tells the host where the `.wasm` files are.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    // OUT_DIR is <target>/<profile>/build/<pkg>/out: share one plugin build across profiles.
    let target_root = out.ancestors().nth(4).unwrap_or(&out).to_path_buf();
    let plugin_target = target_root.join("plugins");
    watch(&root.join("plugins"));
    watch(&root.join("wit"));

    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--workspace",
    ])
    .arg("--manifest-path")
    .arg(root.join("plugins/Cargo.toml"))
    .arg("--target-dir")
    .arg(&plugin_target);
    // The host build's settings must not leak into the guests' (target, flags, clippy).
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the plugins: {e}"));
    if !status.success() {
        if !wasm_target_installed() {
            panic!(
                "the wasm32-wasip2 target is not installed; install it with\n    rustup target add wasm32-wasip2\n(rust-toolchain.toml names it: `rustup toolchain install` in the repository root installs it too)"
            );
        }
        panic!("building the plugins in plugins/ failed (see the errors above)");
    }
    let dir = plugin_target.join("wasm32-wasip2/release");
    println!("cargo:rustc-env=LOCKGATE_PLUGIN_DIR={}", dir.display());
}

/// A toolchain installed before `rust-toolchain.toml` named the target (or by hand, with
/// `--profile minimal`) lacks `wasm32-wasip2`, and rustup adds toolchains but not targets on its
/// own. Add it through rustup for the toolchain this build runs under, and say so; without
/// rustup the build fails below with the command to run.
fn ensure_wasm_target() {
    if wasm_target_installed() {
        return;
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-wasip2"]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    eprintln!(
        "lockgate build: the wasm32-wasip2 target is missing; running `rustup target add wasm32-wasip2`"
    );
    println!(
        "cargo:warning=the wasm32-wasip2 target was missing; added it with `rustup target add wasm32-wasip2`"
    );
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("lockgate build: rustup target add exited with {s}"),
        Err(e) => eprintln!("lockgate build: cannot run rustup ({e})"),
    }
}

fn wasm_target_installed() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib/wasm32-wasip2")
        .is_dir()
}

/// Reruns the build script when a plugin source, manifest or WIT file changes or is added (not
/// on the plugins' own build output): a folder given to cargo is scanned whole, so the top
/// level's folders are given but for `target`.
fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
