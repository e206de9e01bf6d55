//! Group commit: concurrent changes share a save, each is answered only once
//! it is durable, and a failed save fails exactly the changes it carried and
//! rolls the plugin back to what the file holds.

use drydock_ipam::{Config, IpamPlugin, STATE_FILE};
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn call(p: &drydock_sdk::Plugin, method: &str, body: Value) -> (u16, Value) {
    let reply = p
        .handle(
            &format!("/IpamDriver.{method}"),
            serde_json::to_vec(&body).unwrap().into(),
        )
        .await;
    (
        reply.status.as_u16(),
        serde_json::from_slice(&reply.body).unwrap(),
    )
}

fn pool(cidr: &str) -> Value {
    json!({"AddressSpace": "drydock-local", "Pool": cidr, "SubPool": "", "Options": {}, "V6": false})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_get_distinct_addresses_that_all_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let p = IpamPlugin::open(Config::new(dir.path())).unwrap().plugin();
    let (status, _) = call(&p, "RequestPool", pool("10.9.0.0/16")).await;
    assert_eq!(status, 200);
    let id = "drydock-local/10.9.0.0/16";
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                let body = json!({"PoolID": id, "Address": "", "Options": null});
                let (status, v) = call(&p, "RequestAddress", body).await;
                assert_eq!(status, 200, "{v}");
                v["Address"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut got = BTreeSet::new();
    for t in tasks {
        assert!(got.insert(t.await.unwrap()), "an address handed out twice");
    }
    drop(p);
    // Every answered address is in the file.
    let reopened = IpamPlugin::open(Config::new(dir.path())).unwrap();
    let snapshot = reopened.snapshot();
    let held = &snapshot.pools()[id].held;
    assert_eq!(held.len(), got.len());
}

#[tokio::test]
async fn a_failed_save_fails_its_change_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = IpamPlugin::open(Config::new(dir.path())).unwrap().plugin();
    assert_eq!(call(&p, "RequestPool", pool("10.9.0.0/24")).await.0, 200);
    let before = std::fs::read(dir.path().join(STATE_FILE)).unwrap();
    // A directory where the temporary file goes: the next save fails.
    let tmp = dir.path().join(format!("{STATE_FILE}.tmp"));
    std::fs::create_dir(&tmp).unwrap();
    let (status, v) = call(&p, "RequestPool", pool("10.10.0.0/24")).await;
    assert_eq!(status, 500, "{v}");
    assert!(
        v["Err"]
            .as_str()
            .unwrap()
            .starts_with("cannot save IPAM state"),
        "{v}"
    );
    assert_eq!(std::fs::read(dir.path().join(STATE_FILE)).unwrap(), before);
    // Memory agrees with the file: the pool was not granted, so it is free.
    std::fs::remove_dir(&tmp).unwrap();
    let (status, v) = call(&p, "RequestPool", pool("10.10.0.0/24")).await;
    assert_eq!(
        (status, v["PoolID"].clone()),
        (200, json!("drydock-local/10.10.0.0/24"))
    );
}
