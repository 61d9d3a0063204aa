//! SQL92 filters over message properties, compatible with RocketMQ 5, plus `LIKE`.
//!
//! - `AND`, `OR`, `NOT`, parentheses; `TRUE`, `FALSE`.
//! - `p = v`, `p <> v` (also `!=`) with a string or a number; `>`, `>=`, `<`, `<=` with a number.
//! - `p [NOT] BETWEEN a AND b` (numbers), `p [NOT] IN ('a', 'b')`, `p IS [NOT] NULL`,
//!   `p [NOT] CONTAINS 's'`, `p [NOT] STARTSWITH 's'`, `p [NOT] ENDSWITH 's'`,
//!   `p [NOT] LIKE 'pat'` (`%` any run, `_` one character).
//! - Strings are single-quoted, `''` inside is a quote. Numbers are integers or decimals (with an
//!   optional exponent). Keywords are case-insensitive; property names are case-sensitive. The
//!   tag is the property `TAGS`, the keys (space-separated) the property `KEYS`.
//!
//! Every value on the wire is a string. Comparing with a number parses the property as a
//! number; a missing property, or one that does not parse, makes the comparison *unknown*.
//! `NOT unknown` is unknown, `unknown AND false` is false, `unknown OR true` is true (SQL's
//! three-valued logic); only a final TRUE selects the message.

use crate::{ExprError, MessageFields};

/// SQL's three truth values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }

    fn from_bool(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
    Like,
}

/// Where a property's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Tag,
    Keys,
    Property(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    CmpNumber(Field, CmpOp, Number),
    CmpString(Field, CmpOp, String),
    Between(Field, Number, Number, bool),
    In(Field, Vec<String>, bool),
    IsNull(Field, bool),
    Text(Field, TextOp, String, bool),
}

impl Expr {
    /// Compiles an expression; an error names the position of the problem.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let tokens = lex(text)?;
        let mut p = Parser { tokens, at: 0 };
        let e = p.or()?;
        match p.peek() {
            Tok::End => Ok(e),
            _ => Err(p.error_here("expected AND, OR or the end of the expression")),
        }
    }

    /// Evaluates against a message.
    pub fn eval(&self, m: &impl MessageFields) -> Truth {
        match self {
            Expr::Const(b) => Truth::from_bool(*b),
            Expr::And(a, b) => match a.eval(m) {
                Truth::False => Truth::False,
                ta => match (ta, b.eval(m)) {
                    (_, Truth::False) => Truth::False,
                    (Truth::True, Truth::True) => Truth::True,
                    _ => Truth::Unknown,
                },
            },
            Expr::Or(a, b) => match a.eval(m) {
                Truth::True => Truth::True,
                ta => match (ta, b.eval(m)) {
                    (_, Truth::True) => Truth::True,
                    (Truth::False, Truth::False) => Truth::False,
                    _ => Truth::Unknown,
                },
            },
            Expr::Not(e) => e.eval(m).not(),
            Expr::CmpNumber(f, op, n) => match bytes(m, f).and_then(parse_number_bytes) {
                None => Truth::Unknown,
                Some(v) => Truth::from_bool(compare_numbers(v, *op, *n)),
            },
            Expr::CmpString(f, op, s) => match bytes(m, f) {
                None => Truth::Unknown,
                Some(v) => Truth::from_bool(match op {
                    CmpOp::Eq => v == s.as_bytes(),
                    _ => v != s.as_bytes(),
                }),
            },
            Expr::Between(f, lo, hi, negated) => match bytes(m, f).and_then(parse_number_bytes) {
                None => Truth::Unknown,
                Some(v) => {
                    let inside =
                        compare_numbers(v, CmpOp::Ge, *lo) && compare_numbers(v, CmpOp::Le, *hi);
                    Truth::from_bool(inside != *negated)
                }
            },
            Expr::In(f, list, negated) => match bytes(m, f) {
                None => Truth::Unknown,
                Some(v) => Truth::from_bool(list.iter().any(|s| s.as_bytes() == v) != *negated),
            },
            Expr::IsNull(f, negated) => Truth::from_bool(bytes(m, f).is_none() != *negated),
            Expr::Text(f, op, s, negated) => match value(m, f) {
                None => Truth::Unknown,
                Some(v) => {
                    let hit = match op {
                        TextOp::Contains => v.contains(s.as_str()),
                        TextOp::StartsWith => v.starts_with(s.as_str()),
                        TextOp::EndsWith => v.ends_with(s.as_str()),
                        TextOp::Like => like(v.as_bytes(), s.as_bytes()),
                    };
                    Truth::from_bool(hit != *negated)
                }
            },
        }
    }

    /// True only when the expression is TRUE for the message.
    pub fn selects(&self, m: &impl MessageFields) -> bool {
        self.eval(m) == Truth::True
    }
}

