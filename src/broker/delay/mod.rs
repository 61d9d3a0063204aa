//! Delay messages: produced with a delivery time, held in the durable timer, delivered to their
//! topic at that time (never before), cancelled, inspected.
//!
//! - `wheel`: the pure timing wheel (time as an argument);
//! - `service`: [`Delays`], its I/O shell, polled by the timer driver;
//! - `handler`: the Delay request family (ProduceDelayed, DelayCancel, DelayStats,
//!   MessageState) and the resolution of a delivery (time, delay or level) to a time;
//! - `record`: a produced message as its delay record, spliced from the frame's bytes.
//!
//! The durable part, the timer index, is the store's (`storage::timers`): it must be exactly
//! as durable as the records it indexes.

pub mod handler;
mod record;
pub mod service;
pub mod wheel;

pub use service::{Delays, DelaysOptions};
