//! The authz middleware around every Engine API request, driven by the
//! docker CLI model and by raw requests (protocol.md §5).

use drydock_engine::api::{ApiRequest, Router};
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::docker_cli::docker;
use drydock_engine::scenario::{parse, DockerCommand, StepKind};
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::{AuthzPlugin, Plugin, PluginError};
use std::sync::{Arc, Mutex};

/// A test plugin: answers with `verdict(phase, uri)` and remembers what it saw.
struct Probe<F> {
    verdict: F,
    seen: Arc<Mutex<Vec<(&'static str, AuthzRequest)>>>,
}

type Seen = Arc<Mutex<Vec<(&'static str, AuthzRequest)>>>;

impl<F> AuthzPlugin for Probe<F>
where
    F: Fn(&str, &str) -> Result<AuthzResponse, PluginError> + Send + Sync + 'static,
{
    async fn authz_req(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        let answer = (self.verdict)("req", &req.request_uri);
        self.seen.lock().unwrap().push(("req", req));
        answer
    }
    async fn authz_res(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        let answer = (self.verdict)("res", &req.request_uri);
        self.seen.lock().unwrap().push(("res", req));
        answer
    }
}

fn engine() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(EngineConfig::in_dir(dir.path(), 7));
    (engine, dir)
}

fn probe(
    engine: &Engine,
    name: &str,
    verdict: impl Fn(&str, &str) -> Result<AuthzResponse, PluginError> + Send + Sync + 'static,
) -> Seen {
    let seen: Seen = Arc::default();
    let plugin = Probe {
        verdict,
        seen: seen.clone(),
    };
    engine
        .registry()
        .register_in_process(name, Plugin::new().authz(plugin));
    seen
}

fn allow(_: &str, _: &str) -> Result<AuthzResponse, PluginError> {
    Ok(AuthzResponse::allow())
}

fn cmd(line: &str) -> DockerCommand {
    let s = parse("t", format!("{line}\n").as_bytes()).unwrap();
    match &s.steps[0].kind {
        StepKind::Action(a) => a.command.clone(),
        other => panic!("{other:?}"),
    }
}

fn uris(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(p, r)| format!("{p} {} {}", r.request_method, r.request_uri))
        .collect()
}

#[tokio::test]
async fn without_a_chain_no_plugin_hears_of_the_api() {
    let (engine, _d) = engine();
    let seen = probe(&engine, "p", allow);
    assert_eq!(docker(&engine, &cmd("docker ps")).await.error, None);
    assert!(seen.lock().unwrap().is_empty());
    assert!(engine.trace().is_empty());
}

#[tokio::test]
async fn the_chain_runs_in_order_and_stops_at_the_first_denial() {
    let (engine, _d) = engine();
    let a = probe(&engine, "a", allow);
    let b = probe(&engine, "b", |phase, uri| {
        if phase == "req" && uri.ends_with("/volumes/create") {
            Ok(AuthzResponse::deny("no volumes"))
        } else {
            Ok(AuthzResponse::allow())
        }
    });
    let c = probe(&engine, "c", allow);
    engine.set_authorization_plugins(vec!["a".into(), "b".into(), "a".into(), "c".into()]);
    let out = docker(&engine, &cmd("docker volume create v1")).await;
    assert_eq!(
        out.error.as_deref(),
        Some("authorization denied by plugin b: no volumes")
    );
    // `a` named twice is asked once per phase; `c` never hears of the create.
    assert_eq!(
        uris(&a),
        [
            "req HEAD /_ping",
            "res HEAD /_ping",
            "req POST /v1.41/volumes/create"
        ]
    );
    assert_eq!(uris(&c), ["req HEAD /_ping", "res HEAD /_ping"]);
    assert_eq!(uris(&b).len(), 3);
    // The handler never ran.
    assert_eq!(
        docker(&engine, &cmd("docker volume ls -q")).await.stdout,
        ""
    );
}

#[tokio::test]
async fn plugin_failures_fail_closed_and_in_band_errors_are_plain_denials() {
    let (engine, _d) = engine();
    probe(&engine, "p", |phase, uri| match (phase, uri) {
        ("req", u) if u.ends_with("/containers/json") => Err(PluginError::new("boom")),
        ("res", u) if u.ends_with("/volumes") => Ok(AuthzResponse {
            allow: false,
            msg: String::new(),
            err: "in band".into(),
        }),
        _ => Ok(AuthzResponse::allow()),
    });
    engine.set_authorization_plugins(vec!["p".into()]);
    let out = docker(&engine, &cmd("docker ps")).await;
    assert_eq!(
        out.error.as_deref(),
        Some("plugin p failed with error: AuthZPlugin.AuthZReq: boom")
    );
    let out = docker(&engine, &cmd("docker volume ls")).await;
    assert_eq!(
        out.error.as_deref(),
        Some("authorization denied by plugin p: ")
    );
}

#[tokio::test]
async fn a_handler_error_wins_over_a_response_denial() {
    let (engine, _d) = engine();
    let seen = probe(&engine, "p", |phase, _| {
        if phase == "res" {
            Ok(AuthzResponse::deny("no"))
        } else {
            Ok(AuthzResponse::allow())
        }
    });
    engine.set_authorization_plugins(vec!["p".into()]);
    let failed = Router::new(&engine)
        .handle(ApiRequest::get("/volumes/nosuch"))
        .await;
    assert_eq!(failed.unwrap_err().message, "get nosuch: no such volume");
    let seen = seen.lock().unwrap();
    let (_, res) = seen.last().unwrap();
    // dockerd writes the error after the middleware: no status in AuthZRes.
    assert_eq!(res.response_status_code, 0);
    assert!(res
        .response_headers
        .as_ref()
        .unwrap()
        .contains_key("Api-Version"));
}

#[tokio::test]
async fn a_missing_plugin_stops_the_daemon_from_starting() {
    let (engine, _d) = engine();
    engine.set_authorization_plugins(vec!["nosuch".into()]);
    let out = docker(&engine, &cmd("docker ps")).await;
    assert_eq!(
        out.error.as_deref(),
        Some("failed to validate authorization plugin: plugin \"nosuch\" not found")
    );
}

#[tokio::test]
async fn tls_users_and_bodies_reach_the_plugin_as_dockerd_sends_them() {
    let (engine, _d) = engine();
    let seen = probe(&engine, "p", allow);
    engine.set_authorization_plugins(vec!["p".into()]);
    engine.set_user(Some("alice".into()));
    docker(&engine, &cmd("docker volume create v1")).await;
    let all = seen.lock().unwrap().clone();
    let (_, create) = &all[2];
    assert_eq!(
        (create.user.as_str(), create.user_authn_method.as_str()),
        ("alice", "TLS")
    );
    assert_eq!(
        create.request_body.as_deref(),
        Some(&b"{\"Driver\":\"local\",\"Name\":\"v1\"}\n"[..])
    );
    let (_, created) = &all[3];
    assert_eq!(created.response_status_code, 201);
    assert!(created.response_body.is_some());
    // A body dockerd does not forward (Content-Length 0: the CVE-2024-41110
    // class) reaches the plugin as no body at all.
    let mut hidden = ApiRequest::post_json("/containers/create", &serde_json::json!({}));
    hidden.set_header("Content-Length", "0");
    let _ = Router::new(&engine).handle(hidden).await;
    let all = seen.lock().unwrap().clone();
    assert_eq!(all[all.len() - 2].1.request_body, None);
}
