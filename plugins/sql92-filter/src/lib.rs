//! `builtin:sql92`: delivers messages for which a SQL92 expression over their properties is
//! TRUE (see `lockgate_filters::sql92` for the language).

use lockgate_filters::batch::Fields;
use lockgate_filters::sql92::Expr;
use lockgate_plugin_sdk::{ExpressionError, Filter, Message};

struct Sql92(Expr);

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
        self.0.selects(&Fields::new(m))
    }
}

lockgate_plugin_sdk::export_filter!(Sql92);
