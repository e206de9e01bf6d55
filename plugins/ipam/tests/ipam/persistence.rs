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

mod reopen {
    //! For any sequence of calls with restarts in between, the reopened
    //! plugin holds exactly what the old one held: nothing answered is lost,
    //! nothing released comes back.
    use drydock_ipam::{Config, IpamPlugin};
    use drydock_sdk::wire::ipam::*;
    use drydock_sdk::IpamDriver;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Pool,
        Address(usize),
        Release(usize),
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => Just(Op::Pool),
            4 => (0..4usize).prop_map(Op::Address),
            3 => (0..16usize).prop_map(Op::Release),
            2 => Just(Op::Restart),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn restarts_lose_nothing_and_resurrect_nothing(ops in proptest::collection::vec(op(), 1..25)) {
            let dir = tempfile::tempdir().unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let open = || IpamPlugin::open(Config::new(dir.path())).unwrap();
                let mut p = open();
                let mut held: Vec<(String, String)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Pool => {
                            let _ = p
                                .request_pool(RequestPoolRequest {
                                    address_space: "drydock-local".into(),
                                    ..Default::default()
                                })
                                .await;
                        }
                        Op::Address(i) => {
                            let ids: Vec<String> = p.snapshot().pools().keys().cloned().collect();
                            if let Some(id) = ids.get(i % ids.len().max(1)) {
                                let r = p
                                    .request_address(RequestAddressRequest {
                                        pool_id: id.clone(),
                                        ..Default::default()
                                    })
                                    .await
                                    .unwrap();
                                let ip = r.address.split('/').next().unwrap().to_owned();
                                assert!(!held.contains(&(id.clone(), ip.clone())), "{ip} twice");
                                held.push((id.clone(), ip));
                            }
                        }
                        Op::Release(i) if !held.is_empty() => {
                            let (id, ip) = held.remove(i % held.len());
                            p.release_address(ReleaseAddressRequest { pool_id: id, address: ip })
                                .await
                                .unwrap();
                        }
                        Op::Release(_) => {}
                        Op::Restart => {
                            let before = p.snapshot();
                            drop(p);
                            p = open();
                            assert_eq!(p.snapshot(), before);
                        }
                    }
                }
                // Whatever was answered is exactly what is held.
                let mut expect: Vec<(String, String)> = held.clone();
                expect.sort();
                let snap = p.snapshot();
                let mut actual: Vec<(String, String)> = snap
                    .pools()
                    .iter()
                    .flat_map(|(id, pool)| {
                        pool.held.iter().map(move |v| {
                            let a = drydock_ipam::net::Addr { family: pool.cidr.family(), value: *v };
                            (id.clone(), a.to_string())
                        })
                    })
                    .collect();
                actual.sort();
                assert_eq!(actual, expect);
            });
        }
    }
}
