//! The authz middleware around every handler, and the request log.
//!
//! An [`Exchange`] is one request in flight: [`Exchange::open`] logs it and
//! runs `AuthZReq` through the daemon's chain; [`Exchange::run`] runs its
//! handler; [`Exchange::close`] runs `AuthZRes` on what the handler left in
//! the buffer and logs the answer. Most requests do all three at once
//! ([`super::Router::handle`]); requests whose handler keeps running while
//! the client goes on (`attach`, `wait` inside `docker run`) are held open
//! by the client and closed when their stream ends.

use super::handlers;
use super::http::{ApiRequest, ApiResponse};
use super::router::Route;
use crate::daemon::authz::Phase;
use crate::daemon::{Engine, EngineError};
use drydock_sdk::wire::authz::AuthzRequest;

/// One request between its `AuthZReq` and its `AuthZRes`.
#[derive(Debug)]
pub struct Exchange<'e> {
    engine: &'e Engine,
    req: ApiRequest,
    route: Route,
    /// The request's entry in the engine's request log, when one is kept.
    logged: Option<u64>,
    /// The `AuthZReq` message, kept for `AuthZRes` (which adds the response
    /// to the same request fields, as dockerd's `authorization.Ctx` does).
    authz: Option<AuthzRequest>,
}

impl<'e> Exchange<'e> {
    /// The request reaches the middleware: logged, then `AuthZReq`. A denial
    /// or chain failure is the request's answer; the handler never runs.
    pub(crate) async fn open(
        engine: &'e Engine,
        req: ApiRequest,
        route: Route,
    ) -> Result<Exchange<'e>, EngineError> {
        let logged = engine.log_request(&req.method, &req.uri, req.body.as_deref());
        let mut authz = None;
        if engine.authz_active() {
            let msg = authz_message(engine, &req);
            if let Err(e) = engine.run_chain(Phase::Req, &msg).await {
                if let Some(id) = logged {
                    engine.log_response(id, Some(e.status()), Some(e.message.clone()));
                }
                return Err(e);
            }
            authz = Some(msg);
        }
        Ok(Exchange {
            engine,
            req,
            route,
            logged,
            authz,
        })
    }

    /// The request as the client sent it.
    pub fn request(&self) -> &ApiRequest {
        &self.req
    }

    /// Runs the handler.
    pub async fn run(&self) -> Result<ApiResponse, EngineError> {
        handlers::dispatch(self.engine, &self.route, &self.req).await
    }

    /// The handler returned `result`: `AuthZRes` on what it left in the
    /// buffer, then the answer the client gets. A handler error wins over
    /// whatever `AuthZRes` says (dockerd returns it before looking at the
    /// verdict).
    pub async fn close(
        self,
        result: Result<ApiResponse, EngineError>,
    ) -> Result<ApiResponse, EngineError> {
        let verdict = if self.engine.authz_active() {
            let failed = ApiResponse::failed();
            let seen = result.as_ref().unwrap_or(&failed);
            let mut msg = match self.authz {
                Some(msg) => msg,
                None => authz_message(self.engine, &self.req),
            };
            msg.response_status_code = seen.status.map(i64::from).unwrap_or(0);
            msg.response_headers = seen.headers();
            msg.response_body = seen.authz_body();
            self.engine.run_chain(Phase::Res, &msg).await
        } else {
            Ok(())
        };
        let answer = match (result, verdict) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(resp), Ok(())) => Ok(resp),
        };
        if let Some(id) = self.logged {
            match &answer {
                Ok(resp) => self.engine.log_response(id, resp.status, None),
                Err(e) => self
                    .engine
                    .log_response(id, Some(e.status()), Some(e.message.clone())),
            }
        }
        answer
    }

    /// Runs the handler and closes: the whole request.
    pub async fn finish(self) -> Result<ApiResponse, EngineError> {
        let result = self.run().await;
        self.close(result).await
    }

    /// The client hung up on a streaming request (`attach`, `wait`) before
    /// its handler produced anything more: the handler returns what it had
    /// written (the upgrade, the flushed headers), `AuthZRes` sees that.
    pub async fn hang_up(self) {
        let left = match self.route {
            Route::ContainerAttach { .. } => ApiResponse::hijacked(),
            _ => ApiResponse::flushed(serde_json::Value::Null),
        };
        let _ = self.close(Ok(left)).await;
    }
}

/// The request half of an authz message (dockerd's `authorization.Ctx`).
fn authz_message(engine: &Engine, req: &ApiRequest) -> AuthzRequest {
    let user = engine.authz_user();
    AuthzRequest {
        user_authn_method: if user.is_some() {
            "TLS".into()
        } else {
            String::new()
        },
        user: user.unwrap_or_default(),
        request_method: req.method.to_string(),
        request_uri: req.uri.clone(),
        request_body: req.authz_body(),
        request_headers: Some(req.headers()),
        ..Default::default()
    }
}
