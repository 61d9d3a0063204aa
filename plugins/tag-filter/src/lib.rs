//! `builtin:tag`: delivers messages whose tag is listed (`TagA || TagB`), or all (`*`).

use lockgate_filters::tag::TagFilter;
use lockgate_plugin_sdk::{ExpressionError, Filter, Message};

struct Tag(TagFilter);

impl Filter for Tag {
    fn create(expression: &str, _config: &[(String, String)]) -> Result<Self, ExpressionError> {
        TagFilter::parse(expression)
            .map(Tag)
            .map_err(|e| ExpressionError {
                position: e.position,
                message: e.message,
            })
    }

    fn decide(&self, _topic: &str, m: &Message<'_>) -> bool {
        self.0.matches(m.tag)
    }
}

lockgate_plugin_sdk::export_filter!(Tag);
