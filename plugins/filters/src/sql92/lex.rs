//! RocketMQ's tokens: `/* */` and `--` comments, case-insensitive keywords, ASCII identifiers
//! (plus `.`, Lockgate's extension), integers that must fit in 64 bits, decimals within
//! Java's `double` range, single-quoted strings with `''` for a quote.

use super::{Dialect, Literal};
use crate::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Kw(Kw),
    Lit(Literal),
    /// `=`, `<>`/`!=`, `>`, `>=`, `<`, `<=`, `+`, `-`, `(`, `)`, `,`.
    Sym(&'static str),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    Not,
    And,
    Or,
    Between,
    In,
    Is,
    Contains,
    StartsWith,
    EndsWith,
}

const KEYWORDS: [(&str, Kw); 9] = [
    ("NOT", Kw::Not),
    ("AND", Kw::And),
    ("OR", Kw::Or),
    ("BETWEEN", Kw::Between),
    ("IN", Kw::In),
    ("IS", Kw::Is),
    ("CONTAINS", Kw::Contains),
    ("STARTSWITH", Kw::StartsWith),
    ("ENDSWITH", Kw::EndsWith),
];

/// A token and the 1-based character position it starts at.
pub type Lexed = (Tok, u32);

pub fn lex(text: &str, dialect: Dialect) -> Result<Vec<Lexed>, ExprError> {
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
        let next = chars.get(i + 1).copied();
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}') {
            i += 1;
            continue;
        }
        if c == '-' && next == Some('-') {
            while i < chars.len() && !matches!(chars[i], '\n' | '\r') {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let close = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                .ok_or_else(|| err(start, "unterminated /* comment".into()))?;
            i = close + 2;
            continue;
        }
        let (tok, len) = match c {
            '(' => (Tok::Sym("("), 1),
            ')' => (Tok::Sym(")"), 1),
            ',' => (Tok::Sym(","), 1),
            '=' => (Tok::Sym("="), 1),
            '+' => (Tok::Sym("+"), 1),
            '-' => (Tok::Sym("-"), 1),
            '!' if next == Some('=') => (Tok::Sym("<>"), 2),
            '<' if next == Some('>') => (Tok::Sym("<>"), 2),
            '<' if next == Some('=') => (Tok::Sym("<="), 2),
            '<' => (Tok::Sym("<"), 1),
            '>' if next == Some('=') => (Tok::Sym(">="), 2),
            '>' => (Tok::Sym(">"), 1),
            '\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(err(start, "unterminated string".into())),
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            s.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(&ch) => {
                            s.push(ch);
                            j += 1;
                        }
                    }
                }
                (Tok::Lit(Literal::Str(s)), j + 1 - i)
            }
            '"' => {
                return Err(err(
                    start,
                    "strings take single quotes ('x'); a double quote is not allowed".into(),
                ));
            }
            c if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let (lit, len) = number(&chars[i..], dialect).map_err(|m| err(start, m))?;
                (Tok::Lit(lit), len)
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
                    .count();
                let word: String = chars[i..i + len].iter().collect();
                let tok = if word.eq_ignore_ascii_case("TRUE") {
                    Tok::Lit(Literal::Bool(true))
                } else if word.eq_ignore_ascii_case("FALSE") {
                    Tok::Lit(Literal::Bool(false))
                } else if word.eq_ignore_ascii_case("NULL") {
                    Tok::Lit(Literal::Null)
                } else if let Some((_, kw)) =
                    KEYWORDS.iter().find(|(k, _)| word.eq_ignore_ascii_case(k))
                {
                    Tok::Kw(*kw)
                } else {
                    Tok::Ident(word)
                };
                (tok, len)
            }
            other => return Err(err(start, format!("unexpected character {other:?}"))),
        };
        out.push((tok, start as u32 + 1));
        i += len;
    }
    out.push((Tok::End, chars.len() as u32 + 1));
    Ok(out)
}

/// A numeric literal at the start of `s` and its length in characters.
///
/// Integers are `0` or `[1-9][0-9]*` with an optional `L`: `010` is `0` followed by `10`, as
/// in RocketMQ. Decimals are `d+.d*`, `.d+` or `d+` with an exponent.
fn number(s: &[char], dialect: Dialect) -> Result<(Literal, usize), String> {
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_len = digits(0);
    let mut end = int_len;
    let mut decimal = false;
    if s.get(end) == Some(&'.') {
        decimal = true;
        end += 1 + digits(end + 1);
    }
    if matches!(s.get(end), Some('e' | 'E')) {
        let sign = usize::from(matches!(s.get(end + 1), Some('+' | '-')));
        let exp = digits(end + 1 + sign);
        if exp > 0 {
            decimal = true;
            end += 1 + sign + exp;
        }
    }
    if decimal {
        let text: String = s[..end].iter().collect();
        let v: f64 = text
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))?;
        if v.is_infinite() {
            return Err(format!("{text} is beyond the largest double"));
        }
        if v == 0.0 && dialect == Dialect::RocketMq {
            return Err(format!(
                "{text} is below the smallest positive double, which RocketMQ refuses (write 0)"
            ));
        }
        return Ok((Literal::Double(v), end));
    }
    let len = if s[0] == '0' { 1 } else { int_len };
    let text: String = s[..len].iter().collect();
    let v: i64 = text
        .parse()
        .map_err(|_| format!("{text} does not fit in a 64-bit integer"))?;
    let suffix = usize::from(matches!(s.get(len), Some('l' | 'L')));
    let lit = match i32::try_from(v) {
        Ok(i) => Literal::Int(i),
        Err(_) => Literal::Long(v),
    };
    Ok((lit, len + suffix))
}
