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
        ("name", "Lock'gate"),
        ("neg", "-2"),
        ("big", "9007199254740993"),
        ("word", "abc"),
    ],
};
pub const BARE: Sample = Sample {
    tag: "",
    keys: "",
    props: &[("a", "five"), ("b", "")],
};

/// `(expression, sample, selected)`.
pub const SQL92: &[(&str, Sample, bool)] = &[
    // comparisons with numbers parse the property
    ("a > 5", PLAIN, true),
    ("a >= 6", PLAIN, true),
    ("a < 6", PLAIN, false),
    ("a <= 6.0", PLAIN, true),
    ("a = 6", PLAIN, true),
    ("a = 6.0", PLAIN, true),
    ("a <> 6", PLAIN, false),
    ("a != 7", PLAIN, true),
    ("c > 3", PLAIN, true),
    ("c < 3.6", PLAIN, true),
    ("neg < -1", PLAIN, true),
    ("neg > -3e0", PLAIN, true),
    ("big = 9007199254740993", PLAIN, true),
    ("big > 9007199254740992", PLAIN, true),
    // a property that does not parse, or is missing, makes the comparison unknown
    ("a > 5", BARE, false),
    ("NOT (a > 5)", BARE, false),
    ("NOT a > 5", BARE, false),
    ("missing > 1", PLAIN, false),
    ("NOT missing > 1", PLAIN, false),
    ("missing > 1 OR a = 6", PLAIN, true),
    ("missing > 1 AND a = 6", PLAIN, false),
    ("NOT (missing > 1 AND a = 7)", PLAIN, true),
    ("NOT (missing > 1 OR a = 7)", PLAIN, false),
    // strings
    ("b = 'x'", PLAIN, true),
    ("b = 'X'", PLAIN, false),
    ("b <> 'y'", PLAIN, true),
    ("b = ''", BARE, true),
    ("name = 'Lock''gate'", PLAIN, true),
    ("word = 'abc' AND b = 'x'", PLAIN, true),
    ("missing = 'x'", PLAIN, false),
    ("missing <> 'x'", PLAIN, false),
    ("a = '6'", PLAIN, true),
    // precedence: NOT > AND > OR; parentheses
    ("a > 5 AND (b = 'x' OR TAGS = 'TagB')", PLAIN, true),
    ("a > 5 AND b = 'y' OR TAGS = 'TagA'", PLAIN, true),
    ("a > 5 AND (b = 'y' OR TAGS = 'TagB')", PLAIN, false),
    ("FALSE OR TRUE AND FALSE", PLAIN, false),
    ("NOT FALSE AND TRUE", PLAIN, true),
    ("(TRUE)", BARE, true),
    ("false", PLAIN, false),
    // BETWEEN, IN
    ("a BETWEEN 6 AND 10", PLAIN, true),
    ("a BETWEEN 7 AND 10", PLAIN, false),
    ("a NOT BETWEEN 7 AND 10", PLAIN, true),
    ("c between 3 and 4", PLAIN, true),
    ("a NOT BETWEEN 1 AND 2", BARE, false),
    ("b IN ('x', 'y')", PLAIN, true),
    ("b IN ('y')", PLAIN, false),
    ("b NOT IN ('y', 'z')", PLAIN, true),
    ("missing NOT IN ('y')", PLAIN, false),
    // NULL
    ("missing IS NULL", PLAIN, true),
    ("a IS NULL", PLAIN, false),
    ("a IS NOT NULL", PLAIN, true),
    ("TAGS IS NULL", BARE, true),
    ("KEYS IS NOT NULL", BARE, false),
    // CONTAINS, STARTSWITH, ENDSWITH, LIKE
    ("word CONTAINS 'b'", PLAIN, true),
    ("word NOT CONTAINS 'z'", PLAIN, true),
    ("word STARTSWITH 'ab'", PLAIN, true),
    ("word NOT STARTSWITH 'ab'", PLAIN, false),
    ("word ENDSWITH 'bc'", PLAIN, true),
    ("missing CONTAINS 'a'", PLAIN, false),
    ("missing NOT CONTAINS 'a'", PLAIN, false),
    ("word LIKE 'a%'", PLAIN, true),
    ("word LIKE '_b_'", PLAIN, true),
    ("word LIKE '%c'", PLAIN, true),
    ("word LIKE 'a_'", PLAIN, false),
    ("word NOT LIKE '%z%'", PLAIN, true),
    ("name LIKE 'Lock''%'", PLAIN, true),
    // TAGS and KEYS
    ("TAGS = 'TagA'", PLAIN, true),
    ("TAGS IN ('TagA', 'TagB')", PLAIN, true),
    ("KEYS CONTAINS 'user-7'", PLAIN, true),
    ("KEYS = 'order-1 user-7'", PLAIN, true),
    // keywords are case-insensitive, property names are not
    ("a > 5 and b = 'x'", PLAIN, true),
    ("A > 5", PLAIN, false),
    ("a is not null", PLAIN, true),
];

/// `(expression, position, part of the message)`.
pub const SQL92_ERRORS: &[(&str, u32, &str)] = &[
    ("", 1, "expected a property name"),
    ("a >", 4, "expected a string or a number"),
    ("a > 'x'", 5, "only = and <> compare strings"),
    ("a = 'x", 5, "unterminated string"),
    ("(a = 1", 7, "expected ')'"),
    ("a = 1 b = 2", 7, "expected AND, OR"),
    ("a BETWEEN 1 2", 13, "expected AND"),
    ("a IN 'x'", 6, "expected '('"),
    ("a IN ('x' 'y')", 11, "expected ',' or ')'"),
    ("a IS 1", 6, "expected NULL"),
    ("a NOT = 1", 7, "expected BETWEEN"),
    ("a ~ 1", 3, "unexpected character"),
    ("AND", 1, "expected a property name"),
    ("a = 1 AND", 10, "expected a property name"),
    ("a CONTAINS 3", 12, "expected a quoted string"),
    ("a = 1..2", 5, "is not a number"),
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
