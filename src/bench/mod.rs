//! `lockgate bench …`: load generators and micro-benchmarks. Figures, not pass/fail: tests
//! never time anything.

pub mod delay;
pub mod net;
pub mod plugins;
pub mod storage;
pub mod txn;