fn value<'m>(m: &'m impl MessageFields, f: &Field) -> Option<&'m str> {
    match f {
        Field::Tag => Some(m.tag()).filter(|t| !t.is_empty()),
        Field::Keys => Some(m.keys()).filter(|k| !k.is_empty()),
        Field::Property(name) => m.property(name),
    }
}

fn bytes<'m>(m: &'m impl MessageFields, f: &Field) -> Option<&'m [u8]> {
    match f {
        Field::Property(name) => m.property_bytes(name),
        other => value(m, other).map(str::as_bytes),
    }
}

/// A property as a number: plain integers are read directly (the common case), anything else
/// goes through `str::parse`.
fn parse_number_bytes(b: &[u8]) -> Option<Number> {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let v = digits
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
        return Some(Number::Int(if digits.len() < b.len() { -v } else { v }));
    }
    parse_number(std::str::from_utf8(b).ok()?)
}

fn parse_number(s: &str) -> Option<Number> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Number::Int(i));
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Number::Float)
}

fn compare_numbers(a: Number, op: CmpOp, b: Number) -> bool {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        (x, y) => as_f64(x).partial_cmp(&as_f64(y)),
    };
    let Some(ord) = ord else { return false };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
    }
}

fn as_f64(n: Number) -> f64 {
    match n {
        Number::Int(i) => i as f64,
        Number::Float(f) => f,
    }
}

/// SQL `LIKE` over bytes: `%` any run (also empty), `_` exactly one character.
fn like(v: &[u8], p: &[u8]) -> bool {
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

// ---- lexer ------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(Number),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    End,
}

/// A token and the 1-based character position it starts at.
type Lexed = (Tok, u32);

fn lex(text: &str) -> Result<Vec<Lexed>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |i: usize, message: String| ExprError {
        position: i as u32 + 1,
        message,
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Op(CmpOp::Eq)
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' => match chars.get(i + 1) {
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated string".into())),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_digit()
                        || chars[j] == '.'
                        || matches!(chars[j], 'e' | 'E')
                        || (matches!(chars[j], '+' | '-') && matches!(chars[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let s: String = chars[i..j].iter().collect();
                let n = if let Ok(v) = s.parse::<i64>() {
                    Number::Int(v)
                } else {
                    match s.parse::<f64>() {
                        Ok(f) if f.is_finite() => Number::Float(f),
                        _ => return Err(err(start, format!("{s:?} is not a number"))),
                    }
                };
                i = j;
                Tok::Num(n)
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || matches!(chars[j], '_' | '$' | '.'))
                {
                    j += 1;
                }
                let s: String = chars[i..j].iter().collect();
                i = j;
                Tok::Ident(s)
            }
            other => return Err(err(start, format!("unexpected character {other:?}"))),
        };
        out.push((tok, start as u32 + 1));
    }
    out.push((Tok::End, chars.len() as u32 + 1));
    Ok(out)
}

// ---- parser -----------------------------------------------------------------------------

struct Parser {
    tokens: Vec<Lexed>,
    at: usize,
}

