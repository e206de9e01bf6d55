//! The docker CLI on top of the engine: one [`DockerCommand`] in, the
//! [`Outcome`] the CLI would show out (its stdout, or dockerd's error message).
//!
//! The engine methods are the daemon; this module is the client: it turns each
//! command into the Engine API requests docker 28.2 makes (bodies and queries
//! as recorded), runs each through [`Engine::api`] — the authz middleware —
//! with a handler doing that request's share of the daemon's work, loops over
//! several names as the CLI does, formats tables like the CLI's tabwriter, and
//! keeps going after an error on one name, failing the command at the end.

use super::api::{query, query_escape, ApiRequest, ApiResponse};
use super::containers::{
    ContainerSpec as EngineSpec, ContainerState, MountSpec, RestartPolicy as DaemonRestart,
};
use super::volumes::VolumeInfo;
use super::{Engine, EngineError, ErrorKind};
use crate::scenario::{
    ContainerSpec, CpCommand, CpDirection, DockerCommand, KeyValue, NetworkCommand, NetworkCreate,
    Outcome, RestartPolicy, VolumeCommand, VolumeSource,
};
use serde_json::{json, Value};

/// The server version the simulated daemon reports.
pub const SERVER_VERSION: &str = "20.10.24+dfsg1";
/// The Engine API version.
pub const API_VERSION: &str = "1.41";

