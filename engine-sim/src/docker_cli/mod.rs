//! The docker CLI (28.2, talking to a 20.10 daemon) as a client of the
//! Engine API: one parsed command line in, the requests the real CLI sends,
//! each through the same [`Router`] every client goes through, and the
//! CLI's output rendered from the answers (its tables, templates and error
//! texts, exit status).
//!
//! * [`command`] — a command line as the CLI parsed it, and its [`Outcome`].
//! * `containers`, `volumes`, `networks` — each command's requests (bodies
//!   and queries as recorded in tests/golden) and what it prints.
//! * [`format`] — the CLI's tabwriter, indented JSON and Go templates.
//!
//! Like the real CLI, every command starts with `HEAD /_ping`, loops over
//! several names, goes on after an error on one and fails at the end.

pub mod command;
mod containers;
pub mod format;
mod networks;
mod volumes;

use crate::api::{ApiRequest, ApiResponse, Router, API_VERSION};
use crate::daemon::{Engine, EngineError};
pub use command::*;
pub use containers::create_body;
use serde_json::{json, Value};

/// Runs one docker command against `engine`'s API, as the CLI would.
pub async fn docker(engine: &Engine, cmd: &DockerCommand) -> Outcome {
    DockerCli::new(engine).run(cmd).await
}

/// The docker CLI, connected to one daemon's API.
#[derive(Debug, Clone, Copy)]
pub struct DockerCli<'e> {
    api: Router<'e>,
}

impl<'e> DockerCli<'e> {
    /// A CLI talking to `engine`'s API in-process.
    pub fn new(engine: &'e Engine) -> Self {
        DockerCli {
            api: Router::new(engine),
        }
    }

    /// Runs one command: its outcome, as the CLI would report it.
    pub async fn run(&self, cmd: &DockerCommand) -> Outcome {
        if let Err(e) = self.send(ApiRequest::ping()).await {
            return Outcome::failed(e.message);
        }
        match cmd {
            DockerCommand::Volume(v) => self.volume(v).await,
            DockerCommand::Network(n) => self.network(n).await,
            DockerCommand::Version { format } => {
                match self.send(ApiRequest::get("/version")).await {
                    Ok(_) => Outcome::ok(version_text(format.as_deref())),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            other => self.container(other).await,
        }
    }

    /// One request through the API, start to end.
    async fn send(&self, req: ApiRequest) -> Result<ApiResponse, EngineError> {
        self.api.handle(req).await
    }

    /// Runs `f` for every name like the CLI: outputs joined by newlines,
    /// errors collected and reported together.
    async fn each<F, Fut>(&self, names: &[String], f: F) -> Outcome
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<String, EngineError>>,
    {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for n in names {
            match f(n.clone()).await {
                Ok(line) => out.push(line),
                Err(e) => errors.push(e.message),
            }
        }
        Outcome {
            error: (!errors.is_empty()).then(|| errors.join("\n")),
            stdout: out.join("\n"),
        }
    }
}

/// A string field of a JSON answer.
fn field<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The JSON body of an answer (`null` when there is none).
fn body(resp: &ApiResponse) -> &Value {
    resp.json_body().unwrap_or(&Value::Null)
}

/// The `filters` query as the CLI encodes it: `{"key":{"value":true}}`, keys
/// sorted as Go encodes maps.
fn filters_query(filters: &[KeyValue]) -> String {
    if filters.is_empty() {
        return String::new();
    }
    let mut map: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, bool>> =
        std::collections::BTreeMap::new();
    for f in filters {
        map.entry(f.key.as_str())
            .or_default()
            .insert(f.value.as_str(), true);
    }
    crate::api::query(&[("filters", json!(map).to_string())])
}

/// What `docker version` prints (the client half is the CLI's own).
fn version_text(format: Option<&str>) -> String {
    use crate::api::{MIN_API_VERSION, SERVER_VERSION};
    let v = json!({
        "Client": {"Version": "28.2.2", "ApiVersion": API_VERSION},
        "Server": {"Version": SERVER_VERSION, "ApiVersion": API_VERSION,
                    "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": "amd64",
                    "GoVersion": "go1.19.8"},
    });
    match format {
        Some(f) => format::go_template(f, &v),
        None => format!(
            "Server: drydock engine-sim (simulating Docker Engine {SERVER_VERSION})\n Engine:\n  Version:          {SERVER_VERSION}\n  API version:      {API_VERSION} (minimum version {MIN_API_VERSION})\n  Go version:       go1.19.8"
        ),
    }
}
