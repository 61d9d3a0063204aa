//! Evaluation: RocketMQ's values (property strings; `int`, `long`, `double`, string and
//! boolean literals; NULL), its conversions between them, three-valued logic, and the
//! abort of the whole expression when a conversion fails ([`Truth::Failed`]).

use std::cmp::Ordering;

use super::{Dialect, Field, Literal, Node, Rel, TextOp, Truth};
use crate::MessageFields;

/// A value during evaluation; strings borrow from the expression or the message.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(&'a [u8]),
}

/// A value that did not convert (Java's NumberFormatException or ClassCastException).
struct Failed;

pub fn truth(root: &Node, m: &impl MessageFields, d: Dialect) -> Truth {
    match eval(root, m, d) {
        Ok(Val::Bool(true)) => Truth::True,
        Ok(Val::Bool(false)) => Truth::False,
        Ok(_) => Truth::Unknown,
        Err(Failed) => Truth::Failed,
    }
}

fn field<'a>(m: &'a impl MessageFields, f: &Field) -> Option<&'a [u8]> {
    match f {
        Field::Tag => Some(m.tag()).filter(|t| !t.is_empty()).map(str::as_bytes),
        Field::Keys => Some(m.keys()).filter(|k| !k.is_empty()).map(str::as_bytes),
        Field::Property(name) => m.property_bytes(name),
    }
}

fn literal(l: &Literal) -> Val<'_> {
    match l {
        Literal::Null => Val::Null,
        Literal::Bool(b) => Val::Bool(*b),
        Literal::Int(v) => Val::Int(*v),
        Literal::Long(v) => Val::Long(*v),
        Literal::Double(v) => Val::Double(*v),
        Literal::Str(s) => Val::Str(s.as_bytes()),
    }
}

fn eval<'a>(n: &'a Node, m: &'a impl MessageFields, d: Dialect) -> Result<Val<'a>, Failed> {
    Ok(match n {
        Node::Lit(l) => literal(l),
        Node::Field(f) => field(m, f).map_or(Val::Null, Val::Str),
        Node::Negate(inner) => match eval(inner, m, d)? {
            Val::Int(v) => Val::Int(v.wrapping_neg()),
            Val::Long(v) => Val::Long(v.wrapping_neg()),
            Val::Double(v) => Val::Double(-v),
            _ => Val::Null,
        },
        Node::AsBool(f) => match (field(m, f), d) {
            (None, _) => Val::Null,
            // RocketMQ: only a java.lang.Boolean is true, and properties are strings.
            (Some(_), Dialect::RocketMq) => Val::Bool(false),
            (Some(s), Dialect::Sql) => sql_bool(s).map_or(Val::Null, Val::Bool),
        },
        Node::Not(inner) => match eval(inner, m, d)? {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Null,
        },
        Node::And(a, b) => {
            let l = eval(a, m, d)?;
            if l == Val::Bool(false) {
                return Ok(l);
            }
            match eval(b, m, d)? {
                Val::Bool(false) => Val::Bool(false),
                Val::Bool(true) if l == Val::Bool(true) => Val::Bool(true),
                _ => Val::Null,
            }
        }
        Node::Or(a, b) => {
            let l = eval(a, m, d)?;
            if l == Val::Bool(true) {
                return Ok(l);
            }
            match eval(b, m, d)? {
                Val::Bool(true) => Val::Bool(true),
                Val::Bool(false) if l == Val::Bool(false) => Val::Bool(false),
                _ => Val::Null,
            }
        }
        Node::Eq(a, b) => {
            let (l, r) = (eval(a, m, d)?, eval(b, m, d)?);
            match (l, r, d) {
                // RocketMQ's doCreateEqual: both null equal, a null left is unknown, a null
                // right is FALSE.
                (Val::Null, Val::Null, Dialect::RocketMq) => Val::Bool(true),
                (Val::Null, _, _) | (_, Val::Null, Dialect::Sql) => Val::Null,
                (_, Val::Null, Dialect::RocketMq) => Val::Bool(false),
                _ => compare(l, r, d)?.map_or(Val::Null, |o| Val::Bool(o == Ordering::Equal)),
            }
        }
        Node::Cmp(a, rel, b) => {
            let (mut l, mut r) = (eval(a, m, d)?, eval(b, m, d)?);
            if l == Val::Null || r == Val::Null {
                return Ok(Val::Null);
            }
            // Two strings (two properties) both become doubles.
            if let (Val::Str(x), Val::Str(y)) = (l, r) {
                match (to_double(x, d)?, to_double(y, d)?) {
                    (Some(x), Some(y)) => (l, r) = (Val::Double(x), Val::Double(y)),
                    _ => return Ok(Val::Null),
                }
            }
            match compare(l, r, d)? {
                None => Val::Null,
                Some(o) => Val::Bool(match rel {
                    Rel::Gt => o == Ordering::Greater,
                    Rel::Ge => o != Ordering::Less,
                    Rel::Lt => o == Ordering::Less,
                    Rel::Le => o != Ordering::Greater,
                }),
            }
        }
        Node::In(f, list, negated) => match field(m, f) {
            None => Val::Null,
            Some(v) => Val::Bool(list.iter().any(|s| s.as_bytes() == v) != *negated),
        },
        Node::IsNull(inner, negated) => Val::Bool((eval(inner, m, d)? == Val::Null) != *negated),
        Node::Text(inner, op, s, negated) => match (eval(inner, m, d)?, d) {
            // RocketMQ: FALSE for an empty pattern, a null or a non-string, NOT forms too.
            (Val::Str(v), Dialect::RocketMq) if !s.is_empty() => {
                Val::Bool(text(v, *op, s.as_bytes()) != *negated)
            }
            (_, Dialect::RocketMq) => Val::Bool(false),
            (Val::Str(v), Dialect::Sql) => Val::Bool(text(v, *op, s.as_bytes()) != *negated),
            (_, Dialect::Sql) => Val::Null,
        },
    })
}

