//! `builtin:sql92`: delivers messages for which a SQL92 expression over their properties is
//! TRUE (see `lockgate_filters::sql92` for the language).

use lockgate_filters::MessageFields;
use lockgate_filters::sql92::Expr;
use lockgate_plugin_sdk::{ExpressionError, Filter, Message};

struct Sql92(Expr);

/// A message as the evaluator sees it; the keys are joined only if an expression asks.
struct Fields<'m, 'a> {
    m: &'m Message<'a>,
    keys: std::cell::OnceCell<String>,
}

impl MessageFields for Fields<'_, '_> {
    fn tag(&self) -> &str {
        self.m.tag
    }
    fn keys(&self) -> &str {
        self.keys
            .get_or_init(|| self.m.keys().collect::<Vec<_>>().join(" "))
    }
    fn property(&self, name: &str) -> Option<&str> {
        self.m.property(name)
    }
    fn property_bytes(&self, name: &str) -> Option<&[u8]> {
        self.m.property_bytes(name)
    }
}

impl Filter for Sql92 {
    fn create(expression: &str, _config: &[(String, String)]) -> Result<Self, ExpressionError> {
        Expr::parse(expression)
            .map(Sql92)
            .map_err(|e| ExpressionError {
                position: e.position,
                message: e.message,
            })
    }

    fn decide(&self, _topic: &str, m: &Message<'_>) -> bool {
        self.0.selects(&Fields {
            m,
            keys: std::cell::OnceCell::new(),
        })
    }
}

lockgate_plugin_sdk::export_filter!(Sql92);
