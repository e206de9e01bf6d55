//! The reference plugins under stress, as real processes and over real
//! sockets: SIGKILL at random points (`crash`), many concurrent connections
//! (`load`), hostile input (`badinput`) and socket-file hygiene (`sockets`).
//! docs/robustness.md describes what each proves and how to run bigger runs.
//!
//! Each test prints its figures (operations, kills, inputs, losses) with
//! [`figures`], which writes to the real stderr so `cargo test` shows them
//! even for passing tests.

mod badinput;
mod client;
mod crash;
mod durability;
mod load;
pub mod proc;
mod sockets;

use std::io::Write;

/// Prints one line of figures where CI logs show it: straight to the
/// process's stderr, past the test harness's output capture.
pub fn figures(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A size knob: the environment variable `var` if set (and a number),
/// `default` otherwise. Bigger runs are a matter of exporting these.
pub fn knob(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// A small, seedable, reproducible generator (splitmix64): the tests print
/// their seed, and the same seed replays the same operations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The seed of a run: `DRYDOCK_HARDEN_SEED` if set, else `default` (fixed, so
/// CI runs are reproducible; set the variable to explore other sequences).
pub fn seed(default: u64) -> u64 {
    knob("DRYDOCK_HARDEN_SEED", default)
}
