//! The handlers: each route's query and body read into typed values, the
//! daemon's operation, and the answer as dockerd 20.10 encodes it (status,
//! headers and body as its handler leaves them for the authz middleware).

use super::gojson::{self, Scan};
use super::http::{bool_value, is_json, ApiRequest, ApiResponse};
use super::router::{ArchiveMethod, Route, API_VERSION, MIN_API_VERSION, SERVER_VERSION};
use super::system;
use super::types;
use crate::daemon::containers::{
    parse_signal, ContainerDetails, ContainerSpec, ContainerState, MountSpec, RestartPolicy,
};
use crate::daemon::networks::ContainerEndpoint;
use crate::daemon::networks::{NetworkConfig, SubnetConfig};
use crate::daemon::{filters_match, Engine, EngineError, ErrorKind, VolumeInfo};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Runs the handler of `route`.
pub(crate) async fn dispatch(
    engine: &Engine,
    route: &Route,
    req: &ApiRequest,
) -> Result<ApiResponse, EngineError> {
    let q = Query::parse(req.query());
    match route {
        Route::Ping => Ok(ApiResponse::ping()),
        Route::Version => Ok(ApiResponse::json(200, version_json())),
        Route::VolumeList => volume_list(engine, &q).await,
        Route::Options => Ok(ApiResponse::empty(200)),
        Route::VolumeCreate => volume_create(engine, req).await,
        Route::VolumeInspect { name } => {
            let v = engine.volumes().get(name, "", None).await?;
            Ok(ApiResponse::json(200, volume_json(&v)))
        }
        Route::VolumeRemove { name } => {
            engine.volumes().remove(name, q.bool("force")).await?;
            Ok(ApiResponse::empty(204))
        }
        Route::VolumePrune => volume_prune(engine, &q).await,
        Route::ContainerList => Ok(ApiResponse::json(200, ps_json(engine, &q)?)),
        Route::ContainerCreate => {
            let body: types::ContainerCreate = decode(req, "container.Config", ErrorKind::System)?;
            let spec = container_spec(q.get("name").map(|n| n.into_owned()), body)?;
            let id = engine.container_create(spec).await?;
            Ok(ApiResponse::json(201, json!({"Id": id, "Warnings": []})))
        }
        Route::ContainerInspect { id } => {
            let details = engine.container_inspect(id)?;
            let endpoints = engine.container_endpoints(&details.id);
            Ok(ApiResponse::json(200, container_json(&details, &endpoints)))
        }
        Route::ContainerLogs { id } => {
            // Containers run no processes: there is no output to stream.
            engine.container_id(id)?;
            Ok(ApiResponse::streamed(None, None))
        }
        Route::ContainerStart { id } => {
            let running = engine.container_state(id).ok() == Some(ContainerState::Running);
            engine.container_start(id).await?;
            Ok(ApiResponse::empty(if running { 304 } else { 204 }))
        }
        Route::ContainerStop { id } => {
            let running = engine.container_state(id).ok() == Some(ContainerState::Running);
            engine.container_stop(id, 143).await?;
            Ok(ApiResponse::empty(if running { 204 } else { 304 }))
        }
        Route::ContainerKill { id } => {
            let signal = match q.get("signal").filter(|s| !s.is_empty()) {
                Some(s) => parse_signal(&s)?,
                None => 9,
            };
            engine.container_signal(id, signal).await?;
            Ok(ApiResponse::empty(204))
        }
        Route::ContainerPause { id, pause } => {
            engine.container_pause(id, *pause)?;
            Ok(ApiResponse::empty(204))
        }
        Route::ContainerRename { id } => {
            engine.container_rename(id, &q.get("name").unwrap_or_default())?;
            Ok(ApiResponse::empty(204))
        }
        Route::ContainerUpdate { id } => {
            engine.container_id(id)?;
            let body: types::ContainerUpdate = decode(req, "container.UpdateConfig", ErrorKind::System)?;
            engine.container_update_restart(id, restart_policy(&body.restart_policy)?)?;
            Ok(ApiResponse::json(200, json!({"Warnings": null})))
        }
        Route::ContainerPrune => {
            let removed = engine.container_prune().await;
            Ok(ApiResponse::json(
                200,
                json!({
                    "ContainersDeleted": go_slice(&removed),
                    "SpaceReclaimed": 0,
                }),
            ))
        }
        Route::NetworkPrune => {
            let removed = engine.network_prune().await;
            Ok(ApiResponse::json(
                200,
                json!({"NetworksDeleted": go_slice(&removed)}),
            ))
        }
        Route::Info => Ok(system::info(engine)),
        Route::SystemDf => system::system_df(engine).await,
        Route::PluginList => Ok(ApiResponse::json(200, json!([]))),
        Route::ImageList => Ok(system::image_list(engine)),
        Route::ImageInspect { name } => system::image_inspect(engine, name),
        Route::ImageCreate => {
            system::image_create(engine, q.get("fromImage").as_deref(), q.get("tag").as_deref())
        }
        Route::NotSimulated { what } => Err(EngineError::new(
            ErrorKind::NotImplemented,
            format!("drydock does not simulate {what}"),
        )),
        Route::NotSwarmManager => Err(EngineError::new(
            ErrorKind::Unavailable,
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
        )),
        Route::ContainerRestart { id } => {
            engine.container_restart(id).await?;
            Ok(ApiResponse::empty(204))
        }
        Route::ContainerWait { id } => {
            // The handler flushes its headers before waiting: AuthZRes sees
            // nothing of the answer.
            let code = engine.container_wait(id).await?;
            Ok(ApiResponse::flushed(
                json!({"Error": null, "StatusCode": code}),
            ))
        }
        Route::ContainerAttach { id } => {
            engine.container_attach(id)?;
            Ok(ApiResponse::hijacked())
        }
        Route::ContainerRemove { id } => {
            engine
                .container_rm(id, q.bool("force"), q.bool("v"))
                .await?;
            Ok(ApiResponse::empty(204))
        }
        Route::ContainerArchive { id, method } => {
            // Each archive request mounts the container's volumes for the
            // operation and unmounts them after. The handlers stream: no
            // status is recorded; GET and HEAD describe the path in a header
            // (recorded: v-cp.jsonl).
            engine.container_cp(id, 1).await?;
            let stat = path_stat(&q.get("path").unwrap_or_default());
            Ok(match method {
                ArchiveMethod::Stat => ApiResponse::streamed(None, Some(&stat)),
                ArchiveMethod::Get => ApiResponse::streamed(Some("application/x-tar"), Some(&stat)),
                ArchiveMethod::Put => ApiResponse::streamed(None, None),
            })
        }
        Route::NetworkList => {
            let filters = q.filters()?;
            Ok(ApiResponse::json(
                200,
                Value::Array(engine.network_list(&filters)),
            ))
        }
        Route::NetworkCreate => {
            let body: types::NetworkCreate = decode(
                req,
                "types.NetworkCreateRequest",
                ErrorKind::InvalidParameter,
            )?;
            let id = engine.network_create(&network_config(body)?).await?;
            Ok(ApiResponse::json(201, json!({"Id": id, "Warning": ""})))
        }
        Route::NetworkInspect { id } => Ok(ApiResponse::json(200, engine.network_inspect(id)?)),
        Route::NetworkRemove { id } => {
            engine.network_rm(id).await?;
            Ok(ApiResponse::empty(204))
        }
        Route::NetworkConnect { id } => {
            let body: types::NetworkConnect =
                decode(req, "types.NetworkConnect", ErrorKind::InvalidParameter)?;
            let ip = &body.endpoint_config.ipam_config.ipv4_address;
            engine
                .network_connect(id, &body.container, (!ip.is_empty()).then_some(ip.as_str()))
                .await?;
            // The handler writes nothing (recorded: a-allow-network.jsonl).
            Ok(ApiResponse::unwritten())
        }
        Route::NetworkDisconnect { id } => {
            let body: types::NetworkDisconnect =
                decode(req, "types.NetworkDisconnect", ErrorKind::InvalidParameter)?;
            engine.network_disconnect(id, &body.container).await?;
            Ok(ApiResponse::unwritten())
        }
    }
}

