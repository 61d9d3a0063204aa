//! The authenticated Hello: any bytes as a Hello body, against access rules that know one
//! token. Decoding fails cleanly or gives a Hello; its token authenticates exactly when it is
//! the known one (and then grants what the rules say); any other token is refused with a
//! message that never repeats what was presented, and leaves the connection unauthenticated.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lockgate::auth::{
    Action, Auth, AuthConfig, AuthError, Identity, Mode, Pattern, Principal, Resource, Rule,
    TokenEntry, TokenHash,
};
use lockgate::protocol::{Kind, Request, SessionRequest};

const KNOWN: &str = "lgt_fuzz-known-token";

fn auth() -> &'static Auth {
    static AUTH: OnceLock<Auth> = OnceLock::new();
    AUTH.get_or_init(|| {
        Auth::new(AuthConfig {
            mode: Mode::Required,
            allow_anonymous_remote: false,
            tokens: vec![TokenEntry {
                name: "billing".into(),
                hash: TokenHash::of(KNOWN),
            }],
            acl: vec![Rule {
                principal: "billing".into(),
                actions: vec![Action::Produce],
                topics: vec![Pattern::parse("orders").unwrap()],
                groups: vec![],
            }],
            quotas: vec![],
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(Request::Session(SessionRequest::Hello { token, .. })) =
        Request::decode(Kind::Hello as u16, data)
    else {
        return;
    };
    let identity = Identity::default();
    let orders = Resource::Topic("orders".into());
    match token {
        None => assert!(auth().check(&identity, Action::Produce, &orders).is_err()),
        Some(t) => match auth().present(&identity, &t) {
            Ok(p) => {
                assert_eq!(t, KNOWN);
                assert_eq!(p, Some(Principal::Token("billing".into())));
                auth().check(&identity, Action::Produce, &orders).unwrap();
                assert!(auth().check(&identity, Action::Admin, &orders).is_err());
            }
            Err(e) => {
                assert_ne!(t, KNOWN);
                assert_eq!(
                    e,
                    AuthError::NotAuthenticated("the token is not one this broker knows".into())
                );
                assert!(auth().check(&identity, Action::Produce, &orders).is_err());
            }
        },
    }
});
