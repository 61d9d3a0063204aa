//! `builtin:sql92`: delivers messages for which a SQL92 expression over their properties is
//! TRUE (see `lockgate_filters::sql92` for the language). Config: `dialect = "rocketmq"`
//! (the default: RocketMQ 5's results) or `"sql"` (SQL's precedence and numeric comparison).

use lockgate_filters::batch::Fields;
use lockgate_filters::settings::Settings;
use lockgate_filters::sql92::{Dialect, Expr};
use lockgate_plugin_sdk::{ExpressionError, Filter, Message};

struct Sql92(Expr);

impl Filter for Sql92 {
    fn create(expression: &str, config: &[(String, String)]) -> Result<Self, ExpressionError> {
        let config_error = |message: String| ExpressionError {
            position: 0,
            message,
        };
        let settings = Settings::new(config, &["dialect"]).map_err(config_error)?;
        let dialect = settings
            .get("dialect")
            .map_or(Ok(Dialect::RocketMq), Dialect::from_config)
            .map_err(config_error)?;
        Expr::parse_in(expression, dialect)
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