fn text(v: &[u8], op: TextOp, s: &[u8]) -> bool {
    match op {
        TextOp::Contains => s.is_empty() || v.windows(s.len()).any(|w| w == s),
        TextOp::StartsWith => v.starts_with(s),
        TextOp::EndsWith => v.ends_with(s),
        TextOp::Like => like(v, s),
    }
}

/// Compares two non-null values: RocketMQ's `__compare` (Java's conversions; a mismatch of
/// kinds is "less"), or in the Sql dialect by numeric value with `None` for "does not
/// convert".
fn compare(l: Val<'_>, r: Val<'_>, d: Dialect) -> Result<Option<Ordering>, Failed> {
    use Val::*;
    if d == Dialect::Sql {
        return Ok(sql_compare(l, r));
    }
    Ok(Some(match (l, r) {
        (Str(a), Str(b)) => a.cmp(b),
        (Bool(a), Bool(b)) => a.cmp(&b),
        (Int(a), Int(b)) => a.cmp(&b),
        (Long(a), Long(b)) => a.cmp(&b),
        (Double(a), Double(b)) => java_cmp(a, b),
        (Int(a), Long(b)) => i64::from(a).cmp(&b),
        (Long(a), Int(b)) => a.cmp(&i64::from(b)),
        (Int(a), Double(b)) => java_cmp(f64::from(a), b),
        (Long(a), Double(b)) => java_cmp(a as f64, b),
        (Double(a), Int(b)) => java_cmp(a, f64::from(b)),
        (Double(a), Long(b)) => java_cmp(a, b as f64),
        (Int(a), Str(s)) => a.cmp(&java_int(s)?),
        (Long(a), Str(s)) => a.cmp(&java_long(s)?),
        (Double(a), Str(s)) => java_cmp(a, java_double(s)?),
        (Str(s), Int(b)) => java_int(s)?.cmp(&b),
        (Str(s), Long(b)) => java_long(s)?.cmp(&b),
        (Str(s), Double(b)) => java_cmp(java_double(s)?, b),
        (Str(s), Bool(b)) => java_bool(s).cmp(&b),
        // RocketMQ casts the Boolean to a String here and throws.
        (Bool(_), Str(_)) => return Err(Failed),
        _ => Ordering::Less,
    }))
}

fn sql_compare(l: Val<'_>, r: Val<'_>) -> Option<Ordering> {
    use Val::*;
    match (l, r) {
        (Str(a), Str(b)) => Some(a.cmp(b)),
        (Bool(a), Bool(b)) => Some(a.cmp(&b)),
        (Str(s), Bool(b)) => sql_bool(s).map(|a| a.cmp(&b)),
        (Bool(a), Str(s)) => sql_bool(s).map(|b| a.cmp(&b)),
        (Bool(_), _) | (_, Bool(_)) | (Null, _) | (_, Null) => None,
        (Str(s), n) => Some(numeric_cmp(sql_number(s)?, n)),
        (n, Str(s)) => Some(numeric_cmp(n, sql_number(s)?)),
        (a, b) => Some(numeric_cmp(a, b)),
    }
}

/// Two numeric values: exactly as integers, else as doubles.
fn numeric_cmp(a: Val<'_>, b: Val<'_>) -> Ordering {
    let int = |v: Val<'_>| match v {
        Val::Int(i) => Some(i64::from(i)),
        Val::Long(i) => Some(i),
        _ => None,
    };
    let float = |v: Val<'_>| match v {
        Val::Int(i) => f64::from(i),
        Val::Long(i) => i as f64,
        Val::Double(f) => f,
        _ => f64::NAN,
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => java_cmp(float(a), float(b)),
    }
}