/// A JSON request body read into its API type, refused as dockerd refuses
/// it: a body that is not declared JSON (`httputils.CheckForJSON`), no body
/// at all, malformed JSON (Go's words, [`gojson`]; with `bad_json`'s class:
/// the container router answers it 500, the others 400), or a value that is
/// not an object of `go_type`.
fn decode<T: DeserializeOwned>(
    req: &ApiRequest,
    go_type: &str,
    bad_json: ErrorKind,
) -> Result<T, EngineError> {
    let body = req.body.as_deref().unwrap_or_default();
    let content_type = req.header_value("Content-Type").unwrap_or_default();
    if !body.is_empty() && !is_json(content_type) {
        return Err(EngineError::invalid(format!(
            "Content-Type specified ({content_type}) must be 'application/json'"
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(EngineError::invalid("got EOF while reading request body"));
    }
    // One value is read, as Go's json.Decoder does: what follows it is ignored.
    let mut de = serde_json::Deserializer::from_slice(body);
    T::deserialize(&mut de).map_err(|e| match gojson::check(body) {
        Scan::Truncated => EngineError::new(bad_json, "unexpected EOF"),
        Scan::Invalid(message) => EngineError::new(bad_json, message),
        Scan::Complete => {
            let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
            let kind = match first {
                Some(b'"') => "string",
                Some(b'[') => "array",
                Some(b't' | b'f') => "bool",
                Some(b'-' | b'0'..=b'9') => "number",
                // FIXME(issue 17): a field of the wrong type; Go names the
                // field ("… into Go struct field X.Y of type T").
                _ => return EngineError::invalid(e.to_string()),
            };
            EngineError::invalid(format!(
                "json: cannot unmarshal {kind} into Go value of type {go_type}"
            ))
        }
    })
}

/// A request's query: `form_urlencoded` pairs, as Go's `r.Form` reads
/// them, decoded when a handler asks for one (most requests have none).
struct Query<'q>(&'q str);

impl Query<'_> {
    fn parse(query: &str) -> Query<'_> {
        Query(query)
    }

    fn get(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        form_urlencoded::parse(self.0.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// A parameter as dockerd's `httputils.BoolValue` reads it (absent: false).
    fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| bool_value(&v))
    }

    /// The `filters` parameter (`{"key":{"value":true}}`, or the older
    /// `{"key":["value"]}`) as `(key, value)` pairs.
    fn filters(&self) -> Result<Vec<(String, String)>, EngineError> {
        let Some(raw) = self.get("filters").filter(|f| !f.is_empty()) else {
            return Ok(Vec::new());
        };
        let parsed: BTreeMap<String, Value> = serde_json::from_str(&raw).map_err(|e| {
            EngineError::invalid(match gojson::check_document(raw.as_bytes()) {
                Scan::Truncated => "unexpected end of JSON input".to_owned(),
                Scan::Invalid(message) => message,
                Scan::Complete => e.to_string(),
            })
        })?;
        let mut pairs = Vec::new();
        for (key, values) in parsed {
            match values {
                Value::Object(m) => pairs.extend(m.into_iter().map(|(v, _)| (key.clone(), v))),
                Value::Array(a) => pairs.extend(
                    a.into_iter()
                        .filter_map(|v| v.as_str().map(|v| (key.clone(), v.to_owned()))),
                ),
                _ => return Err(EngineError::invalid("invalid filter: bad value")),
            }
        }
        Ok(pairs)
    }
}

