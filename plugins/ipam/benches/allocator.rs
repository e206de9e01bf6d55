//! Allocator throughput in a /16 pool that is 99% full: one dynamic
//! RequestAddress (the lowest free address) and its ReleaseAddress per
//! iteration, with 1% of the pool free at random places.
//! Run: `cargo bench -p drydock-ipam --bench allocator`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drydock_ipam::alloc::{Allocator, LOCAL_SPACE};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

fn bench(c: &mut Criterion) {
    let mut a = Allocator::new(vec![]);
    let p = a
        .request_pool(LOCAL_SPACE, "10.50.0.0/16", "", false, BTreeMap::new())
        .unwrap();
    let mut held = Vec::new();
    while let Ok(addr) = a.request_address(&p.id, "") {
        held.push(addr.split('/').next().unwrap().to_owned());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let free = held.len() / 100;
    for _ in 0..free {
        let i = rng.gen_range(0..held.len());
        let addr = held.swap_remove(i);
        a.release_address(&p.id, &addr).unwrap();
    }
    let mut g = c.benchmark_group("ipam_allocator_slash16_99pct_full");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_release_dynamic", |b| {
        b.iter(|| {
            let addr = a.request_address(&p.id, "").unwrap();
            let bare = addr.split('/').next().unwrap();
            a.release_address(&p.id, bare).unwrap();
        })
    });
    g.bench_function("request_release_static", |b| {
        let target = held[held.len() / 2].clone();
        a.release_address(&p.id, &target).unwrap();
        b.iter(|| {
            a.request_address(&p.id, &target).unwrap();
            a.release_address(&p.id, &target).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
