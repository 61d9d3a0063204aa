//! `builtin:topic-exchange`: RabbitMQ's topic exchange, and its headers exchange.
//!
//! - **Topic bindings** (`bindings`, one per line: `PATTERN -> topic, topic`): the routing key
//!   and the pattern are words separated by dots; `*` matches exactly one word, `#` zero or
//!   more. As in RabbitMQ an empty key has no words (`#` matches it, `*` does not), and
//!   `a..b` has an empty middle word.
//! - **Headers bindings** (`headers`, one per line: `all|any NAME=VALUE, NAME -> topic`): over
//!   the message's properties; `NAME` alone asks only that the property is there. `all`: every
//!   pair matches; `any`: one does.
//! - The routing key (`routing_key`) is `tag` (the default), `key` (the first key) or
//!   `property:NAME`; a message without one has the empty key.
//! - A message goes to every matching binding's topics, each once; with no match to `default`
//!   (topics), or nowhere (dropped) when there is none.

use super::{TopicRouter, TopicTable};
use crate::batch::Message;
use crate::settings::{KeyField, Settings, arrow, lines, topic_list};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Exact(String),
    /// `*`
    One,
    /// `#`
    Any,
}

/// A topic binding's pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Word>);

impl Pattern {
    pub fn parse(text: &str) -> Pattern {
        Pattern(
            words(text)
                .map(|w| match w {
                    "*" => Word::One,
                    "#" => Word::Any,
                    w => Word::Exact(w.to_string()),
                })
                .collect(),
        )
    }

    /// Whether the routing key `key` matches.
    pub fn matches(&self, key: &str) -> bool {
        let key: Vec<&str> = words(key).collect();
        matches(&self.0, &key)
    }
}

/// RabbitMQ splits an empty key into no words at all.
fn words(text: &str) -> impl Iterator<Item = &str> {
    let empty = text.is_empty();
    text.split('.').filter(move |_| !empty)
}

