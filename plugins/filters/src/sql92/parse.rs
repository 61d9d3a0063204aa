//! RocketMQ's grammar (lowest precedence first) and its compile-time checks:
//!
//! ```text
//! selector := or END                          -- must give a boolean
//! or       := and ( OR and )*
//! and      := eq  ( AND eq )*                  -- Sql dialect: and := not (AND not)*,
//!                                              --              not := NOT not | eq
//! eq       := cmp ( '=' cmp | '<>' cmp | IS [NOT] NULL )*
//! cmp      := unary ( ('>'|'>='|'<'|'<=') unary
//!                   | [NOT] (CONTAINS|STARTSWITH|ENDSWITH|LIKE) string
//!                   | [NOT] BETWEEN unary AND unary
//!                   | [NOT] IN '(' string (',' string)* ')' )*
//! unary    := '+' unary | '-' unary | NOT unary | primary   -- Sql dialect: no NOT here
//! primary  := string | integer | decimal | TRUE | FALSE | NULL | name | '(' or ')'
//! ```

use super::lex::{Kw, Lexed, Tok, lex};
use super::{Dialect, Field, Literal, Node, Rel, TextOp};
use crate::ExprError;

pub fn parse(text: &str, dialect: Dialect) -> Result<Node, ExprError> {
    let mut p = Parser {
        tokens: lex(text, dialect)?,
        at: 0,
        dialect,
    };
    let start = p.position();
    let e = p.or()?;
    if p.peek() != &Tok::End {
        return Err(p.error_here("expected AND, OR or the end of the expression"));
    }
    boolean(e, start)
}

struct Parser {
    tokens: Vec<Lexed>,
    at: usize,
    dialect: Dialect,
}

/// Whether a node gives a boolean (RocketMQ's `BooleanExpression`; the `NULL` literal is one).
fn is_boolean(n: &Node) -> bool {
    !matches!(
        n,
        Node::Field(_)
            | Node::Negate(_)
            | Node::Lit(Literal::Int(_) | Literal::Long(_) | Literal::Double(_) | Literal::Str(_))
    )
}

/// RocketMQ's `asBooleanExpression`: a property becomes a boolean cast, a non-boolean is refused.
fn boolean(n: Node, at: u32) -> Result<Node, ExprError> {
    match n {
        Node::Field(f) => Ok(Node::AsBool(f)),
        n if is_boolean(&n) => Ok(n),
        n => Err(ExprError {
            position: at,
            message: format!("{} does not give TRUE or FALSE", describe(&n)),
        }),
    }
}

fn describe(n: &Node) -> String {
    match n {
        Node::Lit(Literal::Str(s)) => format!("the string '{s}'"),
        Node::Lit(Literal::Int(v)) => format!("the number {v}"),
        Node::Lit(Literal::Long(v)) => format!("the number {v}"),
        Node::Lit(Literal::Double(v)) => format!("the number {v}"),
        Node::Lit(Literal::Bool(b)) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Node::Lit(Literal::Null) => "NULL".into(),
        Node::Field(_) | Node::AsBool(_) => "a property".into(),
        Node::Negate(_) => "a negated value".into(),
        _ => "a condition".into(),
    }
}

fn is_number(n: &Node) -> bool {
    matches!(
        n,
        Node::Lit(Literal::Int(_) | Literal::Long(_) | Literal::Double(_))
    )
}

