//! Many connections at once: distinct and shared mount IDs, concurrent creates.

use crate::util::{hex_id, Harness};
use drydock_volume::Durability;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Barrier;

const TASKS: usize = 32;
const VOLUMES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mounts_and_unmounts_keep_counts_exact_fsync() {
    concurrent_lifecycles(Durability::Fsync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mounts_and_unmounts_keep_counts_exact_buffered() {
    concurrent_lifecycles(Durability::Buffered).await;
}

async fn concurrent_lifecycles(durability: Durability) {
    let h = Arc::new(Harness::with(|c| c.durability = durability));
    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let vol = |t: usize| format!("v{}", t % VOLUMES);
    // Every fourth task shares one ID per volume, as `docker cp` shares a
    // running container's ID; the others use their own.
    let id = |t: usize| {
        if t % 4 == 0 {
            format!("shared-{}", vol(t))
        } else {
            hex_id(t as u64)
        }
    };

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (h, barrier) = (Arc::clone(&h), Arc::clone(&barrier));
            let (name, id) = (vol(t), id(t));
            tokio::spawn(async move {
                // Everyone creates their volume (implicit create, like `docker run -v`),
                // and one more that all of them race for.
                h.ok("Create", json!({"Name": name, "Opts": null})).await;
                h.ok("Create", json!({"Name": "raced", "Opts": {"mode": "700"}}))
                    .await;
                // The `docker run` lifecycle, many times, then one mount held.
                let body = json!({"Name": name, "ID": id});
                for _ in 0..10 {
                    h.ok("Get", json!({"Name": name})).await;
                    h.ok("Mount", body.clone()).await;
                    h.ok("Get", json!({"Name": name})).await;
                    h.ok("Unmount", body.clone()).await;
                }
                h.ok("Mount", body.clone()).await;
                barrier.wait().await; // all held
                barrier.wait().await; // checked
                h.ok("Unmount", body).await;
            })
        })
        .collect();

    barrier.wait().await;
    for v in 0..VOLUMES {
        let name = format!("v{v}");
        let got = h.ok("Get", json!({"Name": name})).await;
        let mut mounts: Vec<String> =
            serde_json::from_value(got["Volume"]["Status"]["mounts"].clone()).unwrap();
        mounts.sort();
        let mut expected: Vec<String> = (0..TASKS).filter(|t| vol(*t) == name).map(id).collect();
        expected.sort();
        assert_eq!(mounts, expected, "{name}: one entry per held Mount");
    }
    barrier.wait().await;
    for t in tasks {
        t.await.unwrap();
    }

    let list = h.list().await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["raced", "v0", "v1", "v2", "v3"]);
    for v in list.as_array().unwrap() {
        assert_eq!(v["Status"]["mounts"], json!([]), "{v}");
    }
    let h = Arc::into_inner(h).unwrap().reopen();
    assert_eq!(h.list().await, list, "the journal agrees with memory");
}
