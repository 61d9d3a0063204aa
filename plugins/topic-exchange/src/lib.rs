//! `builtin:topic-exchange`: `lockgate_filters::route::exchange` as a router plugin.

use lockgate_filters::route::exchange::TopicExchange;
use lockgate_plugin_sdk::{Message, Router, Targets};

struct Exchange {
    inner: TopicExchange,
    scratch: std::cell::RefCell<Vec<usize>>,
}

impl Router for Exchange {
    fn create(config: &[(String, String)]) -> Result<Self, String> {
        Ok(Exchange {
            inner: TopicExchange::new(config)?,
            scratch: Default::default(),
        })
    }

    fn route(&self, _topic: &str, m: &Message<'_>, to: &mut Targets) -> Result<(), String> {
        let mut out = self.scratch.borrow_mut();
        self.inner.route(m, &mut out);
        for &t in out.iter() {
            to.topic(&self.inner.topics()[t]);
        }
        Ok(())
    }
}

lockgate_plugin_sdk::export_router!(Exchange);
