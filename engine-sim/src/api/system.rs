//! The daemon-wide endpoints — `/info`, `/system/df`, `/plugins` — and the
//! images. Field sets and orders follow dockerd 20.10's answers (recorded:
//! tests/golden/api/raw-more.jsonl); what a simulation has no value for
//! (kernel features, sizes of a root filesystem it does not have) carries a
//! fixed value.

use super::handlers::volume_json;
use super::http::ApiResponse;
use super::router::SERVER_VERSION;
use crate::daemon::images::image_id;
use crate::daemon::{ContainerState, Engine, EngineError};
use serde_json::{json, Value};

/// The size every image reports (busybox's root filesystem).
const IMAGE_SIZE: u64 = 1_982_256;

/// Built-in network drivers, as `docker info` lists them.
const NETWORK_DRIVERS: &[&str] = &["bridge", "host", "ipvlan", "macvlan", "null", "overlay"];

/// Logging drivers dockerd 20.10 lists.
const LOG_DRIVERS: &[&str] = &[
    "awslogs",
    "fluentd",
    "gcplogs",
    "gelf",
    "journald",
    "json-file",
    "local",
    "logentries",
    "splunk",
    "syslog",
];

/// `GET /info`.
pub(crate) fn info(engine: &Engine) -> ApiResponse {
    let list = engine.container_list(true);
    let running = list.iter().filter(|c| c.state == ContainerState::Running);
    let paused = running.clone().filter(|c| c.paused).count();
    let running = running.count() - paused;
    let chain = engine.authorization_chain();
    let body = json!({
        "ID": "DRYD:OCKS:IMUL:ATED:DAEM:ON00:0000:0000:0000:0000:0000:0000",
        "Containers": list.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": list.len() - running - paused,
        "Images": engine.image_list().len(),
        "Driver": "vfs",
        "DriverStatus": null,
        "Plugins": {
            "Volume": engine.volumes().driver_names(),
            "Network": NETWORK_DRIVERS,
            "Authorization": if chain.is_empty() { Value::Null } else { json!(chain) },
            "Log": LOG_DRIVERS,
        },
        "MemoryLimit": true, "SwapLimit": true, "KernelMemory": true, "KernelMemoryTCP": true,
        "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true,
        "PidsLimit": true, "IPv4Forwarding": true, "BridgeNfIptables": true,
        "BridgeNfIp6tables": true, "Debug": false, "NFd": 0, "OomKillDisable": true,
        "NGoroutines": 0,
    });
    let rest = json!({
        "SystemTime": crate::daemon::networks::created_now(),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
        "NEventsListener": 0, "KernelVersion": "", "OperatingSystem": "drydock (simulated dockerd)",
        "OSVersion": "", "OSType": "linux", "Architecture": "x86_64",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "Mirrors": [],
        },
        "NCPU": 1, "MemTotal": 0, "GenericResources": null, "DockerRootDir": "/var/lib/docker",
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": "drydock", "Labels": [],
        "ExperimentalBuild": false, "ServerVersion": SERVER_VERSION,
        "Runtimes": {"runc": {"path": "runc"}}, "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": false, "Isolation": "", "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=default"], "Warnings": null,
    });
    let mut body = body;
    if let (Some(b), Value::Object(rest)) = (body.as_object_mut(), rest) {
        b.extend(rest);
    }
    ApiResponse::json(200, body)
}

/// An image as `GET /images/json` lists it; `containers`: -1 there (not
/// counted), the count in `/system/df`.
fn image_summary(reference: &str, containers: i64) -> Value {
    json!({
        "Containers": containers, "Created": 0, "Id": image_id(reference), "Labels": null,
        "ParentId": "", "RepoDigests": null, "RepoTags": [reference],
        "SharedSize": if containers < 0 { -1 } else { 0 },
        "Size": IMAGE_SIZE, "VirtualSize": IMAGE_SIZE,
    })
}

