//! Ingress pipelines: the dedup and router plugins a `[[pipeline]]`'s `[pipeline.ingress]`
//! runs on every batch produced to its topics, before the batch is stored.
//!
//! [`summary`] is the record each routed batch leaves in `%PIPE%<topic>`, [`window`] the dedup
//! window rebuilt from those records.
pub mod summary;
pub mod window;
