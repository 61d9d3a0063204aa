//! `builtin:content-router`: ordered rules, each an SQL92 condition (the `builtin:sql92`
//! language) and the topics a message meeting it goes to.
//!
//! - `rules`: one per line, `CONDITION -> topic, topic`, tried in order.
//! - `mode`: `first` (the default: the first rule met decides) or `all` (every rule met adds
//!   its topics, each once).
//! - `default`: the topics of a message no rule is met for; without it such a message is
//!   dropped (and counted).

use super::{TopicRouter, TopicTable};
use crate::batch::{Fields, Message};
use crate::settings::{Settings, arrow, lines, topic_list};
use crate::sql92::Expr;

#[derive(Debug, Clone)]
pub struct ContentRouter {
    rules: Vec<(Expr, Vec<usize>)>,
    all: bool,
    default: Vec<usize>,
    topics: TopicTable,
}

impl ContentRouter {
    pub const OPTIONS: [&str; 3] = ["rules", "mode", "default"];
}

impl TopicRouter for ContentRouter {
    fn new(config: &[(String, String)]) -> Result<ContentRouter, String> {
        let s = Settings::new(config, &Self::OPTIONS)?;
        let all = match s.get("mode").unwrap_or("first") {
            "first" => false,
            "all" => true,
            m => return Err(format!("mode: {m:?} is not first or all")),
        };
        let mut topics = TopicTable::default();
        let mut rules = Vec::new();
        for (n, line) in lines(s.get("rules").unwrap_or("")) {
            let (condition, to) = arrow(line).map_err(|e| format!("rules line {n}: {e}"))?;
            let expr = Expr::parse(condition)
                .map_err(|e| format!("rules line {n}: the condition {condition:?} {e}"))?;
            rules.push((expr, topics.numbers(to)));
        }
        if rules.is_empty() {
            return Err("needs rules (one per line: CONDITION -> topic)".into());
        }
        let default =
            topic_list(s.get("default").unwrap_or("")).map_err(|e| format!("default: {e}"))?;
        let default = topics.numbers(default);
        Ok(ContentRouter {
            rules,
            all,
            default,
            topics,
        })
    }

    fn topics(&self) -> &[String] {
        &self.topics.names
    }

    fn route(&self, m: &Message<'_>, out: &mut Vec<usize>) {
        out.clear();
        let fields = Fields::new(m);
        for (expr, to) in &self.rules {
            if expr.selects(&fields) {
                for t in to {
                    if !out.contains(t) {
                        out.push(*t);
                    }
                }
                if !self.all {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.extend_from_slice(&self.default);
        }
    }
}
