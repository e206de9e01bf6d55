//! What durability costs: Mount+Unmount pairs and whole `docker run --rm -v v:/d`
//! lifecycles (Get, Get, Mount, Get, Unmount), with and without fsync, one
//! caller at a time and many at once (where group commit shares the fsync).
//!
//! `cargo bench -p drydock-volume --bench durability`
//!
//! Cases are named `<what>/<durability>/<callers>`; throughput is in pairs or
//! lifecycles per second. The state lives in a temp dir on the default temp
//! filesystem (set `TMPDIR` to measure another disk).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drydock_sdk::wire::volume::{CreateRequest, MountRequest};
use drydock_sdk::{Plugin, VolumeDriver};
use drydock_volume::{Config, Durability, VolumePlugin};
use std::time::{Duration, Instant};

fn open(durability: Durability) -> (tempfile::TempDir, VolumePlugin) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.durability = durability;
    (dir, VolumePlugin::open(config).unwrap())
}

fn id(n: u64) -> String {
    format!("{n:064x}")
}

/// One `docker run --rm -v v:/d` as dockerd sends it (protocol.md §4.4).
async fn lifecycle(plugin: &Plugin, get: &Bytes, mount: Bytes) {
    for (path, body) in [
        ("/VolumeDriver.Get", get.clone()),
        ("/VolumeDriver.Get", get.clone()),
        ("/VolumeDriver.Mount", mount.clone()),
        ("/VolumeDriver.Get", get.clone()),
        ("/VolumeDriver.Unmount", mount),
    ] {
        let reply = plugin.handle(path, body).await;
        debug_assert_eq!(reply.status, 200);
    }
}

fn durabilities() -> [(&'static str, Durability); 2] {
    [
        ("fsync", Durability::Fsync),
        ("buffered", Durability::Buffered),
    ]
}

fn mount_unmount_pair(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("mount_unmount_pair");
    group.throughput(Throughput::Elements(1));
    for (label, durability) in durabilities() {
        let (_dir, driver) = open(durability);
        rt.block_on(driver.create(CreateRequest {
            name: "v".into(),
            opts: None,
        }))
        .unwrap();
        let req = MountRequest {
            name: "v".into(),
            id: id(1),
        };
        group.bench_function(format!("{label}/1"), |b| {
            b.to_async(&rt).iter(|| async {
                driver.mount(req.clone()).await.unwrap();
                driver.unmount(req.clone()).await.unwrap();
            })
        });
    }
    group.finish();
}

fn run_lifecycles(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("docker_run_lifecycle_in_process");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    for (label, durability) in durabilities() {
        for callers in [1u64, 64] {
            let (_dir, driver) = open(durability);
            let plugin = driver.plugin();
            rt.block_on(plugin.handle(
                "/VolumeDriver.Create",
                Bytes::from_static(b"{\"Name\":\"v\",\"Opts\":null}\n"),
            ));
            let get = Bytes::from_static(b"{\"Name\":\"v\"}\n");
            group.bench_function(format!("{label}/{callers}"), |b| {
                // `iters` lifecycles split over `callers` concurrent tasks, each
                // with its own mount ID, as concurrent containers would have.
                b.to_async(&rt).iter_custom(|iters| {
                    let (plugin, get) = (plugin.clone(), get.clone());
                    async move {
                        let start = Instant::now();
                        let tasks: Vec<_> = (0..callers)
                            .map(|t| {
                                let (plugin, get) = (plugin.clone(), get.clone());
                                let n = iters / callers + u64::from(t < iters % callers);
                                tokio::spawn(async move {
                                    let mount = Bytes::from(format!(
                                        "{{\"Name\":\"v\",\"ID\":\"{}\"}}\n",
                                        id(t)
                                    ));
                                    for _ in 0..n {
                                        lifecycle(&plugin, &get, mount.clone()).await;
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap();
                        }
                        start.elapsed()
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, mount_unmount_pair, run_lifecycles);
criterion_main!(benches);
