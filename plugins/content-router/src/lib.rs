//! `builtin:content-router`: `lockgate_filters::route::content` as a router plugin.

use lockgate_filters::route::content::ContentRouter;
use lockgate_plugin_sdk::{Batch, Message, Router, Targets, TopicRoutes};

struct Content {
    inner: ContentRouter,
    scratch: std::cell::RefCell<Vec<usize>>,
}

impl Router for Content {
    fn create(config: &[(String, String)]) -> Result<Self, String> {
        Ok(Content {
            inner: ContentRouter::new(config)?,
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

    /// The whole batch through the router's own topic numbering: no string compares.
    fn route_all(&self, _topic: &str, batch: &Batch<'_>) -> Option<Result<TopicRoutes, String>> {
        let mut routes = self.inner.builder(batch.len());
        let mut out = self.scratch.borrow_mut();
        for m in batch.clone() {
            match m {
                Ok(m) => self.inner.route(&m, &mut out),
                Err(e) => return Some(Err(format!("unreadable message: {e}"))),
            }
            routes.push(&out);
        }
        let r = routes.routes;
        Some(Ok((r.topics, r.targets)))
    }
}

lockgate_plugin_sdk::export_router!(Content);
