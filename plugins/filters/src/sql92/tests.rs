use super::*;
use crate::cases;

#[test]
fn the_conformance_table_holds_natively() {
    for (expr, sample, expected) in cases::SQL92 {
        let e = Expr::parse(expr).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
        assert_eq!(e.selects(sample), *expected, "{expr:?} on {sample:?}");
    }
    for (expr, position, part) in cases::SQL92_ERRORS {
        let e = Expr::parse(expr).expect_err(expr);
        assert_eq!(e.position, *position, "{expr:?}: {e}");
        assert!(e.message.contains(part), "{expr:?}: {e}");
    }
}

#[test]
fn unknown_follows_three_valued_logic() {
    let m = cases::BARE;
    let unknown = Expr::parse("a > 1").unwrap();
    assert_eq!(unknown.eval(&m), Truth::Unknown);
    assert_eq!(Expr::parse("NOT a > 1").unwrap().eval(&m), Truth::Unknown);
    assert_eq!(
        Expr::parse("a > 1 AND FALSE").unwrap().eval(&m),
        Truth::False
    );
    assert_eq!(Expr::parse("a > 1 OR TRUE").unwrap().eval(&m), Truth::True);
    assert_eq!(
        Expr::parse("a > 1 OR FALSE").unwrap().eval(&m),
        Truth::Unknown
    );
}

#[test]
fn like_handles_runs_and_single_characters() {
    for (v, p, hit) in [
        ("abc", "%", true),
        ("", "%", true),
        ("", "_", false),
        ("abc", "a%c", true),
        ("abbbc", "a%b%c", true),
        ("ac", "a_c", false),
        ("aéc", "a_c", true),
        ("abc", "%%%", true),
        ("xabcabd", "%abd", true),
    ] {
        assert_eq!(like(v.as_bytes(), p.as_bytes()), hit, "{v:?} LIKE {p:?}");
    }
}
