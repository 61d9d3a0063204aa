use super::*;

fn config(mode: Mode) -> (AuthConfig, String) {
    let token = token::generate().unwrap();
    let config = AuthConfig {
        mode,
        allow_anonymous_remote: false,
        tokens: vec![TokenEntry {
            name: "billing".into(),
            hash: TokenHash::of(&token),
        }],
        acl: vec![Rule {
            principal: "billing".into(),
            actions: vec![Action::Produce],
            topics: vec![Pattern::parse("orders").unwrap()],
            groups: vec![],
        }],
        quotas: vec![],
    };
    (config, token)
}

fn orders() -> Resource {
    Resource::Topic("orders".into())
}

#[test]
fn a_token_gives_its_name_rights_and_nothing_else() {
    let (c, token) = config(Mode::Required);
    let auth = Auth::new(c);
    let id = Identity::default();
    let e = auth.check(&id, Action::Produce, &orders()).unwrap_err();
    assert!(matches!(e, AuthError::NotAuthenticated(_)), "{e}");
    assert!(auth.present(&id, "lgt_wrong").is_err());
    assert_eq!(
        auth.present(&id, &token).unwrap(),
        Some(Principal::Token("billing".into()))
    );
    auth.check(&id, Action::Produce, &orders()).unwrap();
    let e = auth.check(&id, Action::Consume, &orders()).unwrap_err();
    assert_eq!(e.to_string(), "billing may not consume topic \"orders\"");
}

/// The one rule for Hellos: after a Hello with a token, the connection is exactly what that
/// token makes it; a refused token leaves it unauthenticated, whatever it was before.
#[test]
fn a_refused_token_in_a_later_hello_leaves_the_connection_unauthenticated() {
    let (mut c, token) = config(Mode::Required);
    let other = token::generate().unwrap();
    c.tokens.push(TokenEntry {
        name: "audit".into(),
        hash: TokenHash::of(&other),
    });
    c.quotas.push(quota::QuotaConfig {
        principal: "billing".into(),
        produce_rate: None,
        produce_bytes: None,
        connections: Some(1),
    });
    let auth = Auth::new(c);
    let id = Identity::default();
    auth.present(&id, &token).unwrap();
    // The same token again: nothing changes (and its own connection does not count twice).
    auth.present(&id, &token).unwrap();
    auth.check(&id, Action::Produce, &orders()).unwrap();
    // A bad token: refused, and the earlier identity is gone.
    let e = auth.present(&id, "lgt_wrong").unwrap_err();
    assert!(matches!(e, AuthError::NotAuthenticated(_)), "{e}");
    assert_eq!(id.principal(), None);
    let e = auth.check(&id, Action::Produce, &orders()).unwrap_err();
    assert!(matches!(e, AuthError::NotAuthenticated(_)), "{e}");
    // Its connection slot was given back: another connection of billing's may authenticate.
    let second = Identity::default();
    auth.present(&second, &token).unwrap();
    // Another known token: the connection is that principal now, with its rights only.
    auth.present(&second, &other).unwrap();
    assert_eq!(second.principal(), Some(Principal::Token("audit".into())));
    let e = auth.check(&second, Action::Produce, &orders()).unwrap_err();
    assert_eq!(e.to_string(), "audit may not produce topic \"orders\"");
    auth.present(&id, &token).unwrap();
}

#[test]
fn a_reload_that_drops_a_token_revokes_it_at_once() {
    let (c, token) = config(Mode::Required);
    let auth = Auth::new(c.clone());
    let id = Identity::default();
    auth.present(&id, &token).unwrap();
    auth.reload(AuthConfig {
        tokens: vec![],
        ..c
    });
    let e = auth.check(&id, Action::Produce, &orders()).unwrap_err();
    assert_eq!(
        e,
        AuthError::NotAuthenticated("the token of \"billing\" was revoked".into())
    );
}

#[test]
fn mode_none_checks_nothing_and_a_certificate_is_a_principal() {
    let (c, _) = config(Mode::None);
    let auth = Auth::new(c.clone());
    auth.check(&Identity::default(), Action::Admin, &Resource::Broker)
        .unwrap();
    // Not even a token: an unknown one is ignored, not refused.
    assert_eq!(
        auth.present(&Identity::default(), "lgt_other").unwrap(),
        None
    );
    let auth = Auth::new(AuthConfig {
        mode: Mode::Required,
        acl: vec![Rule {
            principal: "cert:CN=ops".into(),
            actions: vec![Action::Admin],
            topics: vec![Pattern::Any],
            groups: vec![Pattern::Any],
        }],
        ..c
    });
    let ops = Identity::new(Some("CN=ops".into()));
    auth.check(&ops, Action::Admin, &Resource::Broker).unwrap();
    let other = Identity::new(Some("CN=other".into()));
    assert!(
        auth.check(&other, Action::Admin, &Resource::Broker)
            .is_err()
    );
}

/// The fuzz target `authenticated_hello`'s property over random Hello bodies (CI runs this;
/// `cargo +nightly fuzz run authenticated_hello` searches further): only the known token
/// authenticates, and a refusal says nothing of what was presented.
#[test]
fn random_hellos_authenticate_only_with_the_known_token() {
    use crate::protocol::{Kind, Request, SessionRequest};
    let (c, known) = config(Mode::Required);
    let auth = Auth::new(c);
    let orders = Resource::Topic("orders".into());
    let mut rng = fastrand::Rng::with_seed(7);
    let hello = |token: &[u8]| {
        let mut body = vec![1, 0, 1, 0, b'c'];
        body.extend_from_slice(&(token.len() as u16).to_le_bytes());
        body.extend_from_slice(token);
        body
    };
    let mut bodies: Vec<Vec<u8>> = vec![hello(known.as_bytes())];
    for _ in 0..2000 {
        let mut t = known.clone().into_bytes();
        match rng.u8(0..3) {
            0 => t.truncate(rng.usize(0..t.len())),
            1 => {
                let i = rng.usize(0..t.len());
                t[i] ^= 1 << rng.u8(0..8);
            }
            _ => t = (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect(),
        }
        bodies.push(hello(&t));
        let junk: Vec<u8> = (0..rng.usize(0..40)).map(|_| rng.u8(..)).collect();
        bodies.push(junk);
    }
    let mut authenticated = 0;
    for body in bodies {
        let Ok(Request::Session(SessionRequest::Hello { token, .. })) =
            Request::decode(Kind::Hello as u16, &body)
        else {
            continue;
        };
        let id = Identity::default();
        match token.map(|t| (auth.present(&id, &t), t)) {
            Some((Ok(p), t)) => {
                assert_eq!(t, known);
                assert_eq!(p, Some(Principal::Token("billing".into())));
                auth.check(&id, Action::Produce, &orders).unwrap();
                authenticated += 1;
            }
            Some((Err(e), t)) => {
                assert_ne!(t, known);
                assert_eq!(
                    e,
                    AuthError::NotAuthenticated(
                        "the token is not one this broker knows; the connection is unauthenticated"
                            .into()
                    )
                );
                assert!(auth.check(&id, Action::Produce, &orders).is_err());
            }
            None => assert!(auth.check(&id, Action::Produce, &orders).is_err()),
        }
    }
    assert_eq!(authenticated, 1);
}
