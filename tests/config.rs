//! The shipped `config.toml` and the folder of invalid files, through the library and through
//! `lockgate check-config`.

use std::path::Path;
use std::process::Command;

use lockgate::config::Config;

#[test]
fn shipped_config_is_valid_and_equals_the_defaults() {
    let config = Config::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config.toml")
            .as_path(),
    )
    .expect("shipped config.toml validates");
    assert_eq!(config, Config::default());
}

fn invalid_cases() -> Vec<(std::path::PathBuf, Vec<String>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_invalid");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let expected = std::fs::read_to_string(path.with_extension("expected"))
                .unwrap_or_else(|_| panic!("{} has no .expected file", path.display()));
            cases.push((path, expected.lines().map(str::to_string).collect()));
        }
    }
    cases.sort();
    assert!(
        cases.len() >= 10,
        "the invalid-config folder lost its cases"
    );
    cases
}

#[test]
fn every_invalid_file_reports_its_expected_problems() {
    for (path, expected) in invalid_cases() {
        let err = Config::load(&path).expect_err(&format!("{} should be invalid", path.display()));
        let lines = err.lines();
        assert_eq!(
            lines.len(),
            expected.len(),
            "{}: got {lines:#?}",
            path.display()
        );
        for (got, want) in lines.iter().zip(&expected) {
            assert!(
                got.starts_with(want.as_str()),
                "{}:\n got: {got}\nwant: {want}",
                path.display()
            );
        }
    }
}

#[test]
fn check_config_command_prints_ok_or_each_problem_and_exits_2() {
    let bin = env!("CARGO_BIN_EXE_lockgate");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let out = Command::new(bin)
        .args(["check-config", "--config"])
        .arg(&shipped)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\nmetrics: http://127.0.0.1:9464/metrics\n"
    );
    assert!(out.status.success());

    let (path, expected) = invalid_cases()
        .into_iter()
        .find(|(p, _)| p.ends_with("many_problems.toml"))
        .unwrap();
    let out = Command::new(bin)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);

    let out = Command::new(bin)
        .args(["check-config", "--config", "/nonexistent/lockgate.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("cannot read config file /nonexistent/lockgate.toml:")
    );
}

#[test]
fn serve_refuses_an_invalid_file_with_the_same_text() {
    let bin = env!("CARGO_BIN_EXE_lockgate");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_invalid/bad_size.toml");
    let out = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("storage.segment_size: \"12 XB\" is not a size"),
        "stderr was: {stderr}"
    );
}

#[test]
fn a_plugin_that_is_not_webassembly_is_one_line_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("garbage.wasm");
    std::fs::write(&wasm, [0x8c_u8, 0xa4, 0x55, 0xff, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[plugins.g]\npath = {:?}\n", wasm.display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("plugins.g: ") && text.contains("not a WebAssembly file"),
        "{text}"
    );
}

/// Every key the configuration takes — each field of each `Raw*` struct in
/// `src/config/raw.rs`, by its TOML name — is documented in the shipped `config.toml`: as a
/// key (`name = …`, set or commented out) or, for the top level, as a section (`[name]`,
/// `[[name]]`, `[name.…]`).
#[test]
fn the_shipped_config_documents_every_key_there_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(root.join("src/config/raw.rs")).unwrap();
    let shipped = std::fs::read_to_string(root.join("config.toml")).unwrap();
    let lines: Vec<&str> = shipped
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    let mut structs = 0;
    let mut missing = Vec::new();
    let mut current: Option<&str> = None;
    let mut rename: Option<String> = None;
    for line in raw.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("pub struct Raw") {
            current = rest.split_whitespace().next();
            structs += 1;
            continue;
        }
        if line == "}" {
            current = None;
            continue;
        }
        if let Some(at) = line.find("rename = \"") {
            let name = &line[at + 10..];
            rename = name.split('"').next().map(str::to_string);
            continue;
        }
        let (Some(owner), Some(field)) = (current, line.strip_prefix("pub ")) else {
            continue;
        };
        let field = field.split(':').next().unwrap().trim();
        let key = rename.take().unwrap_or_else(|| field.to_string());
        let documented = if owner == "Config" {
            lines.iter().any(|l| {
                l.starts_with(&format!("[{key}]"))
                    || l.starts_with(&format!("[[{key}]]"))
                    || l.starts_with(&format!("[{key}."))
                    || l.starts_with(&format!("[[{key}."))
            })
        } else {
            lines.iter().any(|l| {
                l.strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
                    || l.starts_with(&format!("[{key}]"))
                    || l.contains(&format!(".{key}]"))
            })
        };
        if !documented {
            missing.push(format!("Raw{owner}.{field} (`{key}`)"));
        }
    }
    assert!(structs >= 15, "raw.rs lost its structs ({structs} read)");
    assert!(
        missing.is_empty(),
        "config.toml does not document: {}",
        missing.join(", ")
    );
}
