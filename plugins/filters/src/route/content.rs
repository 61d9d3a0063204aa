//! `builtin:content-router`: ordered rules, each an SQL92 condition (the `builtin:sql92`
//! language) and the topics a message meeting it goes to.
//!
//! - `rules`: one per line, `CONDITION -> topic, topic`, tried in order.
//! - `mode`: `first` (the default: the first rule met decides) or `all` (every rule met adds
//!   its topics, each once).
//! - `default`: the topics of a message no rule is met for; without it such a message is
//!   dropped (and counted).
//! - `dialect`: the conditions' SQL92 rules, `rocketmq` (the default) or `sql`.

use super::{TopicRouter, TopicTable};
use crate::batch::{Fields, Message};
use crate::settings::{Settings, arrow, lines, topic_list};
use crate::sql92::{Dialect, Expr};

#[derive(Debug, Clone)]
pub struct ContentRouter {
    rules: Vec<(Expr, Vec<usize>)>,
    all: bool,
    default: Vec<usize>,
    topics: TopicTable,
}

impl ContentRouter {
    pub const OPTIONS: [&str; 4] = ["rules", "mode", "default", "dialect"];
}

impl TopicRouter for ContentRouter {
    fn new(config: &[(String, String)]) -> Result<ContentRouter, String> {
        let s = Settings::new(config, &Self::OPTIONS)?;
        let all = match s.get("mode").unwrap_or("first") {
            "first" => false,
            "all" => true,
            m => return Err(format!("mode: {m:?} is not first or all")),
        };
        let dialect = s
            .get("dialect")
            .map_or(Ok(Dialect::RocketMq), Dialect::from_config)?;
        let mut topics = TopicTable::default();
        let mut rules = Vec::new();
        for (n, line) in lines(s.get("rules").unwrap_or("")) {
            let (condition, to) = arrow(line).map_err(|e| format!("rules line {n}: {e}"))?;
            let expr = Expr::parse_in(condition, dialect)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn conditions_follow_the_chosen_dialect() {
        // `0.0` is refused by RocketMQ's rules and is a literal in SQL's.
        let rules = ("rules", "a > 0.0 -> positive");
        let e = ContentRouter::new(&config(&[rules])).unwrap_err();
        assert!(
            e.starts_with("rules line 1:") && e.contains("write 0"),
            "{e}"
        );
        assert!(ContentRouter::new(&config(&[rules, ("dialect", "sql")])).is_ok());
        let e = ContentRouter::new(&config(&[rules, ("dialect", "java")])).unwrap_err();
        assert!(e.contains("not rocketmq or sql"), "{e}");
    }
}
