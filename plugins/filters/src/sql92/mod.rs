//! SQL92 filters over message properties: RocketMQ 5's language and results, plus `LIKE`.
//!
//! The grammar, the compile-time checks and the evaluation follow apache/rocketmq's
//! `SelectorParser` and expression classes rule by rule (the project's
//! `rocketmq-filter-semantics.md`); `docs/plugins.md` lists where Lockgate differs. In short:
//!
//! - Operands are property names, strings (`'it''s'`), integers (`10`, `10L`), decimals
//!   (`1.5`, `2e3`), `TRUE`, `FALSE`, `NULL`, unary `+`/`-` and parenthesised expressions, on
//!   either side of an operator (`'abc' CONTAINS 'b'`, `a > b`).
//! - `OR` < `AND` < `=`, `<>`, `IS [NOT] NULL` < `>`, `>=`, `<`, `<=`, `[NOT] BETWEEN`,
//!   `[NOT] IN`, `[NOT] CONTAINS|STARTSWITH|ENDSWITH|LIKE` < unary `+`, `-`, `NOT`: in
//!   RocketMQ `NOT a = 'x'` is `(NOT a) = 'x'`.
//! - Every property value is a string; comparing with a literal converts the string the way
//!   Java does (`Integer.valueOf` against an integer literal, `Double.valueOf` against a
//!   decimal), and a conversion that fails aborts the whole expression: the message is not
//!   delivered ([`Truth::Failed`]).
//!
//! [`Dialect::Sql`] keeps the grammar but replaces RocketMQ's accidents of Java with SQL's
//! rules: `NOT` binds looser than comparisons, numbers compare as numbers whatever the
//! literal's type, a value that does not convert makes only its comparison unknown, `NULL`
//! on either side of `=` is unknown, and `0.0` is a literal.
//!
//! Lockgate refuses what RocketMQ would silently ignore: tokens after a complete expression.

mod eval;
mod lex;
mod parse;

use crate::{ExprError, MessageFields};

/// Which rules an expression follows where RocketMQ's are accidents of Java.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// RocketMQ 5's results, accidents included (the default: migrated subscriptions select
    /// the same messages).
    #[default]
    RocketMq,
    /// SQL's precedence, numeric comparison and three-valued logic.
    Sql,
}

impl Dialect {
    /// The plugin config value: `rocketmq` or `sql`.
    pub fn from_config(value: &str) -> Result<Dialect, String> {
        match value {
            "rocketmq" => Ok(Dialect::RocketMq),
            "sql" => Ok(Dialect::Sql),
            other => Err(format!("dialect: {other:?} is not rocketmq or sql")),
        }
    }
}

/// The result of evaluating an expression for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// NULL: a missing property took part. Not delivered.
    Unknown,
    /// A value did not convert (RocketMQ throws and logs). Not delivered.
    Failed,
}

/// Where a property's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `TAGS`: the message's tag.
    Tag,
    /// `KEYS`: the message's keys joined by single spaces.
    Keys,
    Property(String),
}

/// A literal as RocketMQ types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// An integer within Java's `int` range.
    Int(i32),
    /// An integer beyond `int`, within `long`.
    Long(i64),
    Double(f64),
    Str(String),
}

/// `>`, `>=`, `<`, `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
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
    /// Lockgate's extension: `%` any run, `_` one character.
    Like,
}

/// A compiled expression node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Lit(Literal),
    Field(Field),
    /// Unary minus of something that is not a numeric literal (a property's string gives NULL).
    Negate(Box<Node>),
    /// A property used where a boolean is needed.
    AsBool(Field),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    /// `=`; `<>` is `Not(Eq)`.
    Eq(Box<Node>, Box<Node>),
    Cmp(Box<Node>, Rel, Box<Node>),
    In(Field, Vec<String>, bool),
    IsNull(Box<Node>, bool),
    Text(Box<Node>, TextOp, String, bool),
}

/// A compiled selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    root: Node,
    dialect: Dialect,
}

impl Expr {
    /// Compiles an expression with RocketMQ's rules; an error names the position of the
    /// problem.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        Expr::parse_in(text, Dialect::RocketMq)
    }

    /// Compiles an expression in a dialect.
    pub fn parse_in(text: &str, dialect: Dialect) -> Result<Expr, ExprError> {
        let root = parse::parse(text, dialect)?;
        Ok(Expr { root, dialect })
    }

    /// The compiled tree.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// Evaluates against a message.
    pub fn eval(&self, m: &impl MessageFields) -> Truth {
        eval::truth(&self.root, m, self.dialect)
    }

    /// True only when the expression is TRUE for the message.
    pub fn selects(&self, m: &impl MessageFields) -> bool {
        self.eval(m) == Truth::True
    }
}

#[cfg(test)]
mod tests;