async fn volume_create(engine: &Engine, req: &ApiRequest) -> Result<ApiResponse, EngineError> {
    let body: types::VolumeCreate =
        decode(req, "volume.VolumeCreateBody", ErrorKind::InvalidParameter)?;
    let name = if body.name.is_empty() {
        engine.random_id()
    } else {
        body.name
    };
    let driver = if body.driver.is_empty() {
        crate::daemon::volumes::LOCAL.to_owned()
    } else {
        body.driver
    };
    let (v, _) = engine
        .volumes()
        .create(&name, &driver, body.driver_opts, body.labels, None)
        .await?;
    let mut out = volume_json(&v);
    // dockerd answers a create before anyone asked the plugin for a path
    // (recorded: v-conflict.jsonl).
    if v.driver != crate::daemon::volumes::LOCAL {
        out["Mountpoint"] = json!("");
    }
    // An existing volume comes back without its driver's scope looked up;
    // dockerd's default is local.
    if v.scope.is_empty() {
        out["Scope"] = json!("local");
    }
    if let Some(b) = out.as_object_mut() {
        b.remove("Status");
    }
    Ok(ApiResponse::json(201, out))
}

async fn volume_list(engine: &Engine, q: &Query<'_>) -> Result<ApiResponse, EngineError> {
    let filters = q
        .filters()
        .map_err(|e| e.wrap(|m| format!("error reading volume filters: {m}")))?;
    if let Some((key, _)) = filters
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "dangling" | "driver" | "label" | "name"))
    {
        return Err(EngineError::invalid(format!("Invalid filter '{key}'")));
    }
    let driver = filters
        .iter()
        .find(|(k, _)| k == "driver")
        .map(|(_, v)| v.as_str());
    let (mut vols, warnings) = engine.volumes().list(driver).await?;
    vols.retain(|v| volume_matches(engine, v, &filters));
    vols.sort_by(|a, b| a.name.cmp(&b.name));
    let body = json!({
        "Volumes": vols.iter().map(volume_json).collect::<Vec<_>>(),
        "Warnings": go_slice(&warnings),
    });
    Ok(ApiResponse::json(200, body))
}

