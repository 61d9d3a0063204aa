//! Transaction messages: half messages that become visible together on commit, vanish on
//! rollback, and are checked back with their producer group when no outcome comes.
//!
//! - `state`: the pure transaction table (time as an argument);
//! - `service`: [`Transactions`], its I/O shell: records in `%TXN%`, atomic commits, check-backs;
//! - `handler`: the Txn request family;
//! - `record`: half-message and operation records.
//!
//! Not here: the check stream's bytes (`transport::check_stream`).

pub mod handler;
pub mod record;
pub mod service;
pub mod state;

pub use record::{PROP_TXN, TXN_TOPIC, UNRESOLVED_TOPIC};
pub use service::{Transactions, TransactionsOptions};
