//! Who may do what. A connection's principal is a token's name (the token presented in its
//! Hello) or its client certificate's subject (`cert:CN=…`); `[[acl]]` rules grant principals
//! actions on topics and groups; with `[auth] mode = "required"` every request but Ping and
//! Hello is checked at the request router, and everything not granted is denied.
//!
//! This module holds the configuration as the broker runs it (reloaded on SIGHUP: a revoked
//! token's connections lose their rights at their next request) and the one check. It does not
//! see messages; plugins see nothing of identities.

pub mod acl;
pub mod cert;
pub mod quota;
pub mod token;

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

pub use acl::{Action, Pattern, Resource, Rule};
pub use token::TokenHash;

/// `[auth] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// No checks: any client that reaches the port may do anything (loopback only, unless
    /// `allow_anonymous_remote`).
    #[default]
    None,
    /// Unauthenticated connections may only ping and say hello; the rest is per `[[acl]]`.
    Required,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Required => "required",
        }
    }
}

/// A token the configuration declares: its name (the principal) and its secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub name: String,
    pub hash: TokenHash,
}

/// `[auth]`, `[[auth.token]]`, `[[acl]]` and `[[quota]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthConfig {
    pub mode: Mode,
    /// With mode `none`, listen on a non-loopback address anyway.
    pub allow_anonymous_remote: bool,
    pub tokens: Vec<TokenEntry>,
    pub acl: Vec<Rule>,
    pub quotas: Vec<quota::QuotaConfig>,
}

/// Who a connection is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A token's name.
    Token(String),
    /// A client certificate's subject (`CN=…`).
    Cert(String),
}

impl Principal {
    /// As `[[acl]] principal` writes it: the token's name, or `cert:` and the subject.
    pub fn config_name(&self) -> String {
        match self {
            Principal::Token(n) => n.clone(),
            Principal::Cert(s) => format!("cert:{s}"),
        }
    }

    /// Every name a rule may give it: a certificate's whole subject, and `cert:CN=…` alone.
    pub fn config_names(&self) -> Vec<String> {
        let mut names = vec![self.config_name()];
        if let Principal::Cert(subject) = self
            && let Some(cn) = cert::common_name(subject)
            && subject != &format!("CN={cn}")
        {
            names.push(format!("cert:CN={cn}"));
        }
        names
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    NotAuthenticated(String),
    #[error("{principal} may not {} {resource}", action.name())]
    NotAuthorized {
        principal: String,
        action: Action,
        resource: Resource,
    },
    /// Answered as NotAuthorized: the principal may not open another connection.
    #[error("{principal} may not open more than {cap} connections ([[quota]] connections)")]
    TooManyConnections { principal: String, cap: u32 },
}

/// A connection's identity, shared by its streams: its certificate's subject (fixed for the
/// connection) and the token its last Hello presented (checked against the current
/// configuration on every request, so a revoked token stops working at once).
#[derive(Debug, Default)]
pub struct Identity {
    cert: Option<String>,
    /// The connection counted against its certificate principal's `[[quota]] connections`.
    _cert_slot: Option<quota::ConnectionSlot>,
    /// The token presented, and the connection counted against its principal's quota.
    token: RwLock<Option<(TokenEntry, quota::ConnectionSlot)>>,
}

impl Identity {
    /// A connection's identity, uncounted (see [`Auth::identity`]).
    pub fn new(cert_subject: Option<String>) -> Identity {
        Identity {
            cert: cert_subject,
            ..Identity::default()
        }
    }

    /// The token presented, if any.
    fn token(&self) -> Option<TokenEntry> {
        self.token.read().as_ref().map(|(t, _)| t.clone())
    }