/// 20.10 prunes only unused `local` volumes (those with the labels the
/// `label` filters name, and without those `label!` names); plugins see
/// nothing but the scan/activation side effect of listing drivers.
async fn volume_prune(engine: &Engine, q: &Query<'_>) -> Result<ApiResponse, EngineError> {
    let filters = q.filters()?;
    if let Some((key, _)) = filters
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "label" | "label!"))
    {
        return Err(EngineError::invalid(format!("Invalid filter '{key}'")));
    }
    let (required, refused): (Vec<_>, Vec<_>) =
        filters.into_iter().partition(|(k, _)| k == "label");
    let (vols, _) = engine.volumes().list(Some("local")).await?;
    let _ = engine.volumes().all_drivers().await;
    let mut removed = Vec::new();
    for v in vols {
        let has = |(_, wanted): &(String, String)| labelled(v.labels.as_ref(), wanted);
        if required.iter().all(has)
            && !refused.iter().any(has)
            && engine.volumes().refs(&v.name).is_empty()
            && engine.volumes().remove(&v.name, false).await.is_ok()
        {
            removed.push(v.name);
        }
    }
    // An empty list, not null (unlike the container and network prunes).
    let body = json!({"VolumesDeleted": removed, "SpaceReclaimed": 0});
    Ok(ApiResponse::json(200, body))
}

/// A `label` filter's value, `KEY` or `KEY=VALUE`, against an object's labels.
fn labelled(labels: Option<&BTreeMap<String, String>>, wanted: &str) -> bool {
    let (key, value) = match wanted.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (wanted, None),
    };
    labels
        .and_then(|l| l.get(key))
        .is_some_and(|have| value.is_none_or(|v| have == v))
}

