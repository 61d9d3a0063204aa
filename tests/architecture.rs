//! The floors: every top-level module (a folder under `src/` or a file beside them, each
//! top-level module of `crates/lockgate-proto`, and the client crate as one module `client`)
//! stands on a floor, and may use only modules on lower floors. Reads every `crate::…`,
//! `lockgate_proto::…` and `lockgate_client::…` path (comments aside) and fails on an import
//! that goes up or sideways, which also rules out any cycle between folders. A new module
//! fails here until it is given its floor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first. The ground floor imports nothing of the crate but its own floor-0 neighbours'
/// macros; `record` is the format everything reads; the broker sits above everything it runs.
const FLOORS: &[&[&str]] = &[
    &[
        "clock",
        "codec",
        "units",
        "internal",
        "log_limit",
        "signals",
    ],
    &["record"],
    &["protocol"],
    &["client", "auth"],
    &["tls", "metrics"],
    &["storage", "plugin"],
    &["pipeline"],
    &["config"],
    &["broker"],
    &["transport"],
    &["server", "cli"],
    &["bench"],
];

/// Files that are the crate's root, not a module of it.
const ROOTS: &[&str] = &["lib", "main"];

/// One `crate::…` use: from which file and line, to which top-level module.
#[derive(Debug, Clone, PartialEq)]
struct Use {
    file: String,
    line: usize,
    from: String,
    to: String,
}

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

/// A crate's sources and how its files map to modules.
struct Source {
    dir: PathBuf,
    /// The module every file belongs to (a crate that is one module), else each file's
    /// top-level folder or file.
    whole: Option<&'static str>,
}

/// The crates read: the broker, the ground floor, the client.
fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        Source {
            dir: root.join("src"),
            whole: None,
        },
        Source {
            dir: root.join("crates/lockgate-proto/src"),
            whole: None,
        },
        Source {
            dir: root.join("crates/lockgate-client/src"),
            whole: Some("client"),
        },
    ]
}

/// The top-level module a file under `src/` belongs to (`None` for the crate roots).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!ROOTS.contains(&name)).then(|| name.to_string())
}

/// Every `crate::NAME` (and `lockgate_proto::NAME`, `lockgate_client::…`) on a line of code
/// (not a comment) of `text`, with its line number. `crate::NAME!` is a macro exported at the
/// root: `macros` says which module defines it.
fn crate_paths(text: &str, macros: &BTreeMap<String, String>) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        if code.contains("lockgate_client::") || code.contains("lockgate_client as") {
            found.push((i + 1, "client".to_string()));
        }
        let code = code.replace("lockgate_proto::", " crate::");
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `lockgate_crate::`, `$crate::` inside a macro
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            let is_macro = rest[name.len()..].starts_with('!');
            let module = if is_macro {
                macros.get(&name).cloned().unwrap_or(name)
            } else {
                name
            };
            found.push((i + 1, module));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every cross-module use in the crates' sources, and the modules found.
