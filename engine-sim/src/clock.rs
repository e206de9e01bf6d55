//! Time, injectable.
//!
//! dockerd waits a lot: 1/2/4/8 s retry backoff, 15 s discovery retries, 1–2 min
//! volume call timeouts. drydock reproduces those waits, but a test or scenario
//! must not spend minutes of real time on them. Every wait in the engine goes
//! through a [`Clock`]:
//! * [`TokioClock`] uses `tokio::time`, so unit tests can pause and advance it
//!   (`#[tokio::test(start_paused = true)]`) when no real socket is involved;
//! * [`VirtualClock`] never waits: a sleep advances virtual time at once. Scenario
//!   runs use it, so a 2-minute timeout costs microseconds. Real plugin I/O still
//!   takes real time; only the engine's own waiting is virtual.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A boxed future returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The engine's source of time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time elapsed since the clock was created.
    fn elapsed(&self) -> Duration;
    /// Waits for `d` (or pretends to).
    fn sleep(&self, d: Duration) -> Sleep;
    /// Whether waits are virtual. A virtual clock cannot time out real I/O: per-call
    /// timeouts then apply only to delays the engine itself injects.
    fn is_virtual(&self) -> bool;
}

/// Real time through `tokio::time` (pausable in tests).
#[derive(Debug)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(TokioClock {
            start: tokio::time::Instant::now(),
        })
    }
}

impl Clock for TokioClock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
    fn is_virtual(&self) -> bool {
        false
    }
}

/// Virtual time: sleeping advances the clock instantly.
#[derive(Debug, Default)]
pub struct VirtualClock {
    nanos: AtomicU64,
}

impl VirtualClock {
    /// A virtual clock at zero.
    pub fn new() -> Arc<Self> {
        Arc::new(VirtualClock::default())
    }

    /// Moves time forward by `d` without waiting.
    pub fn advance(&self, d: Duration) {
        self.nanos
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    }
}

impl Clock for VirtualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) -> Sleep {
        self.advance(d);
        // Yield once so that other tasks (a plugin "appearing later", a
        // concurrent request) get to run at the new time.
        Box::pin(tokio::task::yield_now())
    }
    fn is_virtual(&self) -> bool {
        true
    }
}

/// dockerd's retry backoff (`pkg/plugins` `backoff`): 1 s doubled per retry, capped at 30 s.
pub fn backoff(retries: u32) -> Duration {
    let mut secs = 1u64;
    let mut r = retries;
    while secs < RETRY_BUDGET.as_secs() && r > 0 {
        secs *= 2;
        r -= 1;
    }
    Duration::from_secs(secs.min(RETRY_BUDGET.as_secs()))
}

/// dockerd gives up retrying when the next sleep would reach this budget
/// measured from the first attempt (so ≈15 s in practice: 1+2+4+8).
pub const RETRY_BUDGET: Duration = Duration::from_secs(30);

/// dockerd's `abort`: whether sleeping `next` more would exhaust the budget.
pub fn should_abort(elapsed: Duration, next: Duration) -> bool {
    elapsed + next >= RETRY_BUDGET
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_table_matches_dockerd() {
        // pkg/plugins TestBackoff: 0→1, 1→2, 2→4, 4→16, 6→30, 10→30.
        for (retries, secs) in [(0, 1), (1, 2), (2, 4), (4, 16), (6, 30), (10, 30)] {
            assert_eq!(
                backoff(retries),
                Duration::from_secs(secs),
                "retries={retries}"
            );
        }
    }

    #[test]
    fn abort_at_budget() {
        assert!(!should_abort(
            Duration::from_secs(7),
            Duration::from_secs(8)
        ));
        assert!(should_abort(
            Duration::from_secs(15),
            Duration::from_secs(16)
        ));
        assert!(should_abort(Duration::from_secs(30), Duration::ZERO));
    }

    #[tokio::test]
    async fn virtual_sleep_is_instant() {
        let clock = VirtualClock::new();
        let real = std::time::Instant::now();
        clock.sleep(Duration::from_secs(120)).await;
        assert_eq!(clock.elapsed(), Duration::from_secs(120));
        assert!(real.elapsed() < Duration::from_secs(1));
    }
}
