//! The conformance table of the filters: expressions × messages with the expected decision,
//! and expressions that must fail with a position. The crate's tests run it natively; the
//! host's tests run the same table through the WebAssembly plugins.

/// A message as the table describes it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub tag: &'static str,
    /// Space-separated.
    pub keys: &'static str,
    pub props: &'static [(&'static str, &'static str)],
}

impl crate::MessageFields for Sample {
    fn tag(&self) -> &str {
        self.tag
    }
    fn keys(&self) -> &str {
        self.keys
    }
    fn property(&self, name: &str) -> Option<&str> {
        self.props.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

pub const PLAIN: Sample = Sample {
    tag: "TagA",
    keys: "order-1 user-7",
    props: &[
        ("a", "6"),
        ("b", "x"),
        ("c", "3.5"),
        ("e", "2.7"),
        ("name", "Lock'gate"),
        ("neg", "-2"),
        ("big", "9007199254740993"),
        ("huge", "3000000000"),
        ("word", "abc"),
        ("t", "true"),
        ("one", "1"),
        ("onef", "1.0"),
        ("sp", " 3"),
        ("nan", "NaN"),
        ("now", "2026"),
    ],
};
pub const BARE: Sample = Sample {
    tag: "",
    keys: "",
    props: &[("a", "five"), ("b", "")],
};

/// `(expression, sample, selected)` with RocketMQ's rules (the default dialect), section by
/// section of `rocketmq-filter-semantics.md`.
pub const SQL92: &[(&str, Sample, bool)] = &[
    // §2 lexical: comments, the L suffix, decimals, `now` as a name, unary signs
    ("a > 5 /* a comment */ AND b = 'x'", PLAIN, true),
    ("a > 5 -- the rest of the line\n AND b = 'x'", PLAIN, true),
    ("a > 5 -- AND b = 'y'", PLAIN, true),
    ("a = 6L", PLAIN, true),
    ("a = 6l", PLAIN, true),
    ("big = 9007199254740993L", PLAIN, true),
    ("now = 2026", PLAIN, true),
    ("a = 6.", PLAIN, true),
    ("c = .35e1", PLAIN, true),
    ("name = 'Lock''gate'", PLAIN, true),
    ("neg = -2", PLAIN, true),
    ("neg < - -1", PLAIN, true),
    ("+a = 6", PLAIN, true),
    ("-a IS NULL", PLAIN, true),
    // §3 operands on either side, two properties, TRUE/FALSE as values
    ("'abc' CONTAINS 'b'", PLAIN, true),
    ("6 = a", PLAIN, true),
    ("5 < a", PLAIN, true),
    ("a = b", PLAIN, false),
    ("word = word", PLAIN, true),
    ("one = onef", PLAIN, false),
    ("one >= onef AND one <= onef", PLAIN, true),
    ("a > one", PLAIN, true),
    ("a BETWEEN one AND big", PLAIN, true),
    ("a > b", PLAIN, false),
    ("t = TRUE", PLAIN, true),
    ("t <> FALSE", PLAIN, true),
    ("a = TRUE", PLAIN, false),
    ("TRUE = t", PLAIN, false),
    ("TRUE = TRUE", PLAIN, true),
    ("TRUE = FALSE", PLAIN, false),
    ("(a > 1) = TRUE", PLAIN, true),
    ("TRUE", BARE, true),
    ("(TRUE)", BARE, true),
    ("false", PLAIN, false),
    // §3 NOT binds tighter than comparisons
    ("NOT a = 'x'", PLAIN, false),
    ("NOT (a = 'x')", PLAIN, true),
    ("NOT missing IS NULL", PLAIN, true),
    ("NOT a IS NULL", PLAIN, false),
    ("NOT a CONTAINS '6'", PLAIN, false),
    // §5 a bare property is FALSE when present (even 'true'), NULL when missing
    ("a", PLAIN, false),
    ("t", PLAIN, false),
    ("NOT t", PLAIN, true),
    ("NOT missing", PLAIN, false),
    ("missing OR TRUE", PLAIN, true),
    ("a AND TRUE", PLAIN, false),
    // §5 `=`: a null left is unknown, a null right is FALSE, two nulls are equal
    ("missing = 'x'", PLAIN, false),
    ("NOT (missing = 'x')", PLAIN, false),
    ("NOT ('x' = missing)", PLAIN, true),
    ("missing = other", PLAIN, true),
    ("missing <> 'x'", PLAIN, false),
    ("a = '6'", PLAIN, true),
    ("a = 6", PLAIN, true),
    ("a = 6.0", PLAIN, true),
    ("b = 'x'", PLAIN, true),
    ("b = 'X'", PLAIN, false),
    ("b <> 'y'", PLAIN, true),
    ("a != 7", PLAIN, true),
    ("b = ''", BARE, true),
    ("word = 'abc' AND b = 'x'", PLAIN, true),
    // §5 conversions: Integer.valueOf against an int, Long.valueOf against a long,
    // Double.valueOf against a decimal; a failure aborts the whole expression
    ("a > 5", PLAIN, true),
    ("a >= 6", PLAIN, true),
    ("a < 6", PLAIN, false),
    ("a <= 6.0", PLAIN, true),
    ("a <> 6", PLAIN, false),
    ("neg > -3e0", PLAIN, true),
    ("big > 9007199254740992", PLAIN, true),
    ("huge = 3000000000", PLAIN, true),
    ("huge > 5", PLAIN, false),
    ("huge > 5.0", PLAIN, true),
    ("onef = 1", PLAIN, false),
    ("onef = 1.0", PLAIN, true),
    ("c > 3", PLAIN, false),
    ("c > 3.0", PLAIN, true),
    ("c < 3.6", PLAIN, true),
    ("sp = 3", PLAIN, false),
    ("sp = 3.0", PLAIN, true),
    ("nan > 1e300", PLAIN, true),
    ("a > 5", BARE, false),
    ("NOT (a > 5)", BARE, false),
    ("b = 'x' OR word > 5", PLAIN, true),
    ("word > 5 OR b = 'x'", PLAIN, false),
    ("word > 5 OR TRUE", PLAIN, false),
    ("NOT (a > 7 AND word > 5)", PLAIN, true),
    ("NOT (a > 5 AND word > 5)", PLAIN, false),
    // §5 three-valued logic with missing properties
    ("missing > 1", PLAIN, false),
    ("NOT (missing > 1)", PLAIN, false),
    ("missing > 1 OR a = 6", PLAIN, true),
    ("missing > 1 AND a = 6", PLAIN, false),
    ("NOT (missing > 1 AND a = 7)", PLAIN, true),
    ("NOT (missing > 1 OR a = 7)", PLAIN, false),
    // §3 AND before OR
    ("a > 5 AND (b = 'x' OR TAGS = 'TagB')", PLAIN, true),
    ("a > 5 AND b = 'y' OR TAGS = 'TagA'", PLAIN, true),
    ("a > 5 AND (b = 'y' OR TAGS = 'TagB')", PLAIN, false),
    ("FALSE OR TRUE AND FALSE", PLAIN, false),
    ("NOT FALSE AND TRUE", PLAIN, true),
    // §5 BETWEEN converts each bound on its own; NOT BETWEEN has no bounds check
    ("a BETWEEN 6 AND 10", PLAIN, true),
    ("a BETWEEN 7 AND 10", PLAIN, false),
    ("a NOT BETWEEN 7 AND 10", PLAIN, true),
    ("a NOT BETWEEN 10 AND 0", PLAIN, true),
    ("a between 6 and 6", PLAIN, true),
    ("c BETWEEN 3.0 AND 4.0", PLAIN, true),
    ("c BETWEEN 3 AND 4", PLAIN, false),
    ("e BETWEEN 2.5 AND 3", PLAIN, false),
    ("e BETWEEN 2.5 AND 3.0", PLAIN, true),
    ("a NOT BETWEEN 1 AND 2", BARE, false),
    // §5 IN is exact string membership
    ("b IN ('x', 'y')", PLAIN, true),
    ("b IN ('y')", PLAIN, false),
    ("b NOT IN ('y', 'z')", PLAIN, true),
    ("missing NOT IN ('y')", PLAIN, false),
    ("one IN ('1.0')", PLAIN, false),
    // §5 IS NULL of any operand
    ("missing IS NULL", PLAIN, true),
    ("a IS NULL", PLAIN, false),
    ("a IS NOT NULL", PLAIN, true),
    ("NULL IS NULL", PLAIN, true),
    ("(missing > 1) IS NULL", PLAIN, true),
    ("TAGS IS NULL", BARE, true),
    ("KEYS IS NOT NULL", BARE, false),
    // §5 CONTAINS, STARTSWITH, ENDSWITH: FALSE for '', a null or a non-string, NOT forms too
    ("word CONTAINS 'b'", PLAIN, true),
    ("word NOT CONTAINS 'z'", PLAIN, true),
    ("word STARTSWITH 'ab'", PLAIN, true),
    ("word NOT STARTSWITH 'ab'", PLAIN, false),
    ("word ENDSWITH 'bc'", PLAIN, true),
    ("missing CONTAINS 'a'", PLAIN, false),
    ("missing NOT CONTAINS 'a'", PLAIN, false),
    ("NOT (missing CONTAINS 'a')", PLAIN, true),
    ("word CONTAINS ''", PLAIN, false),
    ("word NOT CONTAINS ''", PLAIN, false),
    ("6 CONTAINS '6'", PLAIN, false),
    // LIKE, Lockgate's extension
    ("word LIKE 'a%'", PLAIN, true),
    ("word LIKE '_b_'", PLAIN, true),
    ("word LIKE '%c'", PLAIN, true),
    ("word LIKE 'a_'", PLAIN, false),
    ("word NOT LIKE '%z%'", PLAIN, true),
    ("name LIKE 'Lock''%'", PLAIN, true),
    ("like = 'x'", PLAIN, false),
    // TAGS and KEYS
    ("TAGS = 'TagA'", PLAIN, true),
    ("TAGS IN ('TagA', 'TagB')", PLAIN, true),
    ("KEYS CONTAINS 'user-7'", PLAIN, true),
    ("KEYS = 'order-1 user-7'", PLAIN, true),
    // §2 keywords are case-insensitive, property names are not
    ("a > 5 and b = 'x'", PLAIN, true),
    ("A > 5", PLAIN, false),
    ("a is not null", PLAIN, true),
];

/// `(expression, sample, selected)` where the `sql` dialect's result differs from RocketMQ's.
pub const SQL92_SQL: &[(&str, Sample, bool)] = &[
    // numbers compare as numbers whatever the literal's type
    ("c > 3", PLAIN, true),
    ("onef = 1", PLAIN, true),
    ("sp = 3", PLAIN, true),
    ("huge > 5", PLAIN, true),
    ("e BETWEEN 2.5 AND 3", PLAIN, true),
    ("a > 0.0", PLAIN, true),
    // a value that does not convert is unknown, not an abort
    ("word > 5 OR b = 'x'", PLAIN, true),
    ("word > 5 OR TRUE", PLAIN, true),
    // NOT is looser than comparisons
    ("NOT a = 'x'", PLAIN, true),
    ("NOT missing IS NULL", PLAIN, false),
    ("NOT a > 7", PLAIN, true),
    // a property 'true'/'false' is a boolean, either side of '='
    ("t", PLAIN, true),
    ("NOT t", PLAIN, false),
    ("TRUE = t", PLAIN, true),
    // NULL on either side of '=' is unknown
    ("missing = other", PLAIN, false),
    ("NOT ('x' = missing)", PLAIN, false),
    // '' is contained in every string
    ("word CONTAINS ''", PLAIN, true),
];

/// `(expression, position, part of the message)`, RocketMQ's compile errors and Lockgate's
/// refusal of trailing tokens.
pub const SQL92_ERRORS: &[(&str, u32, &str)] = &[
    // syntax
    ("", 1, "expected an operand"),
    ("a >", 4, "expected an operand"),
    ("a = 'x", 5, "unterminated string"),
    ("a = \"x\"", 5, "single quotes"),
    ("(a = 1", 7, "expected ')'"),
    ("a BETWEEN 1 2", 13, "expected AND"),
    ("a between 10,20", 13, "expected AND"),
    ("a and between 2 and 10", 7, "expected an operand"),
    ("a IN 'x'", 6, "expected '('"),
    ("a IN ('x' 'y')", 11, "expected ',' or ')'"),
    ("a IN ()", 7, "expected a quoted string"),
    ("a IN (1, 2)", 7, "expected a quoted string"),
    ("a IS 1", 6, "expected NULL"),
    ("a NOT = 1", 7, "expected BETWEEN"),
    ("a ~ 1", 3, "unexpected character"),
    ("a == 1", 4, "expected an operand"),
    ("AND", 1, "expected an operand"),
    ("a = 1 AND", 10, "expected an operand"),
    ("a CONTAINS 3", 12, "expected a quoted string"),
    ("a /* open", 3, "unterminated /* comment"),
    // tokens after a complete expression (RocketMQ ignores them)
    ("a = 1 b = 2", 7, "expected AND, OR or the end"),
    ("a = 1..2", 7, "expected AND, OR or the end"),
    ("a = 010", 6, "expected AND, OR or the end"),
    ("a.b - c = 1", 5, "expected AND, OR or the end"),
    // literals
    (
        "a = 99999999999999999999",
        5,
        "does not fit in a 64-bit integer",
    ),
    (
        "a = 9223372036854775808",
        5,
        "does not fit in a 64-bit integer",
    ),
    ("a = 0.0", 5, "write 0"),
    ("a = 1e-400", 5, "write 0"),
    ("a = 1e400", 5, "beyond the largest double"),
    // the selector must be a condition
    ("'abc'", 1, "does not give TRUE or FALSE"),
    ("5", 1, "does not give TRUE or FALSE"),
    ("a = 1 AND 5", 11, "does not give TRUE or FALSE"),
    // = and <>
    ("a = NULL", 3, "use IS NULL"),
    ("NULL <> a", 6, "use IS NULL"),
    ("TRUE = 1", 6, "cannot be compared"),
    // >, BETWEEN take numbers, not strings, booleans or conditions
    ("a > 'x'", 5, "> compares numbers, not the string 'x'"),
    ("a > TRUE", 5, "compares numbers, not TRUE"),
    ("a BETWEEN 'a' AND 'z'", 11, "compares numbers"),
    ("a > 5 > 3", 1, "compares numbers, not a condition"),
    ("NOT a > 5", 1, "compares numbers, not a condition"),
    ("a BETWEEN 10 AND 0", 11, "is empty"),
    // IN needs a property
    ("'3' IN ('3')", 1, "IN needs a property"),
];

/// `(expression, tag, selected)`.
pub const TAG: &[(&str, &str, bool)] = &[
    ("*", "TagA", true),
    ("*", "", true),
    ("", "TagA", true),
    ("TagA", "TagA", true),
    ("TagA", "TagB", false),
    ("TagA || TagB", "TagB", true),
    (" TagA ||TagB ", "TagA", true),
    ("TagA || TagB", "taga", false),
    ("TagA || TagB", "", false),
];

/// `(expression, position, part of the message)`.
pub const TAG_ERRORS: &[(&str, u32, &str)] = &[
    ("||", 1, "names no tag"),
    (" || || ", 1, "names no tag"),
    ("A || *", 6, "cannot be combined"),
];
