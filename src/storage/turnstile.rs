//! A turnstile: lets numbered tickets through one at a time, in ticket order, each holding
//! the turnstile's state while it passes.
//!
//! The write seam reserves a ticket for every write under the log's write lock, then does the
//! costly parts outside it; two turnstiles put those parts back in order: writes reach the
//! file in reservation order (so the log never has a hole), and are indexed in that order
//! (so queue order is log order). A ticket that is not used still has to pass: a
//! [`Passage`] lets the next one through when it is dropped, whatever happened in between
//! (an error, a panic), so one failed write never stalls the ones behind it.
//!
//! Does not: hand out tickets (the caller numbers them from 0 under its own lock), or decide
//! what a ticket does while it passes.

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Turnstile<S> {
    state: Mutex<Turn<S>>,
    turned: Condvar,
    /// `Turn::next`, readable without the lock.
    passed: AtomicU64,
}

struct Turn<S> {
    /// The ticket whose turn it is.
    next: u64,
    /// Tickets waiting for their turn: wake-ups are only sent when someone waits.
    waiting: u32,
    state: S,
}

/// A ticket's turn: the state, held until this is dropped, which lets the next ticket in.
pub struct Passage<'a, S> {
    turn: MutexGuard<'a, Turn<S>>,
    turnstile: &'a Turnstile<S>,
}

impl<S> Turnstile<S> {
    /// A turnstile whose first ticket is `first`.
    pub fn new(first: u64, state: S) -> Turnstile<S> {
        Turnstile {
            state: Mutex::new(Turn {
                next: first,
                waiting: 0,
                state,
            }),
            turned: Condvar::new(),
            passed: AtomicU64::new(first),
        }
    }

    /// Waits until it is `ticket`'s turn (every ticket before it has passed) and returns the
    /// passage. Each ticket must be taken exactly once.
    pub fn enter(&self, ticket: u64) -> Passage<'_, S> {
        let mut turn = self.state.lock();
        debug_assert!(turn.next <= ticket, "ticket {ticket} entered twice");
        if turn.next != ticket {
            turn.waiting += 1;
            while turn.next != ticket {
                self.turned.wait(&mut turn);
            }
            turn.waiting -= 1;
        }
        Passage {
            turn,
            turnstile: self,
        }
    }

    /// The state between turns (no ticket passes while the guard is held).
    pub fn peek(&self) -> Peek<'_, S> {
        Peek(self.state.lock())
    }

    /// The first ticket that has not passed yet.
    pub fn next(&self) -> u64 {
        self.passed.load(Ordering::Acquire)
    }

    /// Waits until every ticket before `ticket` has passed.
    pub fn wait_passed(&self, ticket: u64) {
        if self.next() >= ticket {
            return;
        }
        let mut turn = self.state.lock();
        turn.waiting += 1;
        while turn.next < ticket {
            self.turned.wait(&mut turn);
        }
        turn.waiting -= 1;
    }
}

impl<S> Deref for Passage<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.turn.state
    }
}

impl<S> DerefMut for Passage<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.turn.state
    }
}

impl<S> Drop for Passage<'_, S> {
    fn drop(&mut self) {
        self.turn.next += 1;
        self.turnstile
            .passed
            .store(self.turn.next, Ordering::Release);
        if self.turn.waiting > 0 {
            self.turnstile.turned.notify_all();
        }
    }
}

/// The state between turns.
pub struct Peek<'a, S>(MutexGuard<'a, Turn<S>>);

impl<S> Deref for Peek<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0.state
    }
}

impl<S> DerefMut for Peek<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tickets_pass_in_order_whatever_order_they_arrive_in() {
        let t = Arc::new(Turnstile::new(0, Vec::new()));
        // Arrive in reverse order: each must wait for all before it.
        let threads: Vec<_> = (0..8u64)
            .rev()
            .map(|ticket| {
                let t = t.clone();
                std::thread::spawn(move || t.enter(ticket).push(ticket))
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(*t.peek(), (0..8).collect::<Vec<_>>());
        assert_eq!(t.next(), 8);
    }

    #[test]
    fn a_ticket_that_panics_while_passing_still_lets_the_next_one_in() {
        let t = Arc::new(Turnstile::new(5, 0u32));
        let t2 = t.clone();
        let failed = std::thread::spawn(move || {
            let mut p = t2.enter(5);
            *p += 1;
            panic!("a write failed half way");
        })
        .join();
        assert!(failed.is_err());
        *t.enter(6) += 10;
        assert_eq!(*t.peek(), 11);
        t.wait_passed(7);
        assert_eq!(t.next(), 7);
    }
}
