//! `--shard K/N`: one CI machine's share of a big run.
//!
//! `drydock run --shard K/N` keeps the scenario files whose key (the path
//! relative to the directory argument it was found under) hashes to shard K;
//! `drydock fuzz --shard K/N` runs the cases whose index `i` has
//! `i mod N = K - 1`. Every shard gets the same command line, so the N
//! shards together run exactly the whole set, each file or case once.
//!
//! Files are placed by hashing rather than by position in the sorted list so
//! that adding or removing a scenario moves only that scenario: with round
//! robin, one new file near the top would shift every file after it to
//! another machine, and a shard's timings and failures would stop being
//! comparable from one run to the next. The hash is fixed (64-bit FNV-1a of
//! the key's UTF-8 bytes, then Lamping and Veach's jump consistent hash onto
//! `N` buckets), not std's per-process randomised one, so every machine and
//! every release places a file the same way; jump hashing also moves only
//! about `1/N` of the files when `N` grows by one. The price is balance: the
//! number of files per shard varies (binomially) around `files / N`, and a
//! shard of a small run can be empty, which is reported and is no failure.

use std::fmt;
use std::hash::Hasher;
use std::str::FromStr;

/// Shard `index` of `count` (1-based: `1/4` is the first of four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`, if `1 <= index <= count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (count >= 1 && (1..=count).contains(&index)).then_some(Shard { index, count })
    }

    /// The 1-based position `K` of this shard.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The number of shards `N`.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether fuzz case `i` (0-based) is this shard's: `i mod N = K - 1`.
    pub fn owns_case(self, i: u64) -> bool {
        i % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// How many of the cases `0..total` this shard runs.
    pub fn cases_of(self, total: u64) -> u64 {
        let k = u64::from(self.index - 1);
        let n = u64::from(self.count);
        if total > k {
            (total - k).div_ceil(n)
        } else {
            0
        }
    }

    /// The shard (1-based) a file with this key belongs to, out of `count`.
    pub fn of_key(key: &str, count: u32) -> u32 {
        let mut h = fnv::FnvHasher::default();
        h.write(key.as_bytes());
        jump_consistent_hash(h.finish(), count) + 1
    }

    /// Whether the file with this key is this shard's.
    pub fn owns_key(self, key: &str) -> bool {
        Shard::of_key(key, self.count) == self.index
    }
}

/// Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm"
/// (2014): a bucket in `0..buckets` for `key`, such that growing `buckets` by
/// one moves only the keys that land in the new bucket.
fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let shape = || format!("{s:?} is not K/N: write e.g. 2/4 for the second of four shards");
        let (k, n) = s.trim().split_once('/').ok_or_else(shape)?;
        let k: u32 = k.trim().parse().map_err(|_| shape())?;
        let n: u32 = n.trim().parse().map_err(|_| shape())?;
        if n == 0 {
            return Err(format!(
                "{s}: N is the number of shards and must be at least 1"
            ));
        }
        if k == 0 {
            return Err(format!(
                "{s}: shards count from 1 (the first of {n} is 1/{n})"
            ));
        }
        if k > n {
            return Err(format!("{s}: there is no shard {k} of {n} (K is 1 to {n})"));
        }
        Ok(Shard { index: k, count: n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("volume/case-{i:03}.scenario"))
            .collect()
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        let s: Shard = "2/4".parse().unwrap();
        assert_eq!((s.index(), s.count()), (2, 4));
        assert_eq!(s.to_string(), "2/4");
        assert_eq!("1/1".parse::<Shard>().unwrap(), Shard::new(1, 1).unwrap());
        let err = |s: &str| s.parse::<Shard>().unwrap_err();
        assert!(err("0/4").contains("count from 1"), "{}", err("0/4"));
        assert!(err("5/4").contains("no shard 5 of 4"), "{}", err("5/4"));
        assert!(err("1/0").contains("at least 1"), "{}", err("1/0"));
        for bad in ["", "2", "2/", "/4", "a/b", "2/4/1", "-1/4", "1.5/4"] {
            assert!(err(bad).contains("is not K/N"), "{bad:?}: {}", err(bad));
        }
    }

    #[test]
    fn the_shards_of_a_file_set_are_disjoint_and_complete() {
        let all = keys(300);
        for n in [1, 2, 3, 4, 7, 16] {
            let mut seen = vec![0u32; all.len()];
            for k in 1..=n {
                let shard = Shard::new(k, n).unwrap();
                for (i, key) in all.iter().enumerate() {
                    if shard.owns_key(key) {
                        seen[i] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "N={n}: {seen:?}");
        }
    }

    #[test]
    fn placement_is_fixed_and_ignores_the_other_files() {
        // Fixed values: a change of hash would move every file in every CI
        // matrix, so it must be deliberate.
        assert_eq!(Shard::of_key("volume/named-lifecycle.scenario", 4), 4);
        assert_eq!(Shard::of_key("authz/deny-privileged.scenario", 4), 2);
        assert_eq!(Shard::of_key("ipam/pool.scenario", 4), 2);
        // A file's shard depends on its key only: adding files elsewhere
        // moves none, whatever order they are listed in.
        let before: Vec<u32> = keys(100).iter().map(|k| Shard::of_key(k, 5)).collect();
        let mut more = keys(150);
        more.reverse();
        for (i, k) in keys(100).iter().enumerate() {
            assert!(more.contains(k));
            assert_eq!(Shard::of_key(k, 5), before[i]);
        }
    }

    #[test]
    fn growing_n_moves_only_files_to_the_new_shard() {
        let all = keys(1000);
        let mut moved = 0;
        for k in &all {
            let (a, b) = (Shard::of_key(k, 4), Shard::of_key(k, 5));
            if a != b {
                assert_eq!(b, 5, "{k} moved from {a} to {b}");
                moved += 1;
            }
        }
        // About a fifth move, and every shard gets a fair share.
        assert!((120..=280).contains(&moved), "{moved} of 1000 moved");
        for s in 1..=5 {
            let n = all.iter().filter(|k| Shard::of_key(k, 5) == s).count();
            assert!((140..=260).contains(&n), "shard {s}/5 has {n} of 1000");
        }
    }

    #[test]
    fn cases_go_round_robin() {
        let s = Shard::new(2, 3).unwrap();
        let mine: Vec<u64> = (0..10).filter(|&i| s.owns_case(i)).collect();
        assert_eq!(mine, [1, 4, 7]);
        assert_eq!(s.cases_of(10), 3);
        assert_eq!(Shard::new(1, 3).unwrap().cases_of(10), 4);
        assert_eq!(Shard::new(3, 3).unwrap().cases_of(2), 0);
        for total in 0..20 {
            let sum: u64 = (1..=4)
                .map(|k| Shard::new(k, 4).unwrap().cases_of(total))
                .sum();
            assert_eq!(sum, total);
        }
    }
}