    /// The principal the connection acts as now, if any.
    pub fn principal(&self) -> Option<Principal> {
        match self.token() {
            Some(t) => Some(Principal::Token(t.name)),
            None => self.cert.clone().map(Principal::Cert),
        }
    }
}

/// The access rules the broker runs with (replaced whole on reload).
pub struct Auth {
    config: RwLock<Arc<Rules>>,
    /// Bumped by every reload: long-lived streams (subscriptions) check their rights again.
    reloads: tokio::sync::watch::Sender<u64>,
}

/// A configuration prepared for checks: tokens by hash, and the quotas with their usage.
struct Rules {
    config: AuthConfig,
    tokens: HashMap<TokenHash, String>,
    quotas: quota::Quotas,
}

impl Rules {
    fn new(config: AuthConfig, previous: Option<&quota::Quotas>) -> Rules {
        let tokens = config
            .tokens
            .iter()
            .map(|t| (t.hash, t.name.clone()))
            .collect();
        let quotas = match previous {
            Some(q) => q.reloaded(config.quotas.clone()),
            None => quota::Quotas::new(config.quotas.clone()),
        };
        Rules {
            config,
            tokens,
            quotas,
        }
    }
}

impl Auth {
    pub fn new(config: AuthConfig) -> Auth {
        Auth {
            config: RwLock::new(Arc::new(Rules::new(config, None))),
            reloads: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Replaces the rules (SIGHUP); connections are checked against these from their next
    /// request, and open subscriptions at once.
    pub fn reload(&self, config: AuthConfig) {
        let mut rules = self.config.write();
        *rules = Arc::new(Rules::new(config, Some(&rules.quotas)));
        drop(rules);
        self.reloads.send_modify(|n| *n += 1);
    }

    /// Changes on every reload.
    pub fn reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    fn rules(&self) -> Arc<Rules> {
        self.config.read().clone()
    }

    /// A Hello's token. The rule: after a Hello that presents a token, the connection is
    /// exactly what that token makes it. A known token makes the connection act as its name
    /// (counted against that principal's connection quota; presenting the same token again
    /// changes nothing). A refused token (unknown, or its principal at its connection cap)
    /// leaves the connection without a token, whatever it presented before: only its client
    /// certificate, if any, still speaks for it. With mode `none`, which checks nothing, an
    /// unknown token is ignored.
    pub fn present(
        &self,
        identity: &Identity,
        token: &str,
    ) -> Result<Option<Principal>, AuthError> {
        let hash = TokenHash::of(token);
        let rules = self.rules();
        let mut held = identity.token.write();
        if held.as_ref().is_some_and(|(t, _)| t.hash == hash)
            && let Some(name) = rules.tokens.get(&hash)
        {
            return Ok(Some(Principal::Token(name.clone())));
        }
        let Some(name) = rules.tokens.get(&hash) else {
            if rules.config.mode == Mode::None {
                return Ok(None);
            }
            *held = None;
            return Err(AuthError::NotAuthenticated(
                "the token is not one this broker knows; the connection is unauthenticated".into(),
            ));
        };
        // The earlier token's slot is given back first: a principal presenting its token again
        // on a connection it already holds is not refused by its own cap.
        *held = None;
        let slot = rules
            .quotas
            .connect(name)
            .map_err(|cap| AuthError::TooManyConnections {
                principal: name.clone(),
                cap,
            })?;
        *held = Some((
            TokenEntry {
                name: name.clone(),
                hash,
            },
            slot,
        ));
        Ok(Some(Principal::Token(name.clone())))
    }

    /// A new connection's identity, counted against its certificate principal's connection
    /// quota.
    pub fn identity(&self, cert_subject: Option<String>) -> Result<Identity, AuthError> {
        let mut identity = Identity::new(cert_subject);
        if let Some(subject) = &identity.cert {
            let name = Principal::Cert(subject.clone()).config_name();
            let slot = self.rules().quotas.connect(&name).map_err(|cap| {
                AuthError::TooManyConnections {
                    principal: name.clone(),
                    cap,
                }
            })?;
            identity._cert_slot = Some(slot);
        }
        Ok(identity)
    }

    /// How long to throttle a produce request of `messages` and `bytes` from this connection
    /// (zero within its principal's quota, or without one).
    pub fn throttle(&self, identity: &Identity, messages: u64, bytes: u64) -> std::time::Duration {
        let rules = self.rules();
        if rules.config.quotas.is_empty() {
            return std::time::Duration::ZERO;
        }
        let Some(p) = identity.principal() else {
            return std::time::Duration::ZERO;
        };
        rules
            .quotas
            .charge(&p.config_name(), messages, bytes, std::time::Instant::now())
    }

    /// Whether the connection may do `action` on `resource`.
    pub fn check(
        &self,
        identity: &Identity,
        action: Action,
        resource: &Resource,
    ) -> Result<(), AuthError> {
        self.authorize(identity, &[(action, resource.clone())])
    }

    /// Whether the connection may do everything a request needs. With mode `required`, a
    /// connection without a principal may do nothing (even a request that needs nothing named).
    pub fn authorize(
        &self,
        identity: &Identity,
        needs: &[(Action, Resource)],
    ) -> Result<(), AuthError> {
        let rules = self.rules();
        if rules.config.mode == Mode::None {
            return Ok(());
        }
        let principal = self.principal_in(&rules, identity)?;
        let names = principal.config_names();
        let allowed = |a: Action, r: &Resource| {
            names
                .iter()
                .any(|n| acl::allows(&rules.config.acl, n, a, r))
        };
        match needs.iter().find(|(a, r)| !allowed(*a, r)) {
            None => Ok(()),
            Some((action, resource)) => Err(AuthError::NotAuthorized {
                principal: principal.config_name(),
                action: *action,
                resource: resource.clone(),
            }),
        }
    }

    /// A request outside the wire protocol (a scrape of `/metrics`) that presents `token` as
    /// a bearer token: whether it may do `action` on `resource`. With mode `none` everything
    /// may; otherwise the token must be known (NotAuthenticated) and its principal granted
    /// the action (NotAuthorized). Nothing is counted against connection quotas.
    pub fn check_bearer(
        &self,
        token: Option<&str>,
        action: Action,
        resource: &Resource,
    ) -> Result<(), AuthError> {
        let rules = self.rules();
        if rules.config.mode == Mode::None {
            return Ok(());
        }
        let Some(name) = token.and_then(|t| rules.tokens.get(&TokenHash::of(t))) else {
            return Err(AuthError::NotAuthenticated(
                "this broker requires authentication: send `Authorization: Bearer TOKEN`".into(),
            ));
        };
        if acl::allows(&rules.config.acl, name, action, resource) {
            return Ok(());
        }
        Err(AuthError::NotAuthorized {
            principal: name.clone(),
            action,
            resource: resource.clone(),
        })
    }

    /// The connection's principal under `rules`: its token while the configuration still
    /// declares it, else its certificate's subject.
    fn principal_in(&self, rules: &Rules, identity: &Identity) -> Result<Principal, AuthError> {
        if let Some(t) = identity.token() {
            return match rules.tokens.get(&t.hash) {
                Some(name) if *name == t.name => Ok(Principal::Token(t.name)),
                _ => Err(AuthError::NotAuthenticated(format!(
                    "the token of {:?} was revoked",
                    t.name
                ))),
            };
        }
        match &identity.cert {
            Some(subject) => Ok(Principal::Cert(subject.clone())),
            None => Err(AuthError::NotAuthenticated(
                "this broker requires authentication: present a token in Hello (CLI --token or \
                 LOCKGATE_TOKEN) or a client certificate"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