/// `GET /images/json`.
pub(crate) fn image_list(engine: &Engine) -> ApiResponse {
    let images: Vec<Value> = engine
        .image_list()
        .iter()
        .map(|r| image_summary(r, -1))
        .collect();
    ApiResponse::json(200, Value::Array(images))
}

/// `GET /images/{name}/json`.
pub(crate) fn image_inspect(engine: &Engine, name: &str) -> Result<ApiResponse, EngineError> {
    let Some(reference) = engine.image(name) else {
        return Err(EngineError::not_found(format!(
            "no such image: {name}: No such image: {name}"
        )));
    };
    let cmd = engine.image_cmd(&reference).map(|c| vec![c]);
    let config = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
        "StdinOnce": false, "Env": null, "Cmd": cmd, "Image": "", "Volumes": null,
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    let id = image_id(&reference);
    let body = json!({
        "Id": id, "RepoTags": [reference], "RepoDigests": [], "Parent": "",
        "Comment": "", "Created": "1970-01-01T00:00:00Z", "Container": "",
        "ContainerConfig": config, "DockerVersion": SERVER_VERSION, "Author": "",
        "Config": config, "Architecture": "amd64", "Os": "linux",
        "Size": IMAGE_SIZE, "VirtualSize": IMAGE_SIZE,
        "GraphDriver": {"Data": null, "Name": "vfs"},
        "RootFS": {"Type": "layers", "Layers": [id]},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    Ok(ApiResponse::json(200, body))
}

/// `POST /images/create?fromImage=NAME&tag=TAG`: a pull without a registry.
/// The answer is a pull's progress stream reduced to its last message.
pub(crate) fn image_create(
    engine: &Engine,
    from_image: Option<&str>,
    tag: Option<&str>,
) -> Result<ApiResponse, EngineError> {
    let Some(image) = from_image.filter(|i| !i.is_empty()) else {
        return Err(EngineError::new(
            crate::daemon::ErrorKind::NotImplemented,
            "drydock does not simulate image imports (POST /images/create without fromImage)",
        ));
    };
    let tagged = image.contains('@') || image.rsplit('/').next().is_some_and(|l| l.contains(':'));
    let asked = match tag.filter(|t| !t.is_empty()) {
        Some(tag) if !tagged => format!("{image}:{tag}"),
        _ => image.to_owned(),
    };
    let reference = engine.image_pull(&asked);
    Ok(ApiResponse::json(
        200,
        json!({"status": format!("Status: Image is up to date for {reference}")}),
    ))
}

/// `GET /system/df`: images with their container counts, containers, and
/// the built-in driver's volumes with their reference counts.
pub(crate) async fn system_df(engine: &Engine) -> Result<ApiResponse, EngineError> {
    let containers = engine.container_list(true);
    let images: Vec<Value> = engine
        .image_list()
        .iter()
        .map(|r| {
            let users = containers.iter().filter(|c| c.image == *r).count();
            image_summary(r, users as i64)
        })
        .collect();
    let (vols, _) = engine
        .volumes()
        .list(Some(crate::daemon::volumes::LOCAL))
        .await?;
    let volumes: Vec<Value> = vols
        .iter()
        .map(|v| {
            let mut out = volume_json(v);
            out["UsageData"] = json!({"RefCount": engine.volumes().refs(&v.name).len(), "Size": 0});
            out
        })
        .collect();
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image,
                "ImageID": image_id(&c.image), "Command": c.command,
                "SizeRootFs": IMAGE_SIZE, "State": c.state.name(), "Labels": c.labels,
            })
        })
        .collect();
    Ok(ApiResponse::json(
        200,
        json!({
            "LayersSize": IMAGE_SIZE * engine.image_list().len() as u64,
            "Images": images, "Containers": containers, "Volumes": volumes,
            "BuildCache": null, "BuilderSize": 0,
        }),
    ))
}
