use super::eval::like;
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
fn the_sql_dialect_differs_where_the_table_says() {
    for (expr, sample, expected) in cases::SQL92_SQL {
        let sql = Expr::parse_in(expr, Dialect::Sql).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
        assert_eq!(sql.selects(sample), *expected, "sql: {expr:?}");
        // Each row is a difference: RocketMQ decides otherwise, or refuses the expression.
        if let Ok(rocketmq) = Expr::parse(expr) {
            assert_ne!(rocketmq.selects(sample), *expected, "rocketmq: {expr:?}");
        }
    }
    // The Sql dialect never aborts an expression.
    for (expr, sample, _) in cases::SQL92 {
        if let Ok(sql) = Expr::parse_in(expr, Dialect::Sql) {
            assert_ne!(sql.eval(sample), Truth::Failed, "sql: {expr:?}");
        }
    }
}

#[test]
fn unknown_and_failed_are_told_apart() {
    let m = cases::BARE;
    let e = |s: &str| Expr::parse(s).unwrap().eval(&m);
    assert_eq!(e("missing > 1"), Truth::Unknown);
    assert_eq!(e("NOT (missing > 1)"), Truth::Unknown);
    assert_eq!(e("missing > 1 AND FALSE"), Truth::False);
    assert_eq!(e("missing > 1 OR TRUE"), Truth::True);
    assert_eq!(e("missing > 1 OR FALSE"), Truth::Unknown);
    // 'five' does not convert: RocketMQ throws, the message is not delivered.
    assert_eq!(e("a > 1"), Truth::Failed);
    assert_eq!(e("a > 1 OR TRUE"), Truth::Failed);
    assert_eq!(e("TRUE OR a > 1"), Truth::True);
    let sql = Expr::parse_in("a > 1", Dialect::Sql).unwrap();
    assert_eq!(sql.eval(&m), Truth::Unknown);
}

#[test]
fn literals_are_typed_as_rocketmq_types_them() {
    let lit = |s: &str| match Expr::parse(&format!("a = {s}")).unwrap().root() {
        Node::Eq(_, r) => (**r).clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(lit("2147483647"), Node::Lit(Literal::Int(i32::MAX)));
    assert_eq!(lit("2147483648"), Node::Lit(Literal::Long(2147483648)));
    assert_eq!(lit("10L"), Node::Lit(Literal::Int(10)));
    assert_eq!(lit("-5"), Node::Lit(Literal::Int(-5)));
    assert_eq!(lit("1e3"), Node::Lit(Literal::Double(1000.0)));
    assert_eq!(
        lit("-a"),
        Node::Negate(Box::new(Node::Field(Field::Property("a".into()))))
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
