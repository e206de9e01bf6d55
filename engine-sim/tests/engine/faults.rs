//! The fault layer (engine-sim/src/plugins/fault.rs) under dockerd's client: which
//! requests a rule catches, what a crashed plugin looks like, and that a dead
//! plugin holds up only the calls made to it.

use super::util::Echo;
use bytes::Bytes;
use drydock_engine::clock::{Clock, TokioClock, VirtualClock};
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::plugins::client::{CallOptions, PluginClient};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::plugins::fault::{CallFault, FaultAction, FaultTransport, Faults, Scope};
use drydock_engine::plugins::transport::InProcess;
use drydock_engine::scenario::{parse, StepKind};
use drydock_engine::trace::Trace;
use std::sync::Arc;
use std::time::Duration;

fn client(clock: Arc<dyn Clock>, faults: &Faults, trace: &Trace) -> PluginClient {
    let plugin = drydock_sdk::Plugin::new().volume(Echo);
    let transport = FaultTransport::new("p", Arc::new(InProcess::new("p", plugin)), faults.clone());
    PluginClient::new("p", Arc::new(transport), clock, Some(trace.clone()))
}

fn rule(method: &str, action: FaultAction, scope: Scope) -> CallFault {
    CallFault {
        plugin: "p".into(),
        method: Some(method.into()),
        body_contains: None,
        action,
        scope,
    }
}

async fn get(c: &PluginClient, name: &str) -> Result<Bytes, String> {
    c.call_raw(
        "VolumeDriver.Get",
        Bytes::from(format!("{{\"Name\":\"{name}\"}}\n")),
        CallOptions::default(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// `times 2` catches exactly the next two requests of its method, and a
/// rule's text filter spares requests without the text.
#[tokio::test]
async fn a_rule_catches_the_requests_its_scope_and_filter_say() {
    let clock = VirtualClock::new();
    let faults = Faults::new(clock.clone());
    let trace = Trace::new();
    let c = client(clock.clone(), &faults, &trace);
    let boom = FaultAction::Reply {
        status: 500,
        body: Bytes::from_static(br#"{"Err":"boom"}"#),
    };
    faults.add(rule("VolumeDriver.Get", boom.clone(), Scope::Next(2)));
    let mut with_text = rule("VolumeDriver.Remove", boom, Scope::Always);
    with_text.body_contains = Some("victim".into());
    faults.add(with_text);
    let results = [get(&c, "a").await, get(&c, "b").await, get(&c, "c").await];
    assert_eq!(
        results,
        [
            Err("VolumeDriver.Get: boom".to_owned()),
            Err("VolumeDriver.Get: boom".to_owned()),
            Ok(Bytes::from_static(
                b"{\"Volume\":{\"Name\":\"c\",\"Mountpoint\":\"/m/c\"}}\n"
            )),
        ]
    );
    let remove = |name: &'static str| {
        c.call_raw(
            "VolumeDriver.Remove",
            Bytes::from(format!("{{\"Name\":\"{name}\"}}\n")),
            CallOptions::default(),
        )
    };
    assert!(remove("bystander").await.is_ok());
    assert_eq!(
        remove("victim").await.unwrap_err().to_string(),
        "VolumeDriver.Remove: boom"
    );
    assert!(remove("victim").await.is_err(), "`always` stays");
    faults.clear(Some("p"));
    assert!(remove("victim").await.is_ok(), "cleared");
}

/// A plugin that dies on a request and is back 2 s later: EOF, a refused
/// dial 1 s later, then the new process at +3 s with an empty body.
#[tokio::test]
async fn a_crash_is_an_eof_then_refused_dials_until_the_plugin_is_back() {
    let clock = VirtualClock::new();
    let faults = Faults::new(clock.clone());
    faults.set_dial_refused("p", "dial unix /run/p.sock: connect: connection refused");
    let trace = Trace::new();
    let c = client(clock.clone(), &faults, &trace);
    faults.add(rule(
        "VolumeDriver.Get",
        FaultAction::Crash(Some(Duration::from_secs(2))),
        Scope::Next(1),
    ));
    let r = get(&c, "a").await;
    // Echo's SDK refuses the empty body of the third attempt.
    assert!(r.unwrap_err().contains("empty request body"));
    let rec = &trace.drain()[0];
    assert_eq!((rec.attempts, rec.empty_body_retry), (3, true));
    assert_eq!(rec.clock_micros, 3_000_000);
    assert_eq!(clock.elapsed(), Duration::from_secs(3));
}

/// dockerd's plugin clients are independent: 15 s of retries against a
/// killed plugin do not delay a call to another plugin made meanwhile.
#[tokio::test(start_paused = true)]
async fn a_dead_plugin_does_not_hold_up_calls_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TokioClock::new();
    let engine = Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: dir.path().join("run"),
            spec_dirs: vec![dir.path().join("etc")],
        },
        clock: clock.clone(),
        seed: 1,
    });
    for name in ["dead", "live"] {
        engine
            .registry()
            .register_in_process(name, drydock_sdk::Plugin::new().volume(Echo));
    }
    let script = parse(
        "t.scenario",
        b"docker volume create -d dead v0\n\
          docker volume inspect v0\n\
          docker volume create -d live v1\n",
    )
    .unwrap();
    let cmd = |i: usize| match &script.steps[i].kind {
        StepKind::Action(a) => a.command.clone(),
        _ => unreachable!(),
    };
    assert_eq!(
        drydock_engine::docker_cli::docker(&engine, &cmd(0))
            .await
            .error,
        None
    );
    engine.registry().faults().refuse(
        "dead",
        None,
        "dial unix /run/dead.sock: connect: connection refused",
    );
    let start = clock.elapsed();
    let (inspect, create) = tokio::join!(
        async {
            let o = drydock_engine::docker_cli::docker(&engine, &cmd(1)).await;
            (o, clock.elapsed() - start)
        },
        async {
            let o = drydock_engine::docker_cli::docker(&engine, &cmd(2)).await;
            (o, clock.elapsed() - start)
        },
    );
    assert_eq!(create.0.error, None);
    assert_eq!(create.1, Duration::ZERO, "the live plugin answered at once");
    assert!(inspect
        .0
        .error
        .unwrap()
        .ends_with("dial unix /run/dead.sock: connect: connection refused"));
    assert_eq!(inspect.1, Duration::from_secs(15), "1+2+4+8 s of retries");
}