impl Engine {
    /// Runs one docker command as the CLI would and reports its outcome.
    ///
    /// Each command is the CLI's sequence of Engine API requests (see
    /// [`super::api`]): `HEAD /_ping` first, then the command's requests, each
    /// through the daemon's authz chain around the handler doing the work.
    pub async fn docker(&self, cmd: &DockerCommand) -> Outcome {
        // The daemon starts (validating its authz plugins) before it serves.
        if let Err(e) = self.ensure_started().await {
            return Outcome::failed(e.message);
        }
        if let Err(e) = self.ping().await {
            return Outcome::failed(e.message);
        }
        match cmd {
            DockerCommand::Volume(v) => self.docker_volume(v).await,
            DockerCommand::Create(spec) => match self.api_create(spec, true).await {
                Ok(id) => Outcome::ok(id),
                Err(e) => Outcome::failed(e.message),
            },
            DockerCommand::Run { spec, detach } => match self.api_run(spec, *detach).await {
                Ok((id, _)) if *detach => Outcome::ok(id),
                Ok((_, 0)) => Outcome::ok(""),
                Ok((_, code)) => Outcome::failed(format!("container exited with status {code}")),
                Err(e) => Outcome::failed(e.message),
            },
            DockerCommand::Start { containers } => {
                self.each(containers, |c| async move {
                    self.api_start(&c).await.map(|()| c)
                })
                .await
            }
            DockerCommand::Stop { time, containers } => {
                self.each(containers, |c| async move {
                    let q = time_query(*time);
                    let req = ApiRequest::post(&format!("/containers/{c}/stop{q}"));
                    self.api(req, || async {
                        let running =
                            self.container_state(&c).ok() == Some(ContainerState::Running);
                        self.container_stop(&c, 143).await?;
                        Ok(((), ApiResponse::empty(if running { 204 } else { 304 })))
                    })
                    .await
                    .map(|()| c)
                })
                .await
            }
            DockerCommand::Kill { containers } => {
                self.each(containers, |c| async move {
                    let req = ApiRequest::post(&format!("/containers/{c}/kill"));
                    self.api(req, || async {
                        self.container_kill(&c).await?;
                        Ok(((), ApiResponse::empty(204)))
                    })
                    .await
                    .map(|()| c)
                })
                .await
            }
            DockerCommand::Restart { time, containers } => {
                self.each(containers, |c| async move {
                    let q = time_query(*time);
                    let req = ApiRequest::post(&format!("/containers/{c}/restart{q}"));
                    self.api(req, || async {
                        self.container_restart(&c).await?;
                        Ok(((), ApiResponse::empty(204)))
                    })
                    .await
                    .map(|()| c)
                })
                .await
            }
            DockerCommand::Wait { containers } => {
                self.each(containers, |c| async move {
                    let req = ApiRequest::post(&format!("/containers/{c}/wait"));
                    // The handler flushes its headers before waiting: AuthZRes
                    // sees nothing of the response.
                    self.api(req, || async {
                        let code = self.container_wait(&c).await?;
                        Ok((code.to_string(), ApiResponse::flushed()))
                    })
                    .await
                })
                .await
            }
            DockerCommand::Rm {
                force,
                volumes,
                containers,
            } => {
                self.each(containers, |c| async move {
                    let mut q = Vec::new();
                    if *force {
                        q.push(("force", "1".to_owned()));
                    }
                    if *volumes {
                        q.push(("v", "1".to_owned()));
                    }
                    let req = ApiRequest::delete(&format!("/containers/{c}{}", query(&q)));
                    let result = self
                        .api(req, || async {
                            self.container_rm(&c, *force, *volumes).await?;
                            Ok(((), ApiResponse::empty(204)))
                        })
                        .await;
                    match result {
                        Ok(()) => Ok(c),
                        // `rm -f` of a missing container prints the daemon's
                        // error but exits 0 (recorded: tests/golden/v-in-use.jsonl).
                        Err(e) if *force && e.kind == ErrorKind::NotFound => Ok(String::new()),
                        Err(e) => Err(e),
                    }
                })
                .await
            }
            DockerCommand::Cp(cp) => match self.api_cp(cp).await {
                Ok(()) => Outcome::ok(""),
                Err(e) => Outcome::failed(e.message),
            },
            DockerCommand::Ps { all, quiet } => {
                let req = ApiRequest::get(if *all {
                    "/containers/json?all=1"
                } else {
                    "/containers/json"
                });
                let result = self
                    .api(req, || async {
                        let body = self.ps_json(*all);
                        Ok(((), ApiResponse::json(200, body)))
                    })
                    .await;
                match result {
                    Ok(()) => Outcome::ok(self.ps_text(*all, *quiet)),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            DockerCommand::Version { format } => {
                let result = self
                    .api(ApiRequest::get("/version"), || async {
                        Ok(((), ApiResponse::json(200, version_json())))
                    })
                    .await;
                match result {
                    Ok(()) => Outcome::ok(version_text(format.as_deref())),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            DockerCommand::Network(n) => self.network_api(n).await,
        }
    }

    /// `docker network …` as the CLI's API requests, each handler doing its
    /// part through the network layer's [`Engine::docker_network`].
    async fn network_api(&self, cmd: &NetworkCommand) -> Outcome {
        // The network layer's outcome as a handler result.
        let run = |cmd: NetworkCommand| async move {
            let out = self.docker_network(&cmd).await;
            match out.error {
                Some(message) => Err(EngineError::system(message)),
                None => Ok(out.stdout),
            }
        };
        // A network as the API shows it: the layer's inspect output.
        let inspect = |name: String| async move {
            let text = self
                .docker_network(&NetworkCommand::Inspect {
                    format: None,
                    names: vec![name],
                })
                .await
                .stdout;
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get(0).cloned())
                .unwrap_or(Value::Null)
        };
        match cmd {
            NetworkCommand::Create(spec) => {
                let req = ApiRequest::post_json_if("/networks/create", self.authz_active(), || {
                    network_create_body(spec)
                });
                let result = self
                    .api(req, || async {
                        let id = run(cmd.clone()).await?;
                        let body = json!({"Id": id, "Warning": ""});
                        Ok((id, ApiResponse::json(201, body)))
                    })
                    .await;
                match result {
                    Ok(id) => Outcome::ok(id),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            NetworkCommand::Ls { filters, .. } => {
                let req = ApiRequest::get(&format!("/networks{}", filters_query(filters)));
                let result = self
                    .api(req, || async {
                        let out = run(cmd.clone()).await?;
                        let body = if self.authz_active() {
                            let ids = run(NetworkCommand::Ls {
                                quiet: true,
                                filters: filters.clone(),
                            })
                            .await?;
                            let mut list = Vec::new();
                            for id in ids.lines().filter(|l| !l.is_empty()) {
                                list.push(inspect(id.to_owned()).await);
                            }
                            Value::Array(list)
                        } else {
                            Value::Null
                        };
                        Ok((out, ApiResponse::json(200, body)))
                    })
                    .await;
                match result {
                    Ok(out) => Outcome::ok(out),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            NetworkCommand::Inspect { format, names } => {
                let mut out = Vec::new();
                let mut errors = Vec::new();
                for n in names {
                    let one = NetworkCommand::Inspect {
                        format: format.clone(),
                        names: vec![n.clone()],
                    };
                    let result = self
                        .api(ApiRequest::get(&format!("/networks/{n}")), || async {
                            let text = run(one).await?;
                            let body = inspect(n.clone()).await;
                            Ok((text, ApiResponse::json(200, body)))
                        })
                        .await;
                    match result {
                        Ok(text) => out.push(text),
                        Err(e) => errors.push(e.message),
                    }
                }
                // One JSON array for all names, as the CLI prints it.
                let stdout = if format.is_some() {
                    out.join(
                        "
",
                    )
                } else {
                    let items: Vec<Value> = out
                        .iter()
                        .filter_map(|t| serde_json::from_str::<Vec<Value>>(t).ok())
                        .flatten()
                        .collect();
                    if items.is_empty() {
                        "[]".into()
                    } else {
                        indent4(&Value::Array(items))
                    }
                };
                Outcome {
                    error: (!errors.is_empty()).then(|| errors.join("\n")),
                    stdout,
                }
            }
            NetworkCommand::Rm { names } => {
                // The CLI looks each network up (to warn about ingress networks;
                // a failed lookup is ignored), then deletes it.
                self.each(names, |n| async move {
                    let _ = self
                        .api(ApiRequest::get(&format!("/networks/{n}")), || async {
                            let body = inspect(n.clone()).await;
                            if body.is_null() {
                                return Err(EngineError::not_found(format!(
                                    "network {n} not found"
                                )));
                            }
                            Ok(((), ApiResponse::json(200, body)))
                        })
                        .await;
                    self.api(ApiRequest::delete(&format!("/networks/{n}")), || async {
                        run(NetworkCommand::Rm {
                            names: vec![n.clone()],
                        })
                        .await?;
                        Ok(((), ApiResponse::empty(204)))
                    })
                    .await
                    .map(|()| n)
                })
                .await
            }
            NetworkCommand::Connect {
                ip,
                network,
                container,
            } => {
                let body = json!({
                    "Container": container,
                    "EndpointConfig": {
                        "IPAMConfig": match ip { Some(ip) => json!({"IPv4Address": ip}), None => json!({}) },
                        "Links": null, "Aliases": [], "MacAddress": "", "DriverOpts": {},
                        "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "",
                        "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
                    },
                });
                let req = ApiRequest::post_json(&format!("/networks/{network}/connect"), &body);
                self.network_action(req, run(cmd.clone())).await
            }
            NetworkCommand::Disconnect {
                force,
                network,
                container,
            } => {
                let body = json!({"Container": container, "Force": force});
                let req = ApiRequest::post_json(&format!("/networks/{network}/disconnect"), &body);
                self.network_action(req, run(cmd.clone())).await
            }
        }
    }

    /// connect/disconnect: the handler writes no status (recorded: a-allow-network.jsonl).
    async fn network_action(
        &self,
        req: ApiRequest,
        work: impl std::future::Future<Output = Result<String, EngineError>>,
    ) -> Outcome {
        let result = self
            .api(req, || async {
                Ok((work.await?, ApiResponse::unwritten()))
            })
            .await;
        match result {
            Ok(out) => Outcome::ok(out),
            Err(e) => Outcome::failed(e.message),
        }
    }

    /// `POST /containers/create[?name=N]` with the CLI's config. `attach`:
    /// whether the CLI will attach to stdout/stderr (not with `-d`).
    async fn api_create(&self, spec: &ContainerSpec, attach: bool) -> Result<String, EngineError> {
        let q = query(
            &spec
                .name
                .iter()
                .map(|n| ("name", n.clone()))
                .collect::<Vec<_>>(),
        );
        let req = ApiRequest::post_json_if(
            &["/containers/create", q.as_str()].concat(),
            self.authz_active(),
            || create_body(spec, attach),
        );
        self.api(req, || async {
            let id = self.container_create(engine_spec(spec)).await?;
            let body = json!({"Id": id, "Warnings": []});
            Ok((id, ApiResponse::json(201, body)))
        })
        .await
    }

    /// `POST /containers/{c}/start`; starting a running container is 304.
    async fn api_start(&self, c: &str) -> Result<(), EngineError> {
        let req = ApiRequest::post(&["/containers/", c, "/start"].concat());
        self.api(req, || async {
            let running = self.container_state(c).ok() == Some(ContainerState::Running);
            self.container_start(c).await?;
            Ok(((), ApiResponse::empty(if running { 304 } else { 204 })))
        })
        .await
    }

    /// `docker run`: create; unless detached, attach; wait (the CLI opens it
    /// before start so it cannot miss the exit); start. The attach and wait
    /// requests stay open while the container runs: their AuthZRes come after
    /// it finished (or, detached, once the CLI hangs up).
    async fn api_run(
        &self,
        spec: &ContainerSpec,
        detach: bool,
    ) -> Result<(String, i32), EngineError> {
        let id = self.api_create(spec, !detach).await?;
        // Paths by concatenation: these run for every `docker run`, where
        // format! machinery showed up in profiles.
        let attach = ApiRequest::post(
            &[
                "/containers/",
                id.as_str(),
                "/attach?stderr=1&stdout=1&stream=1",
            ]
            .concat(),
        )
        .header("Connection", "Upgrade")
        .header("Content-Type", "text/plain")
        .header("Upgrade", "tcp");
        if !detach {
            self.api_open(&attach).await?;
        }
        let condition = if spec.rm { "removed" } else { "next-exit" };
        let wait = ApiRequest::post(&["/containers/", &id, "/wait?condition=", condition].concat());
        self.api_open(&wait).await?;
        // The attach and wait requests end when the container is gone or the
        // CLI hangs up after an error; their verdicts can no longer matter.
        let hang_up = || async {
            if !detach {
                let _ = self.api_close(&attach, &ApiResponse::hijacked()).await;
            }
            let _ = self.api_close(&wait, &ApiResponse::flushed()).await;
        };
        let start = ApiRequest::post(&["/containers/", &id, "/start"].concat());
        if let Err(e) = self.api_open(&start).await {
            hang_up().await;
            return Err(e);
        }
        if let Err(e) = self.container_start(&id).await {
            if spec.rm {
                // A failed start of a --rm container still removes it, inside
                // the start request: attach and wait end before it answers
                // (recorded: i-ip-nosubnet.jsonl).
                let _ = self.container_rm(&id, true, true).await;
                hang_up().await;
                self.api_close_failed(&start, &e).await;
            } else {
                self.api_close_failed(&start, &e).await;
                hang_up().await;
            }
            return Err(e);
        }
        if let Err(e) = self.api_close(&start, &ApiResponse::empty(204)).await {
            hang_up().await;
            return Err(e);
        }
        if detach {
            self.api_close(&wait, &ApiResponse::flushed()).await?;
            return Ok((id, 0));
        }
        // The command runs to completion; the attach stream ends, then the
        // container is cleaned up and the wait answers.
        self.api_close(&attach, &ApiResponse::hijacked()).await?;
        let code = self.container_wait(&id).await?;
        self.api_close(&wait, &ApiResponse::flushed()).await?;
        Ok((id, code))
    }

    /// `docker cp`: the CLI's archive requests; each one mounts the
    /// container's volumes for the operation and unmounts them after.
    async fn api_cp(&self, cp: &CpCommand) -> Result<(), EngineError> {
        let c = &cp.container;
        let path = query_escape(&cp.container_path);
        // The archive handlers stream: no status is recorded. GET and HEAD
        // describe the path in a header (recorded: v-cp.jsonl).
        let stat = path_stat(&cp.container_path);
        let requests = match cp.direction {
            CpDirection::FromContainer => vec![(
                ApiRequest::get(&format!("/containers/{c}/archive?path={path}")),
                ApiResponse::streamed(Some("application/x-tar"), Some(&stat)),
            )],
            CpDirection::ToContainer => vec![
                (
                    ApiRequest::head(&format!("/containers/{c}/archive?path={path}")),
                    ApiResponse::streamed(None, Some(&stat)),
                ),
                (
                    // The CLI streams the tar (chunked) with this content type.
                    ApiRequest::new(
                        "PUT",
                        format!(
                            "/v{API_VERSION}/containers/{c}/archive?noOverwriteDirNonDir=true&path={path}"
                        ),
                    )
                    .header("Content-Type", "text/plain"),
                    ApiResponse::streamed(None, None),
                ),
            ],
        };
        for (req, resp) in requests {
            self.api(req, || async {
                self.container_cp(c, 1).await?;
                Ok(((), resp))
            })
            .await?;
        }
        Ok(())
    }

    /// Runs `f` for every name like the CLI: outputs joined by newlines, errors
    /// collected and reported together.
    async fn each<'a, F, Fut>(&'a self, names: &[String], f: F) -> Outcome
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<String, EngineError>> + 'a,
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

    async fn docker_volume(&self, cmd: &VolumeCommand) -> Outcome {
        match cmd {
            VolumeCommand::Create {
                name,
                driver,
                opts,
                labels,
            } => {
                let driver = driver.clone().unwrap_or_else(|| "local".into());
                let mut body = serde_json::Map::new();
                body.insert("Driver".into(), json!(driver));
                if !opts.is_empty() {
                    body.insert("DriverOpts".into(), json!(opts));
                }
                if !labels.is_empty() {
                    body.insert("Labels".into(), json!(labels));
                }
                if let Some(n) = name {
                    body.insert("Name".into(), json!(n));
                }
                let req = ApiRequest::post_json("/volumes/create", &Value::Object(body));
                let result = self
                    .api(req, || async {
                        let name = name.clone().unwrap_or_else(|| self.random_id());
                        // The CLI sends no DriverOpts map unless -o was given (recorded
                        // with a 20.10 daemon: `"Opts": null`).
                        let opts = (!opts.is_empty()).then(|| opts.clone());
                        let labels = (!labels.is_empty()).then(|| labels.clone());
                        let (v, _) = self
                            .volumes()
                            .create(&name, &driver, opts, labels, None)
                            .await?;
                        let mut body = volume_json(&v);
                        // dockerd answers a create before anyone asked the
                        // plugin for a path (recorded: v-conflict.jsonl).
                        if v.driver != "local" {
                            body["Mountpoint"] = json!("");
                        }
                        // An existing volume comes back without its driver's
                        // scope looked up; dockerd's default is local.
                        if v.scope.is_empty() {
                            body["Scope"] = json!("local");
                        }
                        if let Some(b) = body.as_object_mut() {
                            b.remove("Status");
                        }
                        Ok((v.name, ApiResponse::json(201, body)))
                    })
                    .await;
                match result {
                    Ok(name) => Outcome::ok(name),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            VolumeCommand::Ls { quiet, filters } => {
                let driver = filter_value(filters, "driver");
                let req = ApiRequest::get(&format!("/volumes{}", filters_query(filters)));
                let result = self
                    .api(req, || async {
                        let (mut vols, warnings) = self.volumes().list(driver.as_deref()).await?;
                        vols.retain(|v| self.volume_matches(v, filters));
                        vols.sort_by(|a, b| a.name.cmp(&b.name));
                        let body = json!({
                            "Volumes": vols.iter().map(volume_json).collect::<Vec<_>>(),
                            "Warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) },
                        });
                        Ok((vols, ApiResponse::json(200, body)))
                    })
                    .await;
                match result {
                    Ok(vols) => {
                        if *quiet {
                            return Outcome::ok(
                                vols.iter()
                                    .map(|v| v.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            );
                        }
                        let mut rows = vec![vec!["DRIVER".to_owned(), "VOLUME NAME".to_owned()]];
                        rows.extend(vols.into_iter().map(|v| vec![v.driver, v.name]));
                        Outcome::ok(tabwrite(&rows))
                    }
                    Err(e) => Outcome::failed(e.message),
                }
            }
            VolumeCommand::Inspect { format, names } => {
                let mut items = Vec::new();
                let mut errors = Vec::new();
                for n in names {
                    let result = self
                        .api(ApiRequest::get(&format!("/volumes/{n}")), || async {
                            let v = self.volumes().get(n, "", None).await?;
                            let body = volume_json(&v);
                            Ok((v, ApiResponse::json(200, body)))
                        })
                        .await;
                    match result {
                        Ok(v) => items.push(inspect_json(&v)),
                        Err(e) => errors.push(e.message),
                    }
                }
                inspect_outcome(items, errors, format.as_deref())
            }
            VolumeCommand::Rm { force, names } => {
                self.each(names, |n| async move {
                    let q = if *force { "?force=1" } else { "" };
                    self.api(ApiRequest::delete(&format!("/volumes/{n}{q}")), || async {
                        self.volumes().remove(&n, *force).await?;
                        Ok(((), ApiResponse::empty(204)))
                    })
                    .await
                    .map(|()| n)
                })
                .await
            }
            // The CLI refuses `-a` itself against API 1.41, after its ping
            // (recorded: v-prune-df.jsonl).
            VolumeCommand::Prune { all: true, .. } => Outcome::failed(format!(
                "\"--all\" requires API version 1.42, but the Docker daemon API version is {API_VERSION}"
            )),
            VolumeCommand::Prune { filters, .. } => {
                let req = ApiRequest::post(&format!("/volumes/prune{}", filters_query(filters)));
                let result = self
                    .api(req, || async {
                        // 20.10 prunes only unused `local` volumes; plugins see nothing
                        // but the scan/activation side effect of listing drivers.
                        let (vols, _) = self.volumes().list(Some("local")).await?;
                        let _ = self.volumes().all_drivers().await;
                        let mut removed = Vec::new();
                        for v in vols {
                            if self.volumes().refs(&v.name).is_empty()
                                && self.volumes().remove(&v.name, false).await.is_ok()
                            {
                                removed.push(v.name);
                            }
                        }
                        let body = json!({
                            "VolumesDeleted": if removed.is_empty() { Value::Null } else { json!(removed) },
                            "SpaceReclaimed": 0,
                        });
                        Ok((removed, ApiResponse::json(200, body)))
                    })
                    .await;
                match result {
                    Ok(removed) => {
                        let mut out = String::new();
                        if !removed.is_empty() {
                            out.push_str("Deleted Volumes:\n");
                            out.push_str(&removed.join("\n"));
                            out.push_str("\n\n");
                        }
                        out.push_str("Total reclaimed space: 0B");
                        Outcome::ok(out)
                    }
                    Err(e) => Outcome::failed(e.message),
                }
            }
        }
    }

    fn ps_json(&self, all: bool) -> Value {
        Value::Array(
            self.container_list(all)
                .into_iter()
                .map(|c| {
                    let (state, status) = match c.state {
                        ContainerState::Created => ("created", "Created".to_owned()),
                        ContainerState::Running => ("running", "Up".to_owned()),
                        ContainerState::Exited(code) => ("exited", format!("Exited ({code})")),
                    };
                    json!({
                        "Id": c.id,
                        "Names": [format!("/{}", c.name)],
                        "Image": c.image,
                        "Command": c.command,
                        "State": state,
                        "Status": status,
                    })
                })
                .collect(),
        )
    }

    fn ps_text(&self, all: bool, quiet: bool) -> String {
        let list = self.container_list(all);
        if quiet {
            return list
                .iter()
                .map(|c| c.id[..12].to_owned())
                .collect::<Vec<_>>()
                .join("\n");
        }
        let mut rows = vec![["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "NAMES"]
            .map(str::to_owned)
            .to_vec()];
        for c in list {
            let status = match c.state {
                ContainerState::Created => "Created".to_owned(),
                ContainerState::Running => "Up".to_owned(),
                ContainerState::Exited(code) => format!("Exited ({code})"),
            };
            rows.push(vec![
                c.id[..12].to_owned(),
                c.image,
                format!("\"{}\"", c.command),
                status,
                c.name,
            ]);
        }
        tabwrite(&rows)
    }
}

fn engine_spec(spec: &ContainerSpec) -> EngineSpec {
    EngineSpec {
        name: spec.name.clone(),
        image: spec.image.clone(),
        cmd: spec.command.clone(),
        mounts: spec
            .volumes
            .iter()
            .map(|m| match &m.source {
                // The CLI splits `-v` specs treating `X:` as a Windows drive
                // letter, so `-v v:/d` is an anonymous volume mounted at "v:/d"
                // (recorded with a 20.10 daemon: tests/golden/v-implicit.jsonl).
                VolumeSource::Named(n)
                    if n.len() == 1 && n.chars().all(|c| c.is_ascii_alphabetic()) =>
                {
                    MountSpec {
                        source: None,
                        target: format!("{n}:{}", m.target),
                        read_only: m.read_only,
                    }
                }
                source => MountSpec {
                    source: match source {
                        VolumeSource::Named(n) => Some(n.clone()),
                        VolumeSource::Anonymous => None,
                    },
                    target: m.target.clone(),
                    read_only: m.read_only,
                },
            })
            .collect(),
        volume_driver: spec.volume_driver.clone(),
        volumes_from: spec
            .volumes_from
            .iter()
            .map(|v| v.container.clone())
            .collect(),
        network: spec.network.clone(),
        ip: spec.ip.clone(),
        auto_remove: spec.rm,
        restart: spec.restart.map(|r| match r {
            RestartPolicy::No => DaemonRestart::No,
            RestartPolicy::Always => DaemonRestart::Always,
            RestartPolicy::UnlessStopped => DaemonRestart::UnlessStopped,
            RestartPolicy::OnFailure { max_retries } => DaemonRestart::OnFailure {
                max_retries: max_retries.unwrap_or(0),
            },
        }),
    }
}

/// The body of `POST /networks/create` as docker 28.2 sends it (recorded:
/// tests/golden/n-*.jsonl, i-*.jsonl). Gateways and ranges pair with subnets
/// in order; aux addresses go with the first subnet.
fn network_create_body(spec: &NetworkCreate) -> Value {
    let config: Vec<Value> = spec
        .subnets
        .iter()
        .enumerate()
        .map(|(i, subnet)| {
            let mut c = serde_json::Map::new();
            c.insert("Subnet".into(), json!(subnet));
            if let Some(r) = spec.ip_ranges.get(i) {
                c.insert("IPRange".into(), json!(r));
            }
            if let Some(g) = spec.gateways.get(i) {
                c.insert("Gateway".into(), json!(g));
            }
            if i == 0 && !spec.aux_addresses.is_empty() {
                c.insert("AuxiliaryAddresses".into(), json!(spec.aux_addresses));
            }
            Value::Object(c)
        })
        .collect();
    let mut body = serde_json::Map::new();
    body.insert(
        "Driver".into(),
        json!(spec.driver.clone().unwrap_or_else(|| "bridge".into())),
    );
    body.insert("Scope".into(), json!(""));
    if spec.ipv6 {
        body.insert("EnableIPv6".into(), json!(true));
    }
    body.insert(
        "IPAM".into(),
        json!({
            "Driver": spec.ipam_driver.clone().unwrap_or_else(|| "default".into()),
            "Options": spec.ipam_opts,
            "Config": config,
        }),
    );
    for (k, v) in [
        ("Internal", json!(false)),
        ("Attachable", json!(false)),
        ("Ingress", json!(false)),
        ("ConfigOnly", json!(false)),
        ("ConfigFrom", Value::Null),
        ("Options", json!(spec.opts)),
        ("Labels", json!({})),
        ("Name", json!(spec.name)),
        ("CheckDuplicate", json!(true)),
    ] {
        body.insert(k.into(), v);
    }
    Value::Object(body)
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
    query(&[("filters", json!(map).to_string())])
}

/// The volume as the API encodes it (`Status` omitted when empty). dockerd
/// 20.10 does not label anonymous volumes (`com.docker.volume.anonymous`
/// came with 23.0): its API shows their labels as null (v-anon-rmv.jsonl).
fn volume_json(v: &VolumeInfo) -> Value {
    let labels = v.labels.as_ref().and_then(|l| {
        let kept: std::collections::BTreeMap<&String, &String> = l
            .iter()
            .filter(|(k, _)| k.as_str() != "com.docker.volume.anonymous")
            .collect();
        (!kept.is_empty() || l.is_empty()).then(|| json!(kept))
    });
    let mut body = json!({
        "CreatedAt": v.created_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "Driver": v.driver,
        "Labels": labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": v.options,
        "Scope": v.scope,
    });
    if let Some(status) = &v.status {
        body["Status"] = json!(status);
    }
    body
}

/// The body of `POST /containers/create` as docker 28.2 sends it to API 1.41
/// (recorded: tests/golden/a-allow-containers.jsonl and the v-*.jsonl runs).
fn create_body(spec: &ContainerSpec, attach: bool) -> Value {
    let mut binds = Vec::new();
    let mut volumes = serde_json::Map::new();
    for m in &spec.volumes {
        match &m.source {
            // `-v X:/d` with a one-letter X reads as a Windows drive path: an
            // anonymous volume at "X:/d" (tests/golden/v-implicit.jsonl).
            VolumeSource::Named(n)
                if n.len() == 1 && n.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                volumes.insert(format!("{n}:{}", m.target), json!({}));
            }
            VolumeSource::Named(n) => binds.push(format!(
                "{n}:{}{}",
                m.target,
                if m.read_only { ":ro" } else { "" }
            )),
            VolumeSource::Anonymous => {
                volumes.insert(m.target.clone(), json!({}));
            }
        }
    }
    let restart = match spec.restart {
        None | Some(RestartPolicy::No) => json!({"Name": "no", "MaximumRetryCount": 0}),
        Some(RestartPolicy::Always) => json!({"Name": "always", "MaximumRetryCount": 0}),
        Some(RestartPolicy::UnlessStopped) => {
            json!({"Name": "unless-stopped", "MaximumRetryCount": 0})
        }
        Some(RestartPolicy::OnFailure { max_retries }) => {
            json!({"Name": "on-failure", "MaximumRetryCount": max_retries.unwrap_or(0)})
        }
    };
    let endpoint = |ip: Option<&String>| {
        json!({
            "IPAMConfig": ip.map(|ip| json!({"IPv4Address": ip})),
            "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
            "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "",
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DNSNames": null,
        })
    };
    let mut endpoints = serde_json::Map::new();
    match (&spec.network, &spec.ip) {
        (None, _) => {
            endpoints.insert("default".into(), endpoint(None));
        }
        (Some(n), Some(ip)) => {
            endpoints.insert(n.clone(), endpoint(Some(ip)));
        }
        (Some(_), None) => {}
    }
    // Built in parts: one literal of this size exceeds the json! macro's recursion limit.
    let mut host = json!({
        "Binds": if binds.is_empty() { Value::Null } else { json!(binds) },
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": spec.network.clone().unwrap_or_else(|| "default".into()),
        "PortBindings": {},
        "RestartPolicy": restart,
        "AutoRemove": spec.rm,
        "VolumeDriver": spec.volume_driver.clone().unwrap_or_default(),
        "VolumesFrom": if spec.volumes_from.is_empty() {
            Value::Null
        } else {
            json!(spec.volumes_from.iter().map(|v| v.container.clone()).collect::<Vec<_>>())
        },
        "ConsoleSize": [0, 0],
        "CapAdd": null, "CapDrop": null, "CgroupnsMode": "",
        "Dns": [], "DnsOptions": [], "DnsSearch": [],
        "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "", "Links": null,
        "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
        "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "", "UsernsMode": "",
    });
    let rest = json!({
        "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "",
        "CpusetMems": "", "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null,
        "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1,
        "OomKillDisable": false, "PidsLimit": 0, "Ulimits": [], "CpuCount": 0,
        "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": null, "ReadonlyPaths": null,
    });
    if let (Some(h), Value::Object(r)) = (host.as_object_mut(), rest) {
        h.extend(r);
    }
    json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": attach, "AttachStderr": attach,
        "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
        "Cmd": spec.command,
        "Image": spec.image,
        "Volumes": volumes,
        "WorkingDir": spec.workdir.clone().unwrap_or_default(),
        "Entrypoint": null, "OnBuild": null, "Labels": {},
        "HostConfig": host,
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    })
}

/// The `X-Docker-Container-Path-Stat` header: base64 JSON describing the
/// path (the simulated container has no files: it reports a directory).
fn path_stat(path: &str) -> String {
    use base64::Engine as _;
    let trimmed = path.trim_end_matches('/');
    let name = match trimmed.rsplit('/').next() {
        Some("") | None => "/",
        Some(n) => n,
    };
    let stat = json!({
        "name": name, "size": 4096, "mode": 2147484141u32,
        "mtime": "2026-01-01T00:00:00Z", "linkTarget": "",
    });
    base64::engine::general_purpose::STANDARD.encode(stat.to_string())
}

impl Engine {
    /// `docker volume ls --filter`: each key's values are alternatives (OR),
    /// different keys must all hold (AND), as dockerd's filters do.
    fn volume_matches(&self, v: &VolumeInfo, filters: &[KeyValue]) -> bool {
        let mut keys: Vec<&str> = filters.iter().map(|f| f.key.as_str()).collect();
        keys.dedup();
        keys.iter().all(|key| {
            filters
                .iter()
                .filter(|f| f.key == *key)
                .any(|f| match *key {
                    "driver" => v.driver == f.value,
                    "name" => v.name.contains(&f.value),
                    "dangling" => {
                        let dangling = self.volumes().refs(&v.name).is_empty();
                        matches!(f.value.as_str(), "true" | "1") == dangling
                    }
                    "label" => {
                        let (k, val) = match f.value.split_once('=') {
                            Some((k, val)) => (k, Some(val)),
                            None => (f.value.as_str(), None),
                        };
                        v.labels.as_ref().is_some_and(|l| match (l.get(k), val) {
                            (Some(have), Some(want)) => have == want,
                            (Some(_), None) => true,
                            (None, _) => false,
                        })
                    }
                    _ => true,
                })
        })
    }
}

/// The `?t=N` of `docker stop|restart -t N` (nothing without `-t`).
fn time_query(time: Option<u32>) -> String {
    query(
        &time
            .map(|t| ("t", t.to_string()))
            .into_iter()
            .collect::<Vec<_>>(),
    )
}

fn filter_value(filters: &[KeyValue], key: &str) -> Option<String> {
    filters
        .iter()
        .find(|f| f.key == key)
        .map(|f| f.value.clone())
}

/// What `docker … inspect` prints: each object through `--format`, or the
/// objects as an indented JSON array; the errors of the names not found
/// after them (the command then fails).
pub fn inspect_outcome(items: Vec<Value>, errors: Vec<String>, format: Option<&str>) -> Outcome {
    let stdout = match format {
        Some(f) => items
            .iter()
            .map(|v| go_template(f, v))
            .collect::<Vec<_>>()
            .join("\n"),
        None if items.is_empty() => "[]".into(),
        None => indent4(&Value::Array(items)),
    };
    Outcome {
        error: (!errors.is_empty()).then(|| errors.join("\n")),
        stdout,
    }
}

/// The CLI's tabwriter: minimum cell width 10, padding 3.
pub fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| (s.chars().count() + 3).max(10))
                .max()
                .unwrap_or(10)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}", w = widths[c]));
                }
            }
            line.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `docker volume inspect` output for one volume (keys as the CLI prints them).
pub fn inspect_json(v: &VolumeInfo) -> Value {
    json!({
        "CreatedAt": v.created_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": v.options,
        "Scope": v.scope,
        "Status": v.status,
    })
}

/// JSON with 4-space indentation, as the docker CLI prints inspect output.
pub fn indent4(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("JSON values serialise");
    String::from_utf8(buf).expect("JSON is UTF-8")
}

/// A tiny subset of Go templates: `{{.A.B}}` paths and `{{json .A}}`.
pub fn go_template(template: &str, v: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = rest[start + 2..start + end].trim();
        let (mode, path) = match (expr.strip_prefix("json "), expr.strip_prefix("len ")) {
            (Some(p), _) => (Some("json"), p.trim()),
            (_, Some(p)) => (Some("len"), p.trim()),
            _ => (None, expr),
        };
        let json_mode = mode == Some("json");
        let mut cur = v;
        for part in path
            .trim_start_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
        {
            cur = cur.get(part).unwrap_or(&Value::Null);
        }
        if mode == Some("len") {
            let n = match cur {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(st) => st.len(),
                _ => 0,
            };
            out.push_str(&n.to_string());
            rest = &rest[start + end + 2..];
            continue;
        }
        match (json_mode, cur) {
            (true, c) => out.push_str(&c.to_string()),
            (false, Value::String(s)) => out.push_str(s),
            (false, Value::Null) => out.push_str("<no value>"),
            (false, Value::Object(m)) => {
                let inner: Vec<String> =
                    m.iter().map(|(k, v)| format!("{k}:{}", plain(v))).collect();
                out.push_str(&format!("map[{}]", inner.join(" ")));
            }
            (false, c) => out.push_str(&plain(c)),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

/// `GET /version`'s body (the components dockerd 20.10.24 reports).
fn version_json() -> Value {
    json!({
        "Platform": {"Name": ""},
        "Components": [{"Name": "Engine", "Version": SERVER_VERSION, "Details": {
            "ApiVersion": API_VERSION, "Arch": "amd64", "Experimental": "false",
            "GoVersion": "go1.19.8", "MinAPIVersion": "1.12", "Os": "linux"}}],
        "Version": SERVER_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.12",
        "GoVersion": "go1.19.8",
        "Os": "linux",
        "Arch": "amd64",
    })
}

fn version_text(format: Option<&str>) -> String {
    let v = json!({
        "Client": {"Version": "28.2.2", "ApiVersion": API_VERSION},
        "Server": {"Version": SERVER_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": "1.12",
                    "Os": "linux", "Arch": "amd64", "GoVersion": "go1.19.8"},
    });
    match format {
        Some(f) => go_template(f, &v),
        None => format!(
            "Server: drydock engine-sim (simulating Docker Engine {SERVER_VERSION})\n Engine:\n  Version:          {SERVER_VERSION}\n  API version:      {API_VERSION} (minimum version 1.12)\n  Go version:       go1.19.8"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_matches_the_cli() {
        let rows = vec![
            vec!["DRIVER".to_owned(), "VOLUME NAME".to_owned()],
            vec!["gvol".to_owned(), "v1".to_owned()],
        ];
        // Recorded from docker 28.2 against dockerd 20.10 (golden s-volume).
        assert_eq!(tabwrite(&rows), "DRIVER    VOLUME NAME\ngvol      v1");
    }

    #[tokio::test]
    async fn prune_all_is_refused_by_the_cli_against_api_1_41() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(super::super::EngineConfig {
            roots: crate::discovery::PluginRoots {
                sockets_dir: dir.path().join("run"),
                spec_dirs: vec![],
            },
            clock: crate::clock::VirtualClock::new(),
            seed: 1,
        });
        let cmd = DockerCommand::Volume(VolumeCommand::Prune {
            all: true,
            filters: vec![],
        });
        // Recorded: tests/golden/v-prune-df.jsonl (`docker volume prune -af`).
        assert_eq!(
            engine.docker(&cmd).await.error.as_deref(),
            Some("\"--all\" requires API version 1.42, but the Docker daemon API version is 1.41")
        );
    }

    #[test]
    fn templates_cover_inspect_formats() {
        let v = json!({"Scope": "global", "Status": {"a": 1}, "Labels": null});
        assert_eq!(go_template("{{.Scope}}", &v), "global");
        assert_eq!(go_template("{{json .Status}}", &v), "{\"a\":1}");
        assert_eq!(go_template("x={{.Labels}}", &v), "x=<no value>");
    }
}