const KEYWORDS: [&str; 15] = [
    "AND",
    "OR",
    "NOT",
    "TRUE",
    "FALSE",
    "IS",
    "NULL",
    "BETWEEN",
    "IN",
    "CONTAINS",
    "STARTSWITH",
    "ENDSWITH",
    "LIKE",
    "ESCAPE",
    "UNKNOWN",
];

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.at].0
    }

    fn position(&self) -> u32 {
        self.tokens[self.at].1
    }

    fn bump(&mut self) -> Tok {
        let t = self.tokens[self.at].0.clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        t
    }

    fn error_here(&self, what: &str) -> ExprError {
        let found = match self.peek() {
            Tok::End => "the end of the expression".to_string(),
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(s) => format!("the string '{s}'"),
            Tok::Num(_) => "a number".to_string(),
            Tok::Op(_) => "a comparison operator".to_string(),
            Tok::LParen => "'('".to_string(),
            Tok::RParen => "')'".to_string(),
            Tok::Comma => "','".to_string(),
        };
        ExprError {
            position: self.position(),
            message: format!("{what}, found {found}"),
        }
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.keyword(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ExprError> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            Err(self.error_here(&format!("expected {kw}")))
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.and()?;
        while self.eat_keyword("OR") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.not()?;
        while self.eat_keyword("AND") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.eat_keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, ExprError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.bump();
                let e = self.or()?;
                self.expect(Tok::RParen, "expected ')'")?;
                Ok(e)
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("TRUE") => {
                self.bump();
                Ok(Expr::Const(true))
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("FALSE") => {
                self.bump();
                Ok(Expr::Const(false))
            }
            Tok::Ident(s) if !KEYWORDS.iter().any(|k| s.eq_ignore_ascii_case(k)) => {
                self.bump();
                let field = match s.as_str() {
                    "TAGS" => Field::Tag,
                    "KEYS" => Field::Keys,
                    _ => Field::Property(s),
                };
                self.condition(field)
            }
            _ => Err(self.error_here("expected a property name, NOT, TRUE, FALSE or '('")),
        }
    }

    fn condition(&mut self, field: Field) -> Result<Expr, ExprError> {
        if let Tok::Op(op) = *self.peek() {
            self.bump();
            let e = match self.peek().clone() {
                Tok::Num(n) => Expr::CmpNumber(field, op, n),
                Tok::Str(s) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Expr::CmpString(field, op, s),
                Tok::Str(_) => {
                    return Err(self.error_here("only = and <> compare strings; expected a number"));
                }
                _ => return Err(self.error_here("expected a string or a number")),
            };
            self.bump();
            return Ok(e);
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("NULL")?;
            return Ok(Expr::IsNull(field, negated));
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("BETWEEN") {
            let lo = self.number()?;
            self.expect_keyword("AND")?;
            let hi = self.number()?;
            return Ok(Expr::Between(field, lo, hi, negated));
        }
        if self.eat_keyword("IN") {
            self.expect(Tok::LParen, "expected '(' after IN")?;
            let mut list = vec![self.string()?];
            loop {
                match self.peek() {
                    Tok::Comma => {
                        self.bump();
                        list.push(self.string()?);
                    }
                    Tok::RParen => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.error_here("expected ',' or ')'")),
                }
            }
            return Ok(Expr::In(field, list, negated));
        }
        for (kw, op) in [
            ("CONTAINS", TextOp::Contains),
            ("STARTSWITH", TextOp::StartsWith),
            ("ENDSWITH", TextOp::EndsWith),
            ("LIKE", TextOp::Like),
        ] {
            if self.eat_keyword(kw) {
                return Ok(Expr::Text(field, op, self.string()?, negated));
            }
        }
        Err(self.error_here(if negated {
            "expected BETWEEN, IN, CONTAINS, STARTSWITH, ENDSWITH or LIKE after NOT"
        } else {
            "expected a comparison, IS, BETWEEN, IN, CONTAINS, STARTSWITH, ENDSWITH or LIKE"
        }))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ExprError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.error_here(what))
        }
    }

    fn number(&mut self) -> Result<Number, ExprError> {
        match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok(n)
            }
            _ => Err(self.error_here("expected a number")),
        }
    }

    fn string(&mut self) -> Result<String, ExprError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.error_here("expected a quoted string")),
        }
    }
}

#[cfg(test)]
mod tests;
