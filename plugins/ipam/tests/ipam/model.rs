//! Property tests of the allocator against a model: for any sequence of pool
//! and address requests and releases, no address is held twice, every held
//! address lies in its pool, released addresses become available again, and
//! releasing everything leaves nothing held.

use drydock_ipam::alloc::LOCAL_SPACE;
use drydock_ipam::net::{Addr, Cidr};
use drydock_ipam::Allocator;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
enum Op {
    /// An explicit pool (index into SUBNETS) or a default one, of a family.
    Pool { explicit: Option<usize>, v6: bool },
    /// An address from the n-th live pool: static at an offset, or dynamic.
    Address { pool: usize, offset: Option<u8> },
    /// Release the n-th held address of the n-th pool (or a bogus one).
    Release { pool: usize, which: usize },
    /// Release the n-th pool's addresses, then the pool.
    Drop { pool: usize },
}

/// Small blocks, so exhaustion and overlaps happen often.
const SUBNETS: &[(&str, &str)] = &[
    ("10.0.0.0/29", ""),
    ("10.0.0.0/28", "10.0.0.8/29"),
    ("10.0.1.0/30", ""),
    ("fd00::/125", ""),
    ("fd00::/124", "fd00::8/126"),
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (proptest::option::of(0..SUBNETS.len()), any::<bool>())
            .prop_map(|(explicit, v6)| Op::Pool { explicit, v6 }),
        (0..8usize, proptest::option::of(0..20u8))
            .prop_map(|(pool, offset)| Op::Address { pool, offset }),
        (0..8usize, 0..10usize).prop_map(|(pool, which)| Op::Release { pool, which }),
        (0..8usize).prop_map(|pool| Op::Drop { pool }),
    ]
}

fn bare(cidr_addr: &str) -> String {
    cidr_addr.split('/').next().unwrap().to_owned()
}

/// Checks the allocator against the model's view of what is held.
fn check(a: &Allocator, model: &BTreeMap<String, BTreeSet<String>>) {
    let pools = a.pools();
    assert_eq!(
        pools.keys().collect::<Vec<_>>(),
        model.keys().collect::<Vec<_>>()
    );
    for (id, held) in model {
        let p = &pools[id];
        let actual: BTreeSet<String> = p
            .held
            .iter()
            .map(|v| {
                Addr {
                    family: p.cidr.family(),
                    value: *v,
                }
                .to_string()
            })
            .collect();
        assert_eq!(&actual, held, "held addresses of {id}");
        for v in &p.held {
            assert!(
                p.cidr.first() <= *v && *v <= p.cidr.last(),
                "{v} outside {id}"
            );
        }
    }
    // Pools of one space never overlap.
    let all: Vec<&Cidr> = pools.values().map(|p| &p.cidr).collect();
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert!(!x.overlaps(y), "{x} overlaps {y}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn allocations_never_collide_and_never_leak(ops in proptest::collection::vec(op(), 1..60)) {
        let ranges = vec![
            Cidr::parse("10.8.0.0/23").unwrap(),
            Cidr::parse("fd08::/63").unwrap(),
        ];
        let mut a = Allocator::new(ranges);
        let mut model: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for op in ops {
            let ids: Vec<String> = model.keys().cloned().collect();
            match op {
                Op::Pool { explicit, v6 } => {
                    let (pool, sub) = explicit.map(|i| SUBNETS[i]).unwrap_or(("", ""));
                    let v6 = if pool.is_empty() { v6 } else { pool.contains(':') };
                    if let Ok(g) = a.request_pool(LOCAL_SPACE, pool, sub, v6, BTreeMap::new()) {
                        prop_assert!(!model.contains_key(&g.id));
                        model.insert(g.id, BTreeSet::new());
                    }
                }
                Op::Address { pool, offset } if !ids.is_empty() => {
                    let id = &ids[pool % ids.len()];
                    let p = a.pools()[id].clone();
                    let want = offset.map(|o| {
                        Addr { family: p.cidr.family(), value: p.cidr.first() + o as u128 }.to_string()
                    });
                    match a.request_address(id, want.as_deref().unwrap_or("")) {
                        Ok(got) => {
                            let suffix = format!("/{}", p.cidr.prefix);
                            prop_assert!(got.ends_with(&suffix), "{} lacks {}", got, suffix);
                            let ip = bare(&got);
                            if let Some(w) = &want {
                                prop_assert_eq!(&ip, w);
                            } else {
                                let v = Addr::parse(&ip).unwrap().value;
                                prop_assert!(!p.cidr.is_reserved(v), "dynamic {} reserved", ip);
                                let range = p.sub.unwrap_or(p.cidr);
                                prop_assert!(range.first() <= v && v <= range.last());
                            }
                            prop_assert!(model.get_mut(id).unwrap().insert(ip.clone()), "{} handed out twice", ip);
                        }
                        Err(_) => {
                            // Refused only when taken, outside, or exhausted.
                            if let Some(w) = &want {
                                let inside = p.cidr.contains(Addr::parse(w).unwrap());
                                prop_assert!(!inside || model[id].contains(w));
                            }
                        }
                    }
                }
                Op::Release { pool, which } if !ids.is_empty() => {
                    let id = &ids[pool % ids.len()];
                    let held: Vec<String> = model[id].iter().cloned().collect();
                    match held.get(which) {
                        Some(ip) => {
                            a.release_address(id, ip).unwrap();
                            model.get_mut(id).unwrap().remove(ip);
                            // Released means available again.
                            let mut probe = a.clone();
                            prop_assert!(probe.request_address(id, ip).is_ok());
                        }
                        None => {
                            let p = &a.pools()[id];
                            let bogus = Addr { family: p.cidr.family(), value: p.cidr.last() }.to_string();
                            if !model[id].contains(&bogus) {
                                prop_assert!(a.release_address(id, &bogus).is_err());
                            }
                        }
                    }
                }
                Op::Drop { pool } if !ids.is_empty() => {
                    let id = &ids[pool % ids.len()];
                    for ip in model.remove(id).unwrap() {
                        a.release_address(id, &ip).unwrap();
                    }
                    prop_assert!(a.pools()[id].held.is_empty());
                    a.release_pool(id).unwrap();
                }
                _ => {}
            }
            check(&a, &model);
        }
        // Leak check: releasing everything leaves nothing.
        for (id, held) in std::mem::take(&mut model) {
            for ip in held {
                a.release_address(&id, &ip).unwrap();
            }
            a.release_pool(&id).unwrap();
        }
        prop_assert!(a.pools().is_empty());
    }
}
