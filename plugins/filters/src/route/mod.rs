//! Routers' logic, pure Rust (compiled into the built-in router plugins and used natively to
//! measure them): [`exchange`] (RabbitMQ's topic and headers exchanges) and [`content`] (SQL92
//! rules). A router fills a [`Routes`]: the batch's destination topics, each once, and per
//! message the indexes of its own.

pub mod content;
pub mod exchange;

/// A router whose destinations are topics of its config, numbered: the built-ins.
pub trait TopicRouter: Sized {
    /// Reads the config (`[plugins.NAME.config]`).
    fn new(config: &[(String, String)]) -> Result<Self, String>;
    /// Every topic it can route to, numbered by position.
    fn topics(&self) -> &[String];
    /// Routes one message: its topics' numbers into `out` (cleared first).
    fn route(&self, m: &Message<'_>, out: &mut Vec<usize>);

    /// Routes a whole batch, each topic named once in the answer.
    fn route_batch(&self, batch: Batch<'_>) -> Result<Routes, String> {
        let mut routes = RoutesBuilder::new(self.topics(), batch.len());
        let mut out = Vec::new();
        for m in batch {
            let m = m.map_err(|e| format!("unreadable message: {e}"))?;
            self.route(&m, &mut out);
            routes.push(&out);
        }
        Ok(routes.routes)
    }
}

use crate::batch::{Batch, Message};

/// A batch's routing: destination topics by index, and per message the indexes it goes to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Routes {
    pub topics: Vec<String>,
    pub targets: Vec<Vec<u32>>,
}

/// Turns a router's own topic numbers into a batch's destination indexes, adding each topic to
/// the batch's list the first time a message goes there.
pub struct RoutesBuilder<'t> {
    names: &'t [String],
    index: Vec<Option<u32>>,
    pub routes: Routes,
}

impl<'t> RoutesBuilder<'t> {
    pub fn new(names: &'t [String], messages: usize) -> RoutesBuilder<'t> {
        RoutesBuilder {
            names,
            index: vec![None; names.len()],
            routes: Routes {
                topics: Vec::new(),
                targets: Vec::with_capacity(messages),
            },
        }
    }

    /// The next message goes to the router's topics `topics` (numbers into `names`).
    pub fn push(&mut self, topics: &[usize]) {
        let mut out = Vec::with_capacity(topics.len());
        for &t in topics {
            let i = *self.index[t].get_or_insert_with(|| {
                self.routes.topics.push(self.names[t].clone());
                (self.routes.topics.len() - 1) as u32
            });
            if !out.contains(&i) {
                out.push(i);
            }
        }
        self.routes.targets.push(out);
    }
}

/// A router's topics, each once, by number.
#[derive(Debug, Default, Clone)]
pub(crate) struct TopicTable {
    pub names: Vec<String>,
}

impl TopicTable {
    pub fn numbers(&mut self, topics: Vec<String>) -> Vec<usize> {
        topics
            .into_iter()
            .map(|t| match self.names.iter().position(|n| *n == t) {
                Some(i) => i,
                None => {
                    self.names.push(t);
                    self.names.len() - 1
                }
            })
            .collect()
    }
}
