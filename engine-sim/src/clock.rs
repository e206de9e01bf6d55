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
//!
//! A timeout on a virtual clock ([`timeout`]) works with waits the engine
//! injects itself (a fault's delay or hang): the deadline is kept for the
//! task, and a virtual sleep that would pass it jumps the clock to the deadline
//! and never ends, so the timeout fires at exactly the deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

tokio::task_local! {
    /// The earliest virtual deadline of the [`timeout`]s the current task is
    /// inside; virtual sleeps do not run past it.
    static DEADLINE: Duration;
}

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

    /// Moves time forward to `t`, if it is not there yet.
    fn advance_to(&self, t: Duration) {
        self.nanos
            .fetch_max(t.as_nanos().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    }
}

impl Clock for VirtualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let end = self.elapsed().checked_add(d);
        let deadline = DEADLINE.try_with(|d| *d).ok();
        match (end, deadline) {
            (Some(end), deadline) if deadline.is_none_or(|limit| end <= limit) => {
                self.advance_to(end);
                // Yield once so that other tasks (a plugin "appearing later",
                // a concurrent request) get to run at the new time.
                Box::pin(tokio::task::yield_now())
            }
            // The sleep would outlast a timeout the task is inside: time
            // jumps to the deadline and the sleep never ends, so the timeout
            // fires (see `timeout`).
            (_, Some(limit)) => {
                self.advance_to(limit);
                Box::pin(std::future::pending())
            }
            // Endless, with no deadline to stop at: a hang. Time stays put;
            // whoever runs the engine must bound it with `timeout`.
            (_, None) => Box::pin(std::future::pending()),
        }
    }
    fn is_virtual(&self) -> bool {
        true
    }
}

/// The deadline of a [`timeout`] passed: the future was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `fut` for at most `limit` on `clock`.
///
/// On a real clock this is `tokio::time::timeout`. On a virtual clock the
/// limit bounds the waits the engine makes through the clock inside `fut`
/// (retry backoffs, injected delays and hangs): a sleep that would pass the
/// deadline moves time to the deadline and the timeout fires there. Real I/O
/// inside `fut` is not bounded by a virtual timeout. Nested timeouts keep the
/// earliest deadline.
pub async fn timeout<F: Future>(
    clock: &dyn Clock,
    limit: Duration,
    fut: F,
) -> Result<F::Output, Elapsed> {
    if !clock.is_virtual() {
        return tokio::time::timeout(limit, fut).await.map_err(|_| Elapsed);
    }
    let own = clock.elapsed().saturating_add(limit);
    let deadline = DEADLINE.try_with(|d| (*d).min(own)).unwrap_or(own);
    let mut fut = std::pin::pin!(DEADLINE.scope(deadline, fut));
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Ok(v)),
        Poll::Pending if clock.elapsed() >= deadline => Poll::Ready(Err(Elapsed)),
        Poll::Pending => Poll::Pending,
    })
    .await
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
    async fn virtual_timeout_fires_at_its_deadline_not_at_the_sleeps_end() {
        let clock = VirtualClock::new();
        clock.advance(Duration::from_secs(5));
        let inner = clock.clone();
        let r = timeout(&*clock, Duration::from_secs(60), async move {
            inner.sleep(Duration::from_secs(10)).await;
            inner.sleep(Duration::from_secs(3600)).await;
        })
        .await;
        assert_eq!(r, Err(Elapsed));
        assert_eq!(clock.elapsed(), Duration::from_secs(65));
    }

    #[tokio::test]
    async fn virtual_timeout_lets_short_work_finish_and_nested_ones_keep_the_earliest() {
        let clock = VirtualClock::new();
        let inner = clock.clone();
        let r = timeout(&*clock, Duration::from_secs(10), async move {
            let c = inner.clone();
            let nested = timeout(&*inner, Duration::from_secs(100), async move {
                c.sleep(Duration::MAX).await;
            })
            .await;
            inner.sleep(Duration::from_secs(1)).await;
            nested
        })
        .await;
        // The outer deadline (10 s) is the earlier one, so it ends both.
        assert_eq!(r, Err(Elapsed));
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
        let ok = timeout(&*clock, Duration::from_secs(10), async { 7 }).await;
        assert_eq!(ok, Ok(7));
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