/// Go's encoding of a slice that may be nil: `null` when empty.
fn go_slice<T: serde::Serialize>(items: &[T]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

/// Volume filters: each key's values are alternatives (OR), different keys
/// must all hold (AND), as dockerd's filters do.
fn volume_matches(engine: &Engine, v: &VolumeInfo, filters: &[(String, String)]) -> bool {
    filters_match(filters, |key, value| match key {
        "driver" => v.driver == value,
        "name" => v.name.contains(value),
        "dangling" => {
            let dangling = engine.volumes().refs(&v.name).is_empty();
            matches!(value, "true" | "1") == dangling
        }
        "label" => labelled(v.labels.as_ref(), value),
        _ => true,
    })
}

/// The volume as the API encodes it (`Status` omitted when empty). dockerd
/// 20.10 does not label anonymous volumes (`com.docker.volume.anonymous`
/// came with 23.0): its API shows their labels as null (v-anon-rmv.jsonl).
pub(crate) fn volume_json(v: &VolumeInfo) -> Value {
    let labels = v.labels.as_ref().and_then(|l| {
        let kept: BTreeMap<&String, &String> = l
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

/// `GET /containers/{id}/json` as dockerd 20.10 encodes `ContainerJSON`
/// (recorded: ctr-inspect-c1 in tests/golden/api/raw-router.jsonl), with
/// what the simulation has; the rest as dockerd shows a container it made
/// with default options.
fn container_json(c: &ContainerDetails, endpoints: &[ContainerEndpoint]) -> Value {
    let spec = &c.spec;
    let exit_code = match c.state {
        ContainerState::Exited(code) => code,
        _ => 0,
    };
    let (status, running) = (c.state.name(), c.state == ContainerState::Running);
    let restart = json!({
        "Name": spec.restart.map_or("", RestartPolicy::name),
        "MaximumRetryCount": spec.restart.map_or(0, RestartPolicy::max_retries),
    });
    let binds: Vec<String> = spec
        .mounts
        .iter()
        .filter_map(|m| {
            let source = m.source.as_ref()?;
            let ro = if m.read_only { ":ro" } else { "" };
            Some(format!("{source}:{}{ro}", m.target))
        })
        .collect();
    let anonymous: serde_json::Map<String, Value> = spec
        .mounts
        .iter()
        .filter(|m| m.source.is_none())
        .map(|m| (m.target.clone(), json!({})))
        .collect();
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| {
            json!({
                "Type": "volume", "Name": m.name, "Source": m.source,
                "Destination": m.destination, "Driver": m.driver, "Mode": "z",
                "RW": m.rw, "Propagation": "",
            })
        })
        .collect();
    let endpoint = |e: &ContainerEndpoint| {
        let (ip, prefix) = e
            .address
            .split_once('/')
            .map_or(("", 0), |(ip, p)| (ip, p.parse::<u32>().unwrap_or(0)));
        json!({
            "IPAMConfig": e.requested_ip.as_ref().map(|ip| json!({"IPv4Address": ip})),
            "Links": null, "Aliases": null,
            "NetworkID": e.network_id, "EndpointID": e.endpoint_id,
            "Gateway": e.gateway, "IPAddress": ip, "IPPrefixLen": prefix,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": "", "DriverOpts": null,
        })
    };
    let mut networks: serde_json::Map<String, Value> = endpoints
        .iter()
        .map(|e| (e.network.clone(), endpoint(e)))
        .collect();
    if networks.is_empty() {
        let name = spec.network.clone().unwrap_or_else(|| "bridge".into());
        networks.insert(
            name.clone(),
            endpoint(&ContainerEndpoint {
                network: name,
                ..Default::default()
            }),
        );
    }
    let mut host = json!({
        "Binds": go_slice(&binds),
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": spec.network.clone().unwrap_or_else(|| "default".into()),
        "PortBindings": null,
        "RestartPolicy": restart,
        "AutoRemove": spec.auto_remove,
        "VolumeDriver": spec.volume_driver.clone().unwrap_or_default(),
        "VolumesFrom": go_slice(&spec.volumes_from),
        "CapAdd": null, "CapDrop": null, "CgroupnsMode": "host",
        "Dns": null, "DnsOptions": null, "DnsSearch": null, "ExtraHosts": null,
        "GroupAdd": null, "IpcMode": "private", "Cgroup": "", "Links": null,
        "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
        "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "", "UsernsMode": "",
    });
    let rest = json!({
        "ShmSize": 67108864, "Runtime": "runc", "ConsoleSize": [0, 0], "Isolation": "",
        "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
        "BlkioWeightDevice": null, "BlkioDeviceReadBps": null, "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null, "BlkioDeviceWriteIOps": null, "CpuPeriod": 0,
        "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "",
        "CpusetMems": "", "Devices": null, "DeviceCgroupRules": null, "DeviceRequests": null,
        "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": null, "OomKillDisable": false, "PidsLimit": null, "Ulimits": null,
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    });
    if let (Some(h), Value::Object(r)) = (host.as_object_mut(), rest) {
        h.extend(r);
    }
    let (path, args) = spec
        .cmd
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": status, "Running": running, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": exit_code, "Error": "",
            "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Image": spec.image,
        "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": "",
        "Name": format!("/{}", c.name),
        "RestartCount": 0,
        "Driver": "vfs",
        "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": null,
        "HostConfig": host,
        "GraphDriver": {"Data": null, "Name": "vfs"},
        "Mounts": mounts,
        "Config": {
            "Hostname": c.id.chars().take(12).collect::<String>(), "Domainname": "", "User": "",
            "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
            "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
            "Cmd": spec.cmd,
            "Image": spec.image,
            "Volumes": if anonymous.is_empty() { Value::Null } else { Value::Object(anonymous) },
            "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": spec.labels,
        },
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "", "HairpinMode": false, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": "",
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null, "EndpointID": "",
            "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
            "Networks": networks,
        },
    })
}

