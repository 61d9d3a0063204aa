//! `[[acl]]` rules: a principal (or `*`, any authenticated one) is granted actions on topic and
//! group patterns (names, or prefixes ending in `*`). Everything not granted is denied. Any
//! action granted on a resource includes describing it.
//!
//! Internal topics obey the rules of what they belong to: `%DLQ%<group>` and
//! `%RETRY%<group>%<topic>` are their group's, `%PIPE%<topic>` is its topic's, and the broker's
//! own (`%DELAY%`, `%TXN%`, `%TXN_UNRESOLVED%`) are the broker's. Broker-wide resources
//! (plugins, delay statistics, those topics) need the action granted on every topic and every
//! group (`topics = ["*"]`, `groups = ["*"]`).

use std::fmt;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Write messages (produce, delayed, transactional; cancel a delayed message).
    Produce,
    /// Read messages (fetch, lookups, group membership and deliveries).
    Consume,
    /// Create, delete, reset, reload.
    Admin,
    /// See what exists and how it is doing (lists, descriptions, statistics).
    Describe,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Produce,
        Action::Consume,
        Action::Admin,
        Action::Describe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Produce => "produce",
            Action::Consume => "consume",
            Action::Admin => "admin",
            Action::Describe => "describe",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == s)
    }

    /// Whether a grant of this action also grants `other`: every right on a resource includes
    /// seeing it (as Kafka's READ and WRITE imply DESCRIBE).
    pub fn implies(self, other: Action) -> bool {
        self == other || other == Action::Describe
    }
}

/// What an action is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Topic(String),
    Group(String),
    /// Broker-wide: plugins, statistics, the broker's internal topics.
    Broker,
}

impl Resource {
    /// The resource a topic's rights come from (internal topics obey their owner's).
    pub fn of_topic(topic: &str) -> Resource {
        match crate::internal::owner_of(topic) {
            crate::internal::Owner::Topic(t) => Resource::Topic(t),
            crate::internal::Owner::Group(g) => Resource::Group(g),
            crate::internal::Owner::Broker => Resource::Broker,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Topic(t) => write!(f, "topic {t:?}"),
            Resource::Group(g) => write!(f, "group {g:?}"),
            Resource::Broker => f.write_str("the broker"),
        }
    }
}

/// A name pattern: `*` (anything), `prefix*`, or an exact name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Any,
    Prefix(String),
    Exact(String),
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        match s {
            "" => Err("an empty pattern matches nothing; use \"*\" for everything".into()),
            "*" => Ok(Pattern::Any),
            s => match s.strip_suffix('*') {
                Some(p) if p.contains('*') => Err(format!(
                    "{s:?}: `*` may only end a pattern (a name prefix) or be the whole pattern"
                )),
                Some(p) => Ok(Pattern::Prefix(p.to_string())),
                None if s.contains('*') => Err(format!(
                    "{s:?}: `*` may only end a pattern (a name prefix) or be the whole pattern"
                )),
                None => Ok(Pattern::Exact(s.to_string())),
            },
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
            Pattern::Exact(e) => e == name,
        }
    }
}

/// One `[[acl]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A principal as the configuration writes it (`billing`, `cert:CN=billing`), or `*`.
    pub principal: String,
    pub actions: Vec<Action>,
    pub topics: Vec<Pattern>,
    pub groups: Vec<Pattern>,
}

impl Rule {
    fn grants(&self, principal: &str, action: Action, resource: &Resource) -> bool {
        if self.principal != "*" && self.principal != principal {
            return false;
        }
        if !self.actions.iter().any(|a| a.implies(action)) {
            return false;
        }
        match resource {
            Resource::Topic(t) => self.topics.iter().any(|p| p.matches(t)),
            Resource::Group(g) => self.groups.iter().any(|p| p.matches(g)),
            Resource::Broker => {
                self.topics.contains(&Pattern::Any) && self.groups.contains(&Pattern::Any)
            }
        }
    }
}

/// Whether any rule grants `principal` (as the configuration writes it) `action` on
/// `resource`.
pub fn allows(rules: &[Rule], principal: &str, action: Action, resource: &Resource) -> bool {
    rules.iter().any(|r| r.grants(principal, action, resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(principal: &str, actions: &[Action], topics: &[&str], groups: &[&str]) -> Rule {
        Rule {
            principal: principal.into(),
            actions: actions.to_vec(),
            topics: topics.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            groups: groups.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
        }
    }

    #[test]
    fn rules_grant_actions_on_names_and_prefixes_only() {
        let rules = [
            rule("billing", &[Action::Produce], &["orders", "billing.*"], &[]),
            rule("*", &[Action::Describe], &["*"], &["*"]),
            rule("cert:CN=ops", &Action::ALL, &["*"], &["*"]),
        ];
        let t = |n: &str| Resource::Topic(n.into());
        assert!(allows(&rules, "billing", Action::Produce, &t("orders")));
        assert!(allows(&rules, "billing", Action::Produce, &t("billing.eu")));
        assert!(!allows(&rules, "billing", Action::Produce, &t("orders2")));
        assert!(!allows(&rules, "billing", Action::Consume, &t("orders")));
        // A right to write a topic includes describing it, and only that topic.
        let own = &rules[..1];
        assert!(allows(own, "billing", Action::Describe, &t("orders")));
        assert!(!allows(own, "billing", Action::Describe, &t("orders2")));
        assert!(!allows(own, "billing", Action::Consume, &t("orders")));
        assert!(!allows(&rules, "other", Action::Produce, &t("orders")));
        assert!(allows(&rules, "other", Action::Describe, &t("anything")));
        assert!(allows(&rules, "other", Action::Describe, &Resource::Broker));
        assert!(!allows(&rules, "billing", Action::Admin, &Resource::Broker));
        assert!(allows(
            &rules,
            "cert:CN=ops",
            Action::Admin,
            &Resource::Broker
        ));
        assert!(!allows(&rules, "cert:CN=ops2", Action::Admin, &t("x")));
    }

    #[test]
    fn internal_topics_obey_their_owner() {
        assert_eq!(
            Resource::of_topic("%DLQ%billing"),
            Resource::Group("billing".into())
        );
        assert_eq!(
            Resource::of_topic("%RETRY%billing%orders"),
            Resource::Group("billing".into())
        );
        assert_eq!(
            Resource::of_topic("%PIPE%orders.in"),
            Resource::Topic("orders.in".into())
        );
        assert_eq!(Resource::of_topic("%TXN_UNRESOLVED%"), Resource::Broker);
        assert_eq!(
            Resource::of_topic("orders"),
            Resource::Topic("orders".into())
        );
    }

    #[test]
    fn patterns_take_a_star_only_at_the_end() {
        assert_eq!(Pattern::parse("a*").unwrap(), Pattern::Prefix("a".into()));
        assert_eq!(Pattern::parse("*").unwrap(), Pattern::Any);
        for bad in ["", "a*b", "*a", "a**"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