fn number_value(n: &Node) -> Option<f64> {
    match n {
        Node::Lit(Literal::Int(v)) => Some(f64::from(*v)),
        Node::Lit(Literal::Long(v)) => Some(*v as f64),
        Node::Lit(Literal::Double(v)) => Some(*v),
        _ => None,
    }
}

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
            Tok::Kw(k) => format!("{k:?}").to_uppercase(),
            Tok::Lit(Literal::Str(s)) => format!("the string '{s}'"),
            Tok::Lit(Literal::Bool(b)) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            Tok::Lit(Literal::Null) => "NULL".to_string(),
            Tok::Lit(_) => "a number".to_string(),
            Tok::Sym(s) => format!("'{s}'"),
        };
        ExprError {
            position: self.position(),
            message: format!("{what}, found {found}"),
        }
    }

    fn eat_kw(&mut self, kw: Kw) -> bool {
        if self.peek() == &Tok::Kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Tok::Sym(s) if *s == sym) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, sym: &str, what: &str) -> Result<(), ExprError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.error_here(what))
        }
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let at = self.position();
        let mut e = self.and()?;
        while self.eat_kw(Kw::Or) {
            let right_at = self.position();
            let right = self.and()?;
            e = Node::Or(
                Box::new(boolean(e, at)?),
                Box::new(boolean(right, right_at)?),
            );
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let at = self.position();
        let mut e = self.not()?;
        while self.eat_kw(Kw::And) {
            let right_at = self.position();
            let right = self.not()?;
            e = Node::And(
                Box::new(boolean(e, at)?),
                Box::new(boolean(right, right_at)?),
            );
        }
        Ok(e)
    }

    /// The Sql dialect's `NOT`, looser than comparisons; in RocketMQ's it is in [`Self::unary`].
    fn not(&mut self) -> Result<Node, ExprError> {
        if self.dialect == Dialect::Sql && self.eat_kw(Kw::Not) {
            let at = self.position();
            let e = self.not()?;
            return Ok(Node::Not(Box::new(boolean(e, at)?)));
        }
        self.eq()
    }

    fn eq(&mut self) -> Result<Node, ExprError> {
        let mut e = self.cmp()?;
        loop {
            let at = self.position();
            if self.eat_sym("=") || self.eat_sym("<>") {
                let negated = matches!(self.tokens[self.at - 1].0, Tok::Sym("<>"));
                let right = self.cmp()?;
                for side in [&e, &right] {
                    if side == &Node::Lit(Literal::Null) {
                        return Err(ExprError {
                            position: at,
                            message: "NULL cannot be compared with = or <>; use IS NULL".into(),
                        });
                    }
                }
                if matches!(e, Node::Lit(Literal::Bool(_)))
                    && matches!(right, Node::Lit(_))
                    && !matches!(right, Node::Lit(Literal::Bool(_)))
                {
                    return Err(ExprError {
                        position: at,
                        message: format!(
                            "{} cannot be compared with {}",
                            describe(&e),
                            describe(&right)
                        ),
                    });
                }
                let eq = Node::Eq(Box::new(e), Box::new(right));
                e = if negated { Node::Not(Box::new(eq)) } else { eq };
            } else if self.eat_kw(Kw::Is) {
                let negated = self.eat_kw(Kw::Not);
                if !self.eat_sym_null() {
                    return Err(self.error_here("expected NULL or NOT NULL after IS"));
                }
                e = Node::IsNull(Box::new(e), negated);
            } else {
                return Ok(e);
            }
        }
    }

    fn eat_sym_null(&mut self) -> bool {
        if self.peek() == &Tok::Lit(Literal::Null) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// `>` and friends and BETWEEN take numbers or values that are not conditions
    /// (RocketMQ's `checkLessThanOperand`).
    fn ordered(&self, n: &Node, at: u32, op: &str) -> Result<(), ExprError> {
        let ok = match n {
            Node::Lit(_) => is_number(n),
            n => !is_boolean(n),
        };
        if ok {
            Ok(())
        } else {
            Err(ExprError {
                position: at,
                message: format!("{op} compares numbers, not {}", describe(n)),
            })
        }
    }

    fn cmp(&mut self) -> Result<Node, ExprError> {
        let left_at = self.position();
        let mut e = self.unary()?;
        loop {
            let rel = match self.peek() {
                Tok::Sym(">") => Some(Rel::Gt),
                Tok::Sym(">=") => Some(Rel::Ge),
                Tok::Sym("<") => Some(Rel::Lt),
                Tok::Sym("<=") => Some(Rel::Le),
                _ => None,
            };
            if let Some(rel) = rel {
                let op = match self.bump() {
                    Tok::Sym(s) => s,
                    _ => unreachable!("peeked a symbol"),
                };
                let right_at = self.position();
                let right = self.unary()?;
                self.ordered(&e, left_at, op)?;
                self.ordered(&right, right_at, op)?;
                e = Node::Cmp(Box::new(e), rel, Box::new(right));
                continue;
            }
            let negated = self.eat_kw(Kw::Not);
            let text = match self.peek() {
                Tok::Kw(Kw::Contains) => Some(TextOp::Contains),
                Tok::Kw(Kw::StartsWith) => Some(TextOp::StartsWith),
                Tok::Kw(Kw::EndsWith) => Some(TextOp::EndsWith),
                Tok::Ident(w) if w.eq_ignore_ascii_case("LIKE") => Some(TextOp::Like),
                _ => None,
            };
            if let Some(op) = text {
                self.bump();
                let s = self.string()?;
                e = Node::Text(Box::new(e), op, s, negated);
            } else if self.eat_kw(Kw::Between) {
                let lo_at = self.position();
                let lo = self.unary()?;
                if !self.eat_kw(Kw::And) {
                    return Err(self.error_here("expected AND between the bounds of BETWEEN"));
                }
                let hi_at = self.position();
                let hi = self.unary()?;
                self.ordered(&e, left_at, "BETWEEN")?;
                self.ordered(&lo, lo_at, "BETWEEN")?;
                self.ordered(&hi, hi_at, "BETWEEN")?;
                if let (false, Some(l), Some(h)) = (negated, number_value(&lo), number_value(&hi))
                    && h < l
                {
                    return Err(ExprError {
                        position: lo_at,
                        message: format!(
                            "BETWEEN {l} AND {h} is empty: the upper bound is below the lower"
                        ),
                    });
                }
                let v = Box::new(e);
                e = if negated {
                    Node::Or(
                        Box::new(Node::Cmp(v.clone(), Rel::Lt, Box::new(lo))),
                        Box::new(Node::Cmp(v, Rel::Gt, Box::new(hi))),
                    )
                } else {
                    Node::And(
                        Box::new(Node::Cmp(v.clone(), Rel::Ge, Box::new(lo))),
                        Box::new(Node::Cmp(v, Rel::Le, Box::new(hi))),
                    )
                };
            } else if self.eat_kw(Kw::In) {
                let Node::Field(field) = e else {
                    return Err(ExprError {
                        position: left_at,
                        message: format!("IN needs a property on its left, not {}", describe(&e)),
                    });
                };
                self.expect_sym("(", "expected '(' after IN")?;
                let mut list = vec![self.string()?];
                loop {
                    if self.eat_sym(",") {
                        list.push(self.string()?);
                    } else if self.eat_sym(")") {
                        break;
                    } else {
                        return Err(self.error_here("expected ',' or ')'"));
                    }
                }
                e = Node::In(field, list, negated);
            } else if negated {
                return Err(self.error_here(
                    "expected BETWEEN, IN, CONTAINS, STARTSWITH, ENDSWITH or LIKE after NOT",
                ));
            } else {
                return Ok(e);
            }
        }
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.eat_sym("+") {
            return self.unary();
        }
        if self.eat_sym("-") {
            return Ok(match self.unary()? {
                Node::Lit(Literal::Int(v)) => Node::Lit(Literal::Int(v.wrapping_neg())),
                Node::Lit(Literal::Long(v)) => Node::Lit(Literal::Long(v.wrapping_neg())),
                Node::Lit(Literal::Double(v)) => Node::Lit(Literal::Double(-v)),
                other => Node::Negate(Box::new(other)),
            });
        }
        if self.dialect == Dialect::RocketMq && self.eat_kw(Kw::Not) {
            let at = self.position();
            let e = self.unary()?;
            return Ok(Node::Not(Box::new(boolean(e, at)?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        match self.peek().clone() {
            Tok::Sym("(") => {
                self.bump();
                let e = self.or()?;
                self.expect_sym(")", "expected ')'")?;
                Ok(e)
            }
            Tok::Lit(l) => {
                self.bump();
                Ok(Node::Lit(l))
            }
            Tok::Ident(name) => {
                self.bump();
                Ok(Node::Field(match name.as_str() {
                    "TAGS" => Field::Tag,
                    "KEYS" => Field::Keys,
                    _ => Field::Property(name),
                }))
            }
            _ => Err(self.error_here(
                "expected an operand (a property name, a string, a number, TRUE, FALSE, NULL or '(')",
            )),
        }
    }

    fn string(&mut self) -> Result<String, ExprError> {
        match self.peek().clone() {
            Tok::Lit(Literal::Str(s)) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.error_here("expected a quoted string")),
        }
    }
}