/// `GET /containers/json`: the summaries, newest first.
/// `GET /containers/json`: running containers (all with `all`), newest
/// first, kept by the `filters` dockerd 20.10 knows best: `id`, `name`
/// (a substring of the name), `label` (`KEY` or `KEY=VALUE`) and `status`.
fn ps_json(engine: &Engine, q: &Query<'_>) -> Result<Value, EngineError> {
    let filters = q.filters()?;
    for (key, value) in &filters {
        match key.as_str() {
            "id" | "name" | "label" => {}
            "status"
                if matches!(
                    value.as_str(),
                    "created"
                        | "restarting"
                        | "running"
                        | "removing"
                        | "paused"
                        | "exited"
                        | "dead"
                ) => {}
            "status" => {
                return Err(EngineError::invalid(format!(
                    "Invalid filter 'status={value}'"
                )))
            }
            // Filters dockerd knows and drydock does not model match nothing.
            "ancestor" | "before" | "since" | "volume" | "network" | "publish" | "expose"
            | "health" | "isolation" | "is-task" | "exited" => {}
            other => return Err(EngineError::invalid(format!("Invalid filter '{other}'"))),
        }
    }
    // A status filter lists stopped containers too.
    let all = q.bool("all") || filters.iter().any(|(k, _)| k == "status");
    let rows = engine
        .container_list(all)
        .into_iter()
        .filter(|c| {
            filters_match(&filters, |key, value| match key {
                "id" => c.id.starts_with(value),
                "name" => c.name.contains(value.trim_start_matches('/')),
                "label" => labelled(Some(&c.labels), value),
                "status" => match value {
                    "paused" => c.paused,
                    "running" => c.state == ContainerState::Running && !c.paused,
                    other => c.state.name() == other,
                },
                _ => false,
            })
        })
        .map(|c| {
            let state = if c.paused { "paused" } else { c.state.name() };
            let status = match c.state {
                ContainerState::Created => "Created".to_owned(),
                ContainerState::Running if c.paused => "Up (Paused)".to_owned(),
                ContainerState::Running => "Up".to_owned(),
                ContainerState::Exited(code) => format!("Exited ({code})"),
            };
            let created = time::OffsetDateTime::parse(
                &c.created,
                &time::format_description::well_known::Rfc3339,
            )
            .map_or(0, |t| t.unix_timestamp());
            json!({
                "Id": c.id,
                "Names": [format!("/{}", c.name)],
                "Created": created,
                "Image": c.image,
                "ImageID": crate::daemon::images::image_id(&c.image),
                "Command": c.command,
                "Labels": c.labels,
                "State": state,
                "Status": status,
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// The daemon's restart policy from a request's `RestartPolicy`.
fn restart_policy(p: &types::RestartPolicy) -> Result<Option<RestartPolicy>, EngineError> {
    let retries = u32::try_from(p.maximum_retry_count).unwrap_or(0);
    RestartPolicy::parse(&p.name, retries)
}

/// The daemon's container spec from the create request: binds (named
/// volumes, in order; host paths involve no plugin and are not modelled),
/// `--mount`s of type volume, then the anonymous volumes of `Volumes`.
fn container_spec(
    name: Option<String>,
    body: types::ContainerCreate,
) -> Result<ContainerSpec, EngineError> {
    // A body with none of the container config's fields leaves dockerd's
    // `Config` nil (approximated here by the fields the daemon reads).
    if body.image.is_none() && body.cmd.is_empty() && body.volumes.is_empty() {
        return Err(EngineError::invalid(
            "Config cannot be empty in order to create a container",
        ));
    }
    let host = body.host_config;
    let mut mounts = Vec::new();
    for bind in &host.binds {
        let mut parts = bind.splitn(3, ':');
        let (Some(source), Some(target)) = (parts.next(), parts.next()) else {
            continue;
        };
        if source.starts_with('/') {
            continue;
        }
        let read_only = parts
            .next()
            .is_some_and(|m| m.split(',').any(|o| o == "ro"));
        mounts.push(MountSpec {
            source: Some(source.to_owned()),
            target: target.to_owned(),
            read_only,
            ..Default::default()
        });
    }
    for m in host.mounts.iter().filter(|m| m.r#type == "volume") {
        let options = &m.volume_options;
        let driver = &options.driver_config.name;
        mounts.push(MountSpec {
            source: (!m.source.is_empty()).then(|| m.source.clone()),
            target: m.target.clone(),
            read_only: m.read_only,
            driver: (!driver.is_empty()).then(|| driver.clone()),
            driver_opts: options.driver_config.options.clone(),
            labels: options.labels.clone(),
        });
    }
    for target in body.volumes.keys() {
        mounts.push(MountSpec {
            source: None,
            target: target.clone(),
            read_only: false,
            ..Default::default()
        });
    }
    let network = match host.network_mode.as_str() {
        "" | "default" => None,
        n => Some(n.to_owned()),
    };
    let ip = network.as_ref().and_then(|n| {
        body.networking_config
            .endpoints_config
            .get(n)
            .and_then(Option::as_ref)
            .map(|e| e.ipam_config.ipv4_address.clone())
            .filter(|ip| !ip.is_empty())
    });
    let restart = restart_policy(&host.restart_policy)?;
    Ok(ContainerSpec {
        name,
        image: body.image.unwrap_or_default(),
        cmd: body.cmd,
        mounts,
        volume_driver: (!host.volume_driver.is_empty()).then_some(host.volume_driver),
        volumes_from: host.volumes_from,
        network,
        ip,
        auto_remove: host.auto_remove,
        restart,
        labels: body.labels,
    })
}

/// The daemon's network config from the create request.
fn network_config(body: types::NetworkCreate) -> Result<NetworkConfig, EngineError> {
    let ipam = body.ipam.unwrap_or_default();
    let configs = ipam
        .config
        .into_iter()
        .map(|c| SubnetConfig {
            subnet: c.subnet,
            ip_range: c.ip_range,
            gateway: c.gateway,
            aux: c.aux_addresses,
        })
        .collect();
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    let mut config = NetworkConfig::new(body.name, configs)?;
    config.driver = nonempty(body.driver);
    config.ipam_driver = nonempty(ipam.driver);
    config.ipam_opts = ipam.options;
    config.ipv6 = body.enable_ipv6;
    config.opts = body.options;
    Ok(config)
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

/// `GET /version`'s body (the components dockerd 20.10.24 reports).
fn version_json() -> Value {
    json!({
        "Platform": {"Name": ""},
        "Components": [{"Name": "Engine", "Version": SERVER_VERSION, "Details": {
            "ApiVersion": API_VERSION, "Arch": "amd64", "Experimental": "false",
            "GoVersion": "go1.19.8", "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}}],
        "Version": SERVER_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GoVersion": "go1.19.8",
        "Os": "linux",
        "Arch": "amd64",
    })
}
