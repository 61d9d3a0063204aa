//! Reading a plugin's `[plugins.NAME.config]` pairs: known names only, values parsed with the
//! option's name in the error, and the "`LEFT -> topic, topic`" lines the routers use.

/// A plugin's config pairs, checked for unknown names.
pub struct Settings<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Settings<'a> {
    /// Refuses a name not in `known` (a typo would otherwise be ignored silently).
    pub fn new(pairs: &'a [(String, String)], known: &[&str]) -> Result<Settings<'a>, String> {
        for (name, _) in pairs {
            if !known.contains(&name.as_str()) {
                return Err(format!(
                    "unknown option {name:?} (known: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(Settings { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The non-empty lines of `text`, trimmed, numbered from 1. There are no comments: `#` is a
/// topic-exchange pattern word (comment the TOML around the string instead).
pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// `LEFT -> topic, topic`: the left part and the topics (at least one).
pub fn arrow(line: &str) -> Result<(&str, Vec<String>), String> {
    let (left, right) = line
        .rsplit_once("->")
        .ok_or_else(|| format!("{line:?} has no \"->\" before its topics"))?;
    let topics = topic_list(right)?;
    if topics.is_empty() {
        return Err(format!("{line:?} names no topic after \"->\""));
    }
    Ok((left.trim(), topics))
}

/// `a, b c`: topic names separated by commas or spaces.
pub fn topic_list(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(format!("{t:?} is not a topic name"));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// `250ms`, `10s`, `5m`, `2h`, `1d` or a bare number of milliseconds.
pub fn millis(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (250ms, 10s, 5m, 2h)"))?;
    let scale = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m, h or d")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Where a router or dedup plugin finds a message's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyField {
    Tag,
    /// The first of the message's keys.
    FirstKey,
    Property(String),
    /// The message id (dedup only).
    Id,
    /// The body, hashed (dedup only).
    Body,
}

impl KeyField {
    /// `tag`, `key`, `property:NAME`, and for dedup `id` and `body`.
    pub fn parse(text: &str, dedup: bool) -> Result<KeyField, String> {
        Ok(match text.trim() {
            "tag" => KeyField::Tag,
            "key" => KeyField::FirstKey,
            "id" if dedup => KeyField::Id,
            "body" if dedup => KeyField::Body,
            t => match t.strip_prefix("property:") {
                Some(name) if !name.is_empty() => KeyField::Property(name.to_string()),
                _ if dedup => {
                    return Err(format!("{t:?} is not id, key, property:NAME, body or tag"));
                }
                _ => return Err(format!("{t:?} is not tag, key or property:NAME")),
            },
        })
    }
}