fn uses_in(sources: &[Source]) -> (Vec<Use>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts: Vec<(&Source, PathBuf, String)> = Vec::new();
    for source in sources {
        let mut files = Vec::new();
        rust_files(&source.dir, &mut files);
        files.sort();
        for p in files {
            let text = std::fs::read_to_string(&p).expect("read a source file");
            texts.push((source, p, text));
        }
    }
    // A file's module; and for a crate that is one module, what its own `crate::NAME` means.
    let module = |source: &Source, rel: &Path| match source.whole {
        Some(whole) => Some(whole.to_string()),
        None => module_of(rel),
    };
    let mut macros = BTreeMap::new();
    for (source, path, text) in &texts {
        let Some(module) = module(source, path.strip_prefix(&source.dir).unwrap()) else {
            continue;
        };
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("macro_rules! ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                macros.insert(name, module.clone());
            }
        }
    }
    let mut uses = Vec::new();
    let mut modules = Vec::new();
    for (source, path, text) in &texts {
        let rel = path.strip_prefix(&source.dir).unwrap();
        let Some(from) = module(source, rel) else {
            continue;
        };
        if !modules.contains(&from) {
            modules.push(from.clone());
        }
        // The names a one-module crate's own files give its top-level items.
        let own: Vec<String> = match source.whole {
            Some(_) => texts
                .iter()
                .filter(|(s, _, _)| std::ptr::eq(*s, *source))
                .filter_map(|(_, p, _)| module_of(p.strip_prefix(&source.dir).ok()?))
                .collect(),
            None => Vec::new(),
        };
        for (line, to) in crate_paths(text, &macros) {
            let to = if own.contains(&to) { from.clone() } else { to };
            if to != from {
                uses.push(Use {
                    file: path
                        .strip_prefix(root)
                        .unwrap_or(path)
                        .display()
                        .to_string(),
                    line,
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    (uses, modules)
}

/// What breaks the floors: modules without a floor, and uses that do not go down.
fn violations(uses: &[Use], modules: &[String]) -> Vec<String> {
    let mut problems: Vec<String> = modules
        .iter()
        .filter(|m| floor_of(m).is_none())
        .map(|m| format!("module `{m}` has no floor: add it to FLOORS in tests/architecture.rs"))
        .collect();
    for u in uses {
        let (Some(from), Some(to)) = (floor_of(&u.from), floor_of(&u.to)) else {
            if floor_of(&u.from).is_some() && !modules.contains(&u.to) {
                problems.push(format!(
                    "{}:{}: `crate::{}` is not a module of the crate",
                    u.file, u.line, u.to
                ));
            }
            continue;
        };
        if to >= from {
            let how = if to == from { "sideways" } else { "upward" };
            problems.push(format!(
                "{}:{}: `{}` (floor {from}) uses `{}` (floor {to}): an import {how}",
                u.file, u.line, u.from, u.to
            ));
        }
    }
    problems
}

#[test]
fn every_module_uses_only_modules_on_lower_floors() {
    let (uses, modules) = uses_in(&sources());
    // The walk saw the crate: a few known modules and the uses between them.
    for m in ["record", "storage", "broker", "protocol", "client"] {
        assert!(
            modules.contains(&m.to_string()),
            "{m} not found: {modules:?}"
        );
    }
    for (from, to) in [
        ("broker", "storage"),
        ("client", "protocol"),
        ("tls", "client"),
    ] {
        assert!(
            uses.iter().any(|u| u.from == from && u.to == to),
            "no {from} → {to} use found"
        );
    }
    let problems = violations(&uses, &modules);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_finds_upward_and_sideways_imports_and_unplaced_modules() {
    let macros: BTreeMap<String, String> =
        [("error_limited".to_string(), "log_limit".to_string())].into();
    let text = "use crate::broker::Broker;\n\
                // crate::server is only mentioned\n\
                let x = crate::record::Message::default(); // crate::bench\n\
                crate::error_limited!(\"k\", \"m\");\n\
                $crate::clock::Clock;\n\
                use crate::plugin::Plugins;\n";
    let found = crate_paths(text, &macros);
    assert_eq!(
        found,
        vec![
            (1, "broker".to_string()),
            (3, "record".to_string()),
            (4, "log_limit".to_string()),
            (6, "plugin".to_string()),
        ]
    );
    let uses: Vec<Use> = found
        .into_iter()
        .map(|(line, to)| Use {
            file: "src/storage/x.rs".into(),
            line,
            from: "storage".into(),
            to,
        })
        .collect();
    let modules: Vec<String> = [
        "storage",
        "broker",
        "record",
        "log_limit",
        "client",
        "gadget",
    ]
    .map(String::from)
    .to_vec();
    let problems = violations(&uses, &modules);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("`gadget` has no floor"));
    assert!(problems[1].contains("src/storage/x.rs:1") && problems[1].contains("upward"));
    assert!(problems[2].contains("src/storage/x.rs:6") && problems[2].contains("sideways"));
}
