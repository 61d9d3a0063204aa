//! Tag filters: `*` (or an empty expression) matches every message; `TagA || TagB || …` matches
//! a message whose tag is one of those listed. Tags are trimmed and case-sensitive; a message
//! without a tag matches only `*`. An expression that lists no tag (`||`, `  `… other than
//! empty) is an error.

use crate::ExprError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    All,
    AnyOf(Vec<String>),
}

impl TagFilter {
    pub fn parse(expression: &str) -> Result<TagFilter, ExprError> {
        let trimmed = expression.trim();
        if trimmed.is_empty() || trimmed == "*" {
            return Ok(TagFilter::All);
        }
        let mut tags = Vec::new();
        let mut position = 1u32;
        for part in expression.split("||") {
            let tag = part.trim();
            if tag == "*" {
                return Err(ExprError {
                    position: position + (part.len() - part.trim_start().len()) as u32,
                    message: "'*' cannot be combined with tags".into(),
                });
            }
            if !tag.is_empty() && !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
            position += part.chars().count() as u32 + 2;
        }
        if tags.is_empty() {
            return Err(ExprError {
                position: 1,
                message: format!("{expression:?} names no tag (use '*' for all messages)"),
            });
        }
        Ok(TagFilter::AnyOf(tags))
    }

    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagFilter::All => true,
            TagFilter::AnyOf(tags) => !tag.is_empty() && tags.iter().any(|t| t == tag),
        }
    }

    /// The tags listed (`None` for `*`): what a prefilter on tag hashes may use.
    pub fn tags(&self) -> Option<&[String]> {
        match self {
            TagFilter::All => None,
            TagFilter::AnyOf(t) => Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conformance_table_holds_natively() {
        for (expr, tag, expected) in crate::cases::TAG {
            assert_eq!(
                TagFilter::parse(expr).unwrap().matches(tag),
                *expected,
                "{expr:?} on {tag:?}"
            );
        }
        for (expr, position, part) in crate::cases::TAG_ERRORS {
            let e = TagFilter::parse(expr).unwrap_err();
            assert_eq!(e.position, *position, "{expr:?}: {e}");
            assert!(e.message.contains(part), "{expr:?}: {e}");
        }
    }

    #[test]
    fn rules() {
        let all = TagFilter::parse("*").unwrap();
        assert!(all.matches("x") && all.matches(""));
        assert_eq!(TagFilter::parse("  ").unwrap(), TagFilter::All);
        let f = TagFilter::parse(" TagA ||TagB|| TagA").unwrap();
        assert_eq!(f.tags().unwrap(), ["TagA", "TagB"]);
        assert!(f.matches("TagA") && f.matches("TagB"));
        assert!(!f.matches("taga"), "case-sensitive");
        assert!(!f.matches(""), "no tag matches only *");
        assert!(!f.matches("TagC"));
        let e = TagFilter::parse("||").unwrap_err();
        assert!(e.message.contains("names no tag"), "{e}");
        let e = TagFilter::parse("A || *").unwrap_err();
        assert_eq!(e.position, 6);
    }
}
