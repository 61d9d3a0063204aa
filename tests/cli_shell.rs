//! What a shell and `--help` show of the CLI: completion scripts for bash, zsh and fish, and
//! the connection flags only on the commands that connect.

mod common;

use std::process::Command;

/// What bash completes for `words` (the last one being typed), through the script
/// `lockgate completions bash` prints, sourced into a real bash.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = Command::new(common::process::bin())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lockgate.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let probe = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={cword}; _lockgate lockgate '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words[cword],
        words[cword - 1],
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn shell_completions_complete_commands_and_flags() {
    assert_eq!(bash_completes(&["lockgate", "con"]), ["consume"]);
    assert_eq!(
        bash_completes(&["lockgate", "consume", "--gr"]),
        ["--group"]
    );
    let topic = bash_completes(&["lockgate", "topic", ""]);
    for sub in ["create", "list", "describe", "delete"] {
        assert!(topic.iter().any(|w| w == sub), "{sub} in {topic:?}");
    }
    // The other shells get their own scripts; an unknown shell is a clear error.
    for (shell, marker) in [
        ("zsh", "#compdef lockgate"),
        ("fish", "complete -c lockgate"),
    ] {
        let out = Command::new(common::process::bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8(out.stdout).unwrap().contains(marker),
            "{shell}"
        );
    }
    let out = Command::new(common::process::bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");
}

/// `lockgate ARGS --help`, as text.
fn help(args: &[&str]) -> String {
    let out = Command::new(common::process::bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn connection_flags_are_listed_only_on_commands_that_connect() {
    const FLAGS: [&str; 6] = [
        "--server",
        "--transport",
        "--ca",
        "--client-cert",
        "--client-key",
        "--token",
    ];
    for args in [
        &["serve"][..],
        &["check-config"],
        &["storage", "verify"],
        &["auth", "token"],
        &["filter", "test"],
        &["bench", "storage"],
        &["bench", "plugins"],
        &["bench", "pipeline"],
    ] {
        let text = help(args);
        assert!(text.contains("--config"), "{args:?}: {text}");
        for flag in FLAGS {
            assert!(!text.contains(flag), "{args:?} lists {flag}: {text}");
        }
    }
    for args in [
        &["produce"][..],
        &["topic", "list"],
        &["group", "list"],
        &["bench"],
        &["bench", "txn"],
    ] {
        let text = help(args);
        for flag in FLAGS {
            assert!(text.contains(flag), "{args:?} does not list {flag}: {text}");
        }
    }
    // Still accepted before the command, as the README writes them (an unreachable server
    // is a connection error, not a usage error).
    let out = Command::new(common::process::bin())
        .args(["--server", "127.0.0.1:1", "--transport", "tcp", "--ca"])
        .arg(std::env::temp_dir().join("no-such-ca.pem"))
        .args(["topic", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no-such-ca.pem"), "{stderr}");
}
