//! The `[transactions]` section: when the broker checks back with a producer about a
//! transaction without an outcome, how often, and what happens when nobody answers.

use std::time::Duration;

use super::raw::RawTransactions;
use super::{Validator, positive_duration_of};

/// What becomes of a transaction that `max_checks` check-backs did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnresolved {
    /// Rolled back: its messages are never visible.
    Rollback,
    /// Kept for an operator (`lockgate txn list`, `txn commit|rollback ID`); its messages are
    /// copied to `%TXN_UNRESOLVED%` to be read there.
    Park,
}

impl OnUnresolved {
    pub fn name(self) -> &'static str {
        match self {
            OnUnresolved::Rollback => "rollback",
            OnUnresolved::Park => "park",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionsConfig {
    /// A transaction without an outcome this long after its begin is checked back (a begin may
    /// name its own timeout instead).
    pub check_after: Duration,
    /// Between check-backs.
    pub check_interval: Duration,
    /// Check-backs before `on_unresolved` applies.
    pub max_checks: u32,
    pub on_unresolved: OnUnresolved,
}

impl Default for TransactionsConfig {
    fn default() -> Self {
        TransactionsConfig {
            check_after: Duration::from_secs(6),
            check_interval: Duration::from_secs(60),
            max_checks: 15,
            on_unresolved: OnUnresolved::Rollback,
        }
    }
}

pub(super) fn validate(v: &mut Validator, raw: RawTransactions) -> TransactionsConfig {
    let d = TransactionsConfig::default();
    let max_checks = match raw.max_checks {
        None => d.max_checks,
        Some(n) if (0..=10_000).contains(&n) => n as u32,
        Some(n) => {
            v.problem(
                "transactions.max_checks",
                format!("{n} is out of range (0 to 10000)"),
            );
            d.max_checks
        }
    };
    let on_unresolved = match raw.on_unresolved.as_deref() {
        None => d.on_unresolved,
        Some("rollback") => OnUnresolved::Rollback,
        Some("park") => OnUnresolved::Park,
        Some(other) => {
            v.problem(
                "transactions.on_unresolved",
                format!("{other:?} is not \"rollback\" or \"park\""),
            );
            d.on_unresolved
        }
    };
    TransactionsConfig {
        check_after: v.value(
            "transactions.check_after",
            raw.check_after,
            d.check_after,
            positive_duration_of,
        ),
        check_interval: v.value(
            "transactions.check_interval",
            raw.check_interval,
            d.check_interval,
            positive_duration_of,
        ),
        max_checks,
        on_unresolved,
    }
}
