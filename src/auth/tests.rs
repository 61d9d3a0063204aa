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
        Principal::Token("billing".into())
    );
    auth.check(&id, Action::Produce, &orders()).unwrap();
    let e = auth.check(&id, Action::Consume, &orders()).unwrap_err();
    assert_eq!(e.to_string(), "billing may not consume topic \"orders\"");
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
