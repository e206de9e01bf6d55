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

use super::{Engine, EngineError};
use crate::plugins::client::CallOptions;
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
pub(crate) enum Phase {
    /// `AuthZReq`, before the handler runs.
    Req,
    /// `AuthZRes`, after it returned.
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

    /// The client's TLS identity, as requests to the chain carry it.
    pub(crate) fn authz_user(&self) -> Option<String> {
        self.authz.user.lock().expect("authz lock").clone()
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

    /// One call of the chain: `msg` to each plugin in order, stopping at the
    /// first denial (403) or failure (500, fail closed).
    pub(crate) async fn run_chain(
        &self,
        phase: Phase,
        msg: &AuthzRequest,
    ) -> Result<(), EngineError> {
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
