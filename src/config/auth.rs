//! `[auth]` (mode, protected mode, `[[auth.token]]`) and `[[acl]]`: who may connect and what
//! each principal may do (see `crate::auth`).

use super::Validator;
use super::raw::{RawAcl, RawAuth, RawQuota};
use crate::auth::quota::{QuotaConfig, parse_byte_rate, parse_rate};
use crate::auth::{Action, AuthConfig, Mode, Pattern, Rule, TokenEntry, TokenHash};

// Long on purpose: one rule of the [auth] section after another, each with its problem text,
// in the order problems are reported (tests/config.rs pins that order).
pub(super) fn validate(
    v: &mut Validator,
    raw: RawAuth,
    acl: Vec<RawAcl>,
    quotas: Vec<RawQuota>,
) -> AuthConfig {
    let mode = match raw.mode.as_deref() {
        None | Some("none") => Mode::None,
        Some("required") => Mode::Required,
        Some(other) => {
            v.problem(
                "auth.mode",
                format!("{other:?} is not \"none\" or \"required\""),
            );
            Mode::None
        }
    };
    let mut tokens: Vec<TokenEntry> = Vec::new();
    for (i, t) in raw.tokens.into_iter().enumerate() {
        let at = |key: &str| format!("auth.token[{i}].{key}");
        let name = match t.name {
            Some(n) if valid_name(&n) => Some(n),
            Some(n) => {
                v.problem(
                    &at("name"),
                    format!("{n:?} is not a principal name (letters, digits, '.', '_', '-'; at most 128)"),
                );
                None
            }
            None => {
                v.problem(&at("name"), "is required".into());
                None
            }
        };
        let hash = match t.sha256.as_deref().map(TokenHash::parse) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                v.problem(&at("sha256"), e);
                None
            }
            None => {
                v.problem(
                    &at("sha256"),
                    "is required (`lockgate auth token NAME` prints the entry)".into(),
                );
                None
            }
        };
        if let (Some(name), Some(hash)) = (name, hash) {
            if let Some(j) = tokens.iter().position(|t| t.name == name) {
                v.problem(
                    &at("name"),
                    format!("duplicate token name {name:?} (also auth.token[{j}])"),
                );
            } else if tokens.iter().any(|t| t.hash == hash) {
                v.problem(&at("sha256"), "the same token is declared twice".into());
            } else {
                tokens.push(TokenEntry { name, hash });
            }
        }
    }
    let mut rules = Vec::new();
    for (i, r) in acl.into_iter().enumerate() {
        let at = |key: &str| format!("acl[{i}].{key}");
        let principal = match r.principal {
            Some(p)
                if p == "*"
                    || valid_name(&p)
                    || p.strip_prefix("cert:").is_some_and(|s| !s.is_empty()) =>
            {
                p
            }
            Some(p) => {
                v.problem(
                    &at("principal"),
                    format!("{p:?} is not \"*\", a token's name or \"cert:SUBJECT\""),
                );
                continue;
            }
            None => {
                v.problem(
                    &at("principal"),
                    "is required (a token's name, \"cert:CN=…\" or \"*\")".into(),
                );
                continue;
            }
        };
        let mut actions = Vec::new();
        for a in r.actions.unwrap_or_default() {
            match Action::parse(&a) {
                Some(a) => actions.push(a),
                None => v.problem(
                    &at("actions"),
                    format!("{a:?} is not produce, consume, admin or describe"),
                ),
            }
        }
        if actions.is_empty() {
            v.problem(
                &at("actions"),
                "grants nothing: name at least one action".into(),
            );
        }
        let mut patterns = |key: &str, list: Option<Vec<String>>| -> Vec<Pattern> {
            let mut out = Vec::new();
            for p in list.unwrap_or_default() {
                match Pattern::parse(&p) {
                    Ok(p) => out.push(p),
                    Err(e) => v.problem(&at(key), e),
                }
            }
            out
        };
        let topics = patterns("topics", r.topics);
        let groups = patterns("groups", r.groups);
        if topics.is_empty() && groups.is_empty() {
            v.problem(
                &at("topics"),
                "grants nothing: name topics or groups (\"*\" for all)".into(),
            );
        }
        rules.push(Rule {
            principal,
            actions,
            topics,
            groups,
        });
    }
    if mode == Mode::None && !rules.is_empty() {
        v.problem(
            "auth.mode",
            "is \"none\", so the [[acl]] rules would not apply: set mode = \"required\"".into(),
        );
    }
    let quotas = validate_quotas(v, quotas);
    AuthConfig {
        mode,
        allow_anonymous_remote: raw.allow_anonymous_remote.unwrap_or(false),
        tokens,
        acl: rules,
        quotas,
    }
}

fn validate_quotas(v: &mut Validator, raw: Vec<RawQuota>) -> Vec<QuotaConfig> {
    let mut out: Vec<QuotaConfig> = Vec::new();
    for (i, q) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("quota[{i}].{key}");
        let Some(principal) = q.principal else {
            v.problem(
                &at("principal"),
                "is required (a principal's name, or \"*\" for each)".into(),
            );
            continue;
        };
        if let Some(j) = out.iter().position(|o| o.principal == principal) {
            v.problem(
                &at("principal"),
                format!("{principal:?} has a quota already (quota[{j}])"),
            );
            continue;
        }
        let produce_rate = v.value(&at("produce_rate"), q.produce_rate, None, |s| {
            parse_rate(s).map(Some)
        });
        let produce_bytes = v.value(&at("produce_bytes"), q.produce_bytes, None, |s| {
            parse_byte_rate(s).map(Some)
        });
        let connections = match q.connections {
            None => None,
            Some(n) if (1..=1_000_000).contains(&n) => Some(n as u32),
            Some(n) => {
                v.problem(
                    &at("connections"),
                    format!("{n} is out of range (1 to 1000000)"),
                );
                None
            }
        };
        out.push(QuotaConfig {
            principal,
            produce_rate,
            produce_bytes,
            connections,
        });
    }
    out
}

/// A token's name: what ACL rules and logs call its holder.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
