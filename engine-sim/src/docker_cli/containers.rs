//! `docker create|run|start|stop|kill|restart|wait|rm|cp|ps`: requests and output.

use super::format::tabwrite;
use super::{
    body, field, ContainerSpec, CpCommand, CpDirection, DockerCli, DockerCommand, Outcome,
};
use super::{RestartPolicy, VolumeSource};
use crate::api::{query, query_escape, ApiRequest, ApiResponse, Exchange, API_VERSION};
use crate::engine::{EngineError, ErrorKind};
use serde_json::{json, Value};

impl DockerCli<'_> {
    pub(super) async fn container(&self, cmd: &DockerCommand) -> Outcome {
        match cmd {
            DockerCommand::Create(spec) => match self.create(spec, true).await {
                Ok(id) => Outcome::ok(id),
                Err(e) => Outcome::failed(e.message),
            },
            DockerCommand::Run { spec, detach } => match self.run_container(spec, *detach).await {
                Ok((id, _)) if *detach => Outcome::ok(id),
                Ok((_, 0)) => Outcome::ok(""),
                Ok((_, code)) => Outcome::failed(format!("container exited with status {code}")),
                Err(e) => Outcome::failed(e.message),
            },
            DockerCommand::Start { containers } => {
                self.each(containers, |c| async move {
                    let req = ApiRequest::post(&["/containers/", &c, "/start"].concat());
                    self.send(req).await.map(|_| c)
                })
                .await
            }
            DockerCommand::Stop { time, containers } => {
                self.each(containers, |c| async move {
                    let q = time_query(*time);
                    let req = ApiRequest::post(&format!("/containers/{c}/stop{q}"));
                    self.send(req).await.map(|_| c)
                })
                .await
            }
            DockerCommand::Kill { containers } => {
                self.each(containers, |c| async move {
                    let req = ApiRequest::post(&format!("/containers/{c}/kill"));
                    self.send(req).await.map(|_| c)
                })
                .await
            }
            DockerCommand::Restart { time, containers } => {
                self.each(containers, |c| async move {
                    let q = time_query(*time);
                    let req = ApiRequest::post(&format!("/containers/{c}/restart{q}"));
                    self.send(req).await.map(|_| c)
                })
                .await
            }
            DockerCommand::Wait { containers } => {
                self.each(containers, |c| async move {
                    let req = ApiRequest::post(&format!("/containers/{c}/wait"));
                    let resp = self.send(req).await?;
                    Ok(body(&resp)["StatusCode"].as_i64().unwrap_or(0).to_string())
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
                    match self.send(req).await {
                        Ok(_) => Ok(c),
                        // `rm -f` of a missing container prints the daemon's
                        // error but exits 0 (recorded: tests/golden/v-in-use.jsonl).
                        Err(e) if *force && e.kind == ErrorKind::NotFound => Ok(String::new()),
                        Err(e) => Err(e),
                    }
                })
                .await
            }
            DockerCommand::Cp(cp) => match self.cp(cp).await {
                Ok(()) => Outcome::ok(""),
                Err(e) => Outcome::failed(e.message),
            },
            DockerCommand::Ps { all, quiet } => {
                let req = ApiRequest::get(if *all {
                    "/containers/json?all=1"
                } else {
                    "/containers/json"
                });
                match self.send(req).await {
                    Ok(resp) => Outcome::ok(ps_text(body(&resp), *quiet)),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            DockerCommand::Volume(_)
            | DockerCommand::Network(_)
            | DockerCommand::Version { .. } => {
                unreachable!("not a container command")
            }
        }
    }

    /// `POST /containers/create[?name=N]` with the CLI's config; the new ID.
    /// `attach`: whether the CLI will attach to stdout/stderr (not with `-d`).
    async fn create(&self, spec: &ContainerSpec, attach: bool) -> Result<String, EngineError> {
        let q = query(
            &spec
                .name
                .iter()
                .map(|n| ("name", n.clone()))
                .collect::<Vec<_>>(),
        );
        let req = ApiRequest::post_json(
            &["/containers/create", q.as_str()].concat(),
            &create_body(spec, attach),
        );
        let resp = self.send(req).await?;
        Ok(field(body(&resp), "Id").to_owned())
    }

    /// `docker run`: create; unless detached, attach; wait (the CLI opens it
    /// before start so it cannot miss the exit); start. The attach and wait
    /// requests stay open while the container runs: their AuthZRes come
    /// after it finished (or, detached, once the CLI hangs up).
    async fn run_container(
        &self,
        spec: &ContainerSpec,
        detach: bool,
    ) -> Result<(String, i32), EngineError> {
        let id = self.create(spec, !detach).await?;
        // Paths by concatenation: these run for every `docker run`, where
        // format! machinery showed up in profiles.
        let attach = if detach {
            None
        } else {
            let req = ApiRequest::post(
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
            Some(self.api.open(req).await?)
        };
        let condition = if spec.rm { "removed" } else { "next-exit" };
        let wait_req =
            ApiRequest::post(&["/containers/", &id, "/wait?condition=", condition].concat());
        let wait = match self.api.open(wait_req).await {
            Ok(w) => w,
            Err(e) => {
                if let Some(a) = attach {
                    a.hang_up().await;
                }
                return Err(e);
            }
        };
        let start_req = ApiRequest::post(&["/containers/", &id, "/start"].concat());
        let start = match self.api.open(start_req).await {
            Ok(s) => s,
            Err(e) => {
                hang_up(attach, wait).await;
                return Err(e);
            }
        };
        if let Err(e) = start.run().await {
            if spec.rm {
                // A failed start of a --rm container removes it inside the
                // start request: attach and wait end before it answers
                // (recorded: i-ip-nosubnet.jsonl).
                hang_up(attach, wait).await;
                let _ = start.close(Err(e.clone())).await;
            } else {
                let _ = start.close(Err(e.clone())).await;
                hang_up(attach, wait).await;
            }
            return Err(e);
        }
        if let Err(e) = start.close(Ok(ApiResponse::empty(204))).await {
            hang_up(attach, wait).await;
            return Err(e);
        }
        if detach {
            wait.hang_up().await;
            return Ok((id, 0));
        }
        // The command runs to completion: the attach stream ends, then the
        // wait answers with the exit code once the container is cleaned up.
        if let Some(a) = attach {
            a.finish().await?;
        }
        let resp = wait.finish().await?;
        let code = body(&resp)["StatusCode"].as_i64().unwrap_or(0);
        Ok((id, i32::try_from(code).unwrap_or(i32::MAX)))
    }

    /// `docker cp`: the CLI's archive requests (a stat and the extraction
    /// into a container; one download out of it).
    async fn cp(&self, cp: &CpCommand) -> Result<(), EngineError> {
        let c = &cp.container;
        let path = query_escape(&cp.container_path);
        let requests = match cp.direction {
            CpDirection::FromContainer => vec![ApiRequest::get(&format!(
                "/containers/{c}/archive?path={path}"
            ))],
            CpDirection::ToContainer => vec![
                ApiRequest::head(&format!("/containers/{c}/archive?path={path}")),
                // The CLI streams the tar (chunked) with this content type.
                ApiRequest::new(
                    "PUT",
                    format!(
                        "/v{API_VERSION}/containers/{c}/archive?noOverwriteDirNonDir=true&path={path}"
                    ),
                )
                .header("Content-Type", "text/plain"),
            ],
        };
        for req in requests {
            self.send(req).await?;
        }
        Ok(())
    }
}

/// The attach and wait requests end when the container is gone or the CLI
/// hangs up after an error; their verdicts can no longer matter.
async fn hang_up(attach: Option<Exchange<'_>>, wait: Exchange<'_>) {
    if let Some(a) = attach {
        a.hang_up().await;
    }
    wait.hang_up().await;
}

/// What `docker ps` prints from `GET /containers/json`.
fn ps_text(list: &Value, quiet: bool) -> String {
    let empty = Vec::new();
    let list = list.as_array().unwrap_or(&empty);
    let short = |c: &Value| field(c, "Id").chars().take(12).collect::<String>();
    if quiet {
        return list.iter().map(short).collect::<Vec<_>>().join("\n");
    }
    let mut rows = vec![["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "NAMES"]
        .map(str::to_owned)
        .to_vec()];
    for c in list {
        let name = c["Names"][0].as_str().unwrap_or_default();
        rows.push(vec![
            short(c),
            field(c, "Image").to_owned(),
            format!("\"{}\"", field(c, "Command")),
            field(c, "Status").to_owned(),
            name.strip_prefix('/').unwrap_or(name).to_owned(),
        ]);
    }
    tabwrite(&rows)
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
