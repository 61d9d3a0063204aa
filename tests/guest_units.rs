//! The guest workspace's own unit tests (`plugins/filters`: the SQL92 and Tag parsers, the topic
//! exchange's patterns, the retry schedules, config parsing), run from the host's `cargo test`
//! so that CI's one test command covers them: `plugins/` is a workspace of its own.

use std::process::Command;

#[test]
fn the_policy_crates_unit_tests_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "test",
        "--quiet",
        "-p",
        "lockgate-filters",
        "--manifest-path",
    ])
    .arg(format!("{root}/plugins/Cargo.toml"))
    .arg("--target-dir")
    .arg(format!("{root}/target/plugins-native"));
    // The host build's settings are not the guests'.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("run cargo test for plugins/filters");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "plugins/filters unit tests failed:\n{text}"
    );
    // The exchange and schedule tests are among them (a test that is not run cannot fail).
    let passed: usize = text
        .lines()
        .filter_map(|l| l.split("test result: ok. ").nth(1))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed >= 9, "only {passed} unit tests ran:\n{text}");
}
