//! The authorization chain as dockerd 20.10 runs it (protocol.md §5).
//!
//! * Configuration (`--authorization-plugin`, in order) takes effect when the
//!   daemon starts: every name is looked up as an `authz` plugin, which
//!   activates it; a failure aborts the start.
//! * Duplicate names are called once (the first occurrence keeps its place).
//! * Per API request: `AuthZReq` to each plugin in order, stopping at the first
//!   denial or error; after the handler, `AuthZRes` to each in order.
//! * A denial is HTTP 403 `authorization denied by plugin NAME: MSG`; any RPC
//!   failure is 500 `plugin NAME failed with error: ERR` — fail closed. An
//!   `Err` inside a 200 answer is only a denial (its text is not shown).

use super::api::{ApiRequest, ApiResponse};
use super::{Engine, EngineError};
use crate::client::CallOptions;
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::Protocol;
use std::sync::Mutex;

/// The chain's configuration and its state in the running daemon.
#[derive(Debug, Default)]
pub(crate) struct AuthzState {
    /// `--authorization-plugin` names as configured (duplicates kept).
    configured: Mutex<Vec<String>>,
    /// The live chain, de-duplicated; `None` until the daemon has started.
    chain: Mutex<Option<Vec<String>>>,
    /// The client's TLS identity (certificate CN), if any.
    user: Mutex<Option<String>>,
}

/// The two calls of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Req,
    Res,
}

impl Phase {
    fn method(self) -> &'static str {
        match self {
            Phase::Req => "AuthZPlugin.AuthZReq",
            Phase::Res => "AuthZPlugin.AuthZRes",
        }
    }
}

impl Engine {
    /// Configures the authz chain (`dockerd --authorization-plugin`, in order).
    /// It takes effect at the daemon's next start: its first request, or
    /// [`Engine::restart_daemon`].
    pub fn set_authorization_plugins(&self, names: Vec<String>) {
        *self.authz.configured.lock().expect("authz lock") = names;
    }

    /// The client's TLS identity: requests carry `User` = the certificate's
    /// common name and `UserAuthNMethod` = `TLS`; `None` for a client without one.
    pub fn set_user(&self, user: Option<String>) {
        *self.authz.user.lock().expect("authz lock") = user;
    }

    /// The live chain (empty before the daemon started or without plugins).
    pub fn authorization_chain(&self) -> Vec<String> {
        self.authz
            .chain
            .lock()
            .expect("authz lock")
            .clone()
            .unwrap_or_default()
    }

    /// Daemon start-up: validates (activates) every configured authz plugin,
    /// as dockerd does before serving; a failure means the daemon does not start.
    pub(crate) async fn start_authz(&self) -> Result<(), EngineError> {
        let configured = self.authz.configured.lock().expect("authz lock").clone();
        let mut chain: Vec<String> = Vec::new();
        for name in configured {
            if !chain.contains(&name) {
                chain.push(name);
            }
        }
        for name in &chain {
            if let Err(e) = self.registry.get(name, Protocol::Authz).await {
                return Err(EngineError::system(format!(
                    "failed to validate authorization plugin: {e}"
                )));
            }
        }
        *self.authz.chain.lock().expect("authz lock") = Some(chain);
        Ok(())
    }

    /// Marks the daemon stopped: the chain is rebuilt at the next start.
    pub(crate) fn stop_authz(&self) {
        *self.authz.chain.lock().expect("authz lock") = None;
    }

    /// Starts the daemon's authz chain if it has not started yet.
    pub(crate) async fn ensure_started(&self) -> Result<(), EngineError> {
        if self.authz.chain.lock().expect("authz lock").is_some() {
            return Ok(());
        }
        self.start_authz().await
    }

    fn authz_message(&self, req: &ApiRequest) -> AuthzRequest {
        let user = self.authz.user.lock().expect("authz lock").clone();
        AuthzRequest {
            user_authn_method: if user.is_some() {
                "TLS".into()
            } else {
                String::new()
            },
            user: user.unwrap_or_default(),
            request_method: req.method.to_owned(),
            request_uri: req.uri.clone(),
            request_body: req.authz_body(),
            request_headers: Some(req.headers()),
            ..Default::default()
        }
    }

    /// `AuthZReq` through the chain, before the handler runs.
    pub(crate) async fn authz_request(&self, req: &ApiRequest) -> Result<(), EngineError> {
        let msg = self.authz_message(req);
        self.run_chain(Phase::Req, &msg).await
    }

    /// `AuthZRes` through the chain, after the handler produced `resp`.
    pub(crate) async fn authz_response(
        &self,
        req: &ApiRequest,
        resp: &ApiResponse,
    ) -> Result<(), EngineError> {
        let mut msg = self.authz_message(req);
        msg.response_status_code = resp.status.map(i64::from).unwrap_or(0);
        msg.response_headers = resp.headers();
        msg.response_body = resp.authz_body();
        self.run_chain(Phase::Res, &msg).await
    }

    /// Whether any authz plugin is live (requests then go through the chain).
    pub(crate) fn authz_active(&self) -> bool {
        self.authz
            .chain
            .lock()
            .expect("authz lock")
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    }

    async fn run_chain(&self, phase: Phase, msg: &AuthzRequest) -> Result<(), EngineError> {
        for name in self.authorization_chain() {
            let failed = |text: String| {
                EngineError::system(format!("plugin {name} failed with error: {text}"))
            };
            let handle = self
                .registry
                .get(&name, Protocol::Authz)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let answer: AuthzResponse = handle
                .client
                .call(phase.method(), Some(msg), CallOptions::default())
                .await
                .map_err(|e| failed(e.to_string()))?;
            if !answer.allow {
                return Err(EngineError::forbidden(format!(
                    "authorization denied by plugin {name}: {}",
                    answer.msg
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::api::{ApiRequest, ApiResponse};
    use super::super::{Engine, EngineConfig, EngineError};
    use crate::clock::VirtualClock;
    use crate::discovery::PluginRoots;
    use crate::scenario::{parse, DockerCommand, StepKind};
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
        let engine = Engine::new(EngineConfig {
            roots: PluginRoots {
                sockets_dir: dir.path().join("run"),
                spec_dirs: vec![dir.path().join("etc")],
            },
            clock: VirtualClock::new(),
            seed: 7,
        });
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
        assert_eq!(engine.docker(&cmd("docker ps")).await.error, None);
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
        let out = engine.docker(&cmd("docker volume create v1")).await;
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
        assert_eq!(engine.docker(&cmd("docker volume ls -q")).await.stdout, "");
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
        let out = engine.docker(&cmd("docker ps")).await;
        assert_eq!(
            out.error.as_deref(),
            Some("plugin p failed with error: AuthZPlugin.AuthZReq: boom")
        );
        let out = engine.docker(&cmd("docker volume ls")).await;
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
        engine.ensure_started().await.unwrap();
        let failed = engine
            .api(ApiRequest::get("/volumes/nosuch"), || async {
                Err::<((), ApiResponse), _>(EngineError::not_found("get nosuch: no such volume"))
            })
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
        let out = engine.docker(&cmd("docker ps")).await;
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
        engine.docker(&cmd("docker volume create v1")).await;
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
        engine
            .api(hidden, || async { Ok(((), ApiResponse::empty(204))) })
            .await
            .unwrap();
        let all = seen.lock().unwrap().clone();
        assert_eq!(all[all.len() - 2].1.request_body, None);
    }
}