/// Wildcard matching over words, without allocating: `*` is exactly one word, `#` any run of
/// words (the classic single-backtrack glob algorithm: after a mismatch, the last `#` takes
/// one more word), linear for patterns with one `#`, O(pattern × key) at worst.
fn matches(pattern: &[Word], key: &[&str]) -> bool {
    let (mut p, mut k) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while k < key.len() {
        match pattern.get(p) {
            Some(Word::Any) => {
                star = Some((p, k));
                p += 1;
            }
            Some(Word::One) => {
                p += 1;
                k += 1;
            }
            Some(Word::Exact(w)) if w == key[k] => {
                p += 1;
                k += 1;
            }
            _ => match star {
                Some((sp, sk)) => {
                    p = sp + 1;
                    k = sk + 1;
                    star = Some((sp, sk + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|w| *w == Word::Any)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Headers {
    all: bool,
    /// Name, and the value it must have (`None`: only present).
    pairs: Vec<(String, Option<String>)>,
}

impl Headers {
    fn matches(&self, m: &Message<'_>) -> bool {
        let one = |(name, value): &(String, Option<String>)| match (m.property(name), value) {
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == want,
            (None, _) => false,
        };
        if self.all {
            self.pairs.iter().all(one)
        } else {
            self.pairs.iter().any(one)
        }
    }
}

/// A configured topic exchange.
#[derive(Debug, Clone)]
pub struct TopicExchange {
    key: KeyField,
    bindings: Vec<(Pattern, Vec<usize>)>,
    headers: Vec<(Headers, Vec<usize>)>,
    default: Vec<usize>,
    topics: TopicTable,
}

impl TopicExchange {
    pub const OPTIONS: [&str; 4] = ["routing_key", "bindings", "headers", "default"];
}

impl TopicRouter for TopicExchange {
    fn new(config: &[(String, String)]) -> Result<TopicExchange, String> {
        let s = Settings::new(config, &Self::OPTIONS)?;
        let key = match s.get("routing_key") {
            Some(k) => KeyField::parse(k, false).map_err(|e| format!("routing_key: {e}"))?,
            None => KeyField::Tag,
        };
        let mut topics = TopicTable::default();
        let mut bindings = Vec::new();
        for (n, line) in lines(s.get("bindings").unwrap_or("")) {
            let (pattern, to) = arrow(line).map_err(|e| format!("bindings line {n}: {e}"))?;
            if pattern.is_empty() {
                return Err(format!("bindings line {n}: no pattern before \"->\""));
            }
            bindings.push((Pattern::parse(pattern), topics.numbers(to)));
        }
        let mut headers = Vec::new();
        for (n, line) in lines(s.get("headers").unwrap_or("")) {
            let at = |e: String| format!("headers line {n}: {e}");
            let (left, to) = arrow(line).map_err(at)?;
            let (mode, rest) = left.split_once(' ').unwrap_or((left, ""));
            let all = match mode {
                "all" => true,
                "any" => false,
                m => return Err(at(format!("{m:?} is not all or any"))),
            };
            let pairs: Vec<_> = rest
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
                    None => (p.to_string(), None),
                })
                .collect();
            if pairs.is_empty() {
                return Err(at("names no property".into()));
            }
            headers.push((Headers { all, pairs }, topics.numbers(to)));
        }
        if bindings.is_empty() && headers.is_empty() {
            return Err(
                "needs bindings or headers (one binding per line: PATTERN -> topic)".into(),
            );
        }
        let default =
            topic_list(s.get("default").unwrap_or("")).map_err(|e| format!("default: {e}"))?;
        let default = topics.numbers(default);
        Ok(TopicExchange {
            key,
            bindings,
            headers,
            default,
            topics,
        })
    }

    fn topics(&self) -> &[String] {
        &self.topics.names
    }

    fn route(&self, m: &Message<'_>, out: &mut Vec<usize>) {
        out.clear();
        let key = match &self.key {
            KeyField::Tag => m.tag,
            KeyField::FirstKey => m.keys().next().unwrap_or(""),
            KeyField::Property(p) => m.property(p).unwrap_or(""),
            KeyField::Id | KeyField::Body => "",
        };
        let add = |to: &[usize], out: &mut Vec<usize>| {
            for t in to {
                if !out.contains(t) {
                    out.push(*t);
                }
            }
        };
        if !self.bindings.is_empty() {
            let mut buf = [""; 16];
            let n = words(key).count();
            let key_words: std::borrow::Cow<'_, [&str]> = if n <= buf.len() {
                for (slot, w) in buf.iter_mut().zip(words(key)) {
                    *slot = w;
                }
                std::borrow::Cow::Borrowed(&buf[..n])
            } else {
                std::borrow::Cow::Owned(words(key).collect())
            };
            for (p, to) in &self.bindings {
                if matches(&p.0, &key_words) {
                    add(to, out);
                }
            }
        }
        for (h, to) in &self.headers {
            if h.matches(m) {
                add(to, out);
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

    #[test]
    fn rabbitmq_topic_patterns() {
        let cases = [
            ("a.b.c", "a.b.c", true),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.c", false),
            ("a.#.c", "a.c", true),
            ("a.#.c", "a.b.x.c", true),
            ("#", "", true),
            ("*", "", false),
            ("#", "anything.at.all", true),
            ("*.orange.*", "quick.orange.rabbit", true),
            ("*.*.rabbit", "lazy.orange.elephant", false),
            ("lazy.#", "lazy", true),
            ("lazy.#", "lazy.pink.rabbit", true),
            ("*.orange.*", "quick.orange.male.rabbit", false),
            ("#.#.x", "x", true),
            ("a.*", "a.", true),
            ("a", "A", false),
            ("#.b.#", "a.b.c.b.d", true),
            ("#.a.#", "a", true),
            ("a.#.#.b", "a.b", true),
            ("*.#", "", false),
            ("#.*", "x", true),
            ("#.x.*", "x.y.x", false),
            ("#.x.*", "x.y.x.z", true),
            ("a.*.#", "a", false),
        ];
        for (pattern, key, want) in cases {
            assert_eq!(
                Pattern::parse(pattern).matches(key),
                want,
                "{pattern:?} on {key:?}"
            );
        }
    }

    #[test]
    fn config_errors_name_the_line_and_the_problem() {
        let c = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let e = TopicExchange::new(&c("bindings", "a.b orders")).unwrap_err();
        assert!(e.starts_with("bindings line 1:"), "{e}");
        let e = TopicExchange::new(&c("headers", "some x=1 -> t")).unwrap_err();
        assert!(e.contains("not all or any"), "{e}");
        let e = TopicExchange::new(&c("bindngs", "a -> t")).unwrap_err();
        assert!(e.contains("unknown option \"bindngs\""), "{e}");
        assert!(TopicExchange::new(&[]).is_err());
        let e = TopicExchange::new(&c("bindings", "a -> b!d")).unwrap_err();
        assert!(e.contains("not a topic name"), "{e}");
    }
}
