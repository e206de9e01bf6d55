//! The state survives a restart: nothing held is handed out twice and
//! nothing released stays held. Every call goes through the plugin's RPC path.

use bytes_free::call;
use drydock_ipam::{Config, IpamPlugin, STATE_FILE};
use serde_json::{json, Value};

mod bytes_free {
    //! Calls the plugin the way dockerd does, through `Plugin::handle`.
    use serde_json::Value;

    pub async fn call(p: &drydock_sdk::Plugin, method: &str, body: Value) -> Value {
        let reply = p
            .handle(
                &format!("/IpamDriver.{method}"),
                serde_json::to_vec(&body).unwrap().into(),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 200, "{method}");
        serde_json::from_slice(&reply.body).unwrap()
    }
}

#[tokio::test]
async fn held_and_released_addresses_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = || IpamPlugin::open(Config::new(dir.path())).unwrap().plugin();
    let p = open();
    let pool = call(
        &p,
        "RequestPool",
        json!({"AddressSpace": "drydock-local", "Pool": "", "SubPool": "", "Options": {}, "V6": false}),
    )
    .await;
    assert_eq!(pool["Pool"], "10.200.0.0/24");
    let id = pool["PoolID"].as_str().unwrap().to_owned();
    let req = |a: &str| json!({"PoolID": id, "Address": a, "Options": null});
    assert_eq!(
        call(&p, "RequestAddress", req("")).await["Address"],
        "10.200.0.1/24"
    );
    assert_eq!(
        call(&p, "RequestAddress", req("")).await["Address"],
        "10.200.0.2/24"
    );
    call(
        &p,
        "ReleaseAddress",
        json!({"PoolID": id, "Address": "10.200.0.1"}),
    )
    .await;
    assert!(dir.path().join(STATE_FILE).exists());
    drop(p);

    let p = open();
    // .1 was released before the restart: handed out again; .2 is still held.
    assert_eq!(
        call(&p, "RequestAddress", req("")).await["Address"],
        "10.200.0.1/24"
    );
    assert_eq!(
        call(&p, "RequestAddress", req("")).await["Address"],
        "10.200.0.3/24"
    );
    let taken: Value = call(&p, "RequestAddress", req("10.200.0.2")).await;
    assert_eq!(
        taken["Error"],
        "address 10.200.0.2 is already allocated in pool 10.200.0.0/24"
    );
    // The pool itself is still held: asking for it explicitly is refused.
    let again = call(
        &p,
        "RequestPool",
        json!({"AddressSpace": "drydock-local", "Pool": "10.200.0.0/24", "V6": false}),
    )
    .await;
    assert_eq!(
        again["Error"],
        "pool 10.200.0.0/24 overlaps pool 10.200.0.0/24 already allocated in address space drydock-local"
    );
    let unknown = call(
        &p,
        "ReleaseAddress",
        json!({"PoolID": "nope", "Address": "1.2.3.4"}),
    )
    .await;
    assert_eq!(unknown["Error"], "unknown pool ID \"nope\"");
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
    let err = IpamPlugin::open(Config::new(dir.path())).unwrap_err();
    assert!(err.to_string().contains("not an IPAM state file"), "{err}");
}