/// Java's `Double.compare`: NaN equals NaN and is above everything, -0.0 is below 0.0.
fn java_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.total_cmp(&b),
    }
}

/// Java's `Long.valueOf` over ASCII: an optional sign and decimal digits, nothing else.
fn java_long(s: &[u8]) -> Result<i64, Failed> {
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Failed);
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut v: i64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_sub(i64::from(d - b'0')))
            .ok_or(Failed)?;
    }
    if negative {
        Ok(v)
    } else {
        v.checked_neg().ok_or(Failed)
    }
}

/// Java's `Integer.valueOf`.
fn java_int(s: &[u8]) -> Result<i32, Failed> {
    // At most 11 characters (a sign and 10 digits) can fit; longer fails without overflow.
    if s.len() > 11 {
        return Err(Failed);
    }
    i32::try_from(java_long(s)?).map_err(|_| Failed)
}

/// Java's `Double.valueOf`: blanks trimmed, an optional sign, `NaN`, `Infinity`, or a
/// decimal with an optional exponent and `f`/`d` suffix.
fn java_double(s: &[u8]) -> Result<f64, Failed> {
    let t = s.trim_ascii_start();
    let t = &t[..t.iter().rposition(|&c| c > b' ').map_or(0, |i| i + 1)];
    let (sign, body) = match t.first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    match body {
        b"NaN" => return Ok(f64::NAN),
        b"Infinity" => return Ok(sign * f64::INFINITY),
        _ => {}
    }
    let body = match body.last() {
        Some(b'f' | b'F' | b'd' | b'D') => &body[..body.len() - 1],
        _ => body,
    };
    let plain = |c: &u8| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-');
    if body.is_empty() || matches!(body[0], b'+' | b'-') || !body.iter().all(plain) {
        return Err(Failed);
    }
    let v: f64 = std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.parse().ok())
        .ok_or(Failed)?;
    Ok(sign * v)
}

fn to_double(s: &[u8], d: Dialect) -> Result<Option<f64>, Failed> {
    match d {
        Dialect::RocketMq => java_double(s).map(Some),
        Dialect::Sql => Ok(java_double(s).ok()),
    }
}

/// Java's `Boolean.valueOf`: true only for "true" in any case.
fn java_bool(s: &[u8]) -> bool {
    s.eq_ignore_ascii_case(b"true")
}

fn sql_bool(s: &[u8]) -> Option<bool> {
    if s.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// A property as a number in the Sql dialect: an integer exactly, else a double.
fn sql_number(s: &[u8]) -> Option<Val<'static>> {
    let t = s.trim_ascii();
    if let Ok(i) = java_long(t) {
        return Some(Val::Long(i));
    }
    java_double(t).ok().map(Val::Double)
}

/// SQL `LIKE` over bytes: `%` any run (also empty), `_` exactly one character.
pub(super) fn like(v: &[u8], p: &[u8]) -> bool {
    // Iterative matching with one backtrack point (the last `%`), linear in practice.
    let (mut vi, mut pi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'_' {
            vi += utf8_len(v[vi]);
            pi += 1;
        } else if pi < p.len() && p[pi] == b'%' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] {
            vi += 1;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += utf8_len(v[mark]);
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'%' {
        pi += 1;
    }
    pi == p.len()
}

fn utf8_len(first: u8) -> usize {
    match first {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_number_parsing() {
        assert!(java_int(b"+3").is_ok_and(|v| v == 3));
        assert!(java_int(b"-2147483648").is_ok_and(|v| v == i32::MIN));
        for bad in [
            &b"3.5"[..],
            b"3.0",
            b"3000000000",
            b" 3",
            b"abc",
            b"",
            b"-",
            b"99999999999999",
        ] {
            assert!(java_int(bad).is_err(), "{bad:?}");
        }
        assert!(java_long(b"-9223372036854775808").is_ok_and(|v| v == i64::MIN));
        assert!(java_long(b"9223372036854775808").is_err());
        for (s, v) in [
            (&b" 3 "[..], 3.0),
            (b"1e3", 1000.0),
            (b"3.5d", 3.5),
            (b"-Infinity", f64::NEG_INFINITY),
            (b".5", 0.5),
        ] {
            assert!(java_double(s).is_ok_and(|d| d == v), "{s:?}");
        }
        assert!(java_double(b"NaN").is_ok_and(f64::is_nan));
        for bad in [&b"nan"[..], b"--1", b"inf", b"abc", b"", b"1_0", b"0x10"] {
            assert!(java_double(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn java_double_order_puts_nan_on_top() {
        assert_eq!(java_cmp(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(java_cmp(f64::NAN, f64::NAN), Ordering::Equal);
        assert_eq!(java_cmp(-0.0, 0.0), Ordering::Less);
        assert_eq!(java_cmp(1.0, 2.0), Ordering::Less);
    }
}
