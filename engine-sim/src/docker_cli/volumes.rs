//! `docker volume …`: requests and output.

use super::format::{inspect_outcome, tabwrite};
use super::{body, field, filters_query, DockerCli, Outcome, VolumeCommand};
use crate::api::{ApiRequest, API_VERSION};
use serde_json::{json, Map, Value};

impl DockerCli<'_> {
    pub(super) async fn volume(&self, cmd: &VolumeCommand) -> Outcome {
        match cmd {
            VolumeCommand::Create {
                name,
                driver,
                opts,
                labels,
            } => {
                // The CLI sends no DriverOpts or Labels map unless -o or
                // --label was given (a 20.10 daemon then shows `"Opts": null`).
                let mut b = Map::new();
                b.insert("Driver".into(), json!(driver.as_deref().unwrap_or("local")));
                if !opts.is_empty() {
                    b.insert("DriverOpts".into(), json!(opts));
                }
                if !labels.is_empty() {
                    b.insert("Labels".into(), json!(labels));
                }
                if let Some(n) = name {
                    b.insert("Name".into(), json!(n));
                }
                let req = ApiRequest::post_json("/volumes/create", &Value::Object(b));
                match self.send(req).await {
                    Ok(resp) => Outcome::ok(field(body(&resp), "Name")),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            VolumeCommand::Ls { quiet, filters } => {
                let req = ApiRequest::get(&format!("/volumes{}", filters_query(filters)));
                let resp = match self.send(req).await {
                    Ok(resp) => resp,
                    Err(e) => return Outcome::failed(e.message),
                };
                let empty = Vec::new();
                let vols = body(&resp)["Volumes"].as_array().unwrap_or(&empty);
                if *quiet {
                    let names: Vec<&str> = vols.iter().map(|v| field(v, "Name")).collect();
                    return Outcome::ok(names.join("\n"));
                }
                let mut rows = vec![vec!["DRIVER".to_owned(), "VOLUME NAME".to_owned()]];
                rows.extend(
                    vols.iter()
                        .map(|v| vec![field(v, "Driver").to_owned(), field(v, "Name").to_owned()]),
                );
                Outcome::ok(tabwrite(&rows))
            }
            VolumeCommand::Inspect { format, names } => {
                let mut items = Vec::new();
                let mut errors = Vec::new();
                for n in names {
                    match self.send(ApiRequest::get(&format!("/volumes/{n}"))).await {
                        Ok(resp) => items.push(inspect_view(body(&resp))),
                        Err(e) => errors.push(e.message),
                    }
                }
                inspect_outcome(items, errors, format.as_deref())
            }
            VolumeCommand::Rm { force, names } => {
                self.each(names, |n| async move {
                    let q = if *force { "?force=1" } else { "" };
                    self.send(ApiRequest::delete(&format!("/volumes/{n}{q}")))
                        .await
                        .map(|_| n)
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
                let resp = match self.send(req).await {
                    Ok(resp) => resp,
                    Err(e) => return Outcome::failed(e.message),
                };
                let removed: Vec<&str> = body(&resp)["VolumesDeleted"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut out = String::new();
                if !removed.is_empty() {
                    out.push_str("Deleted Volumes:\n");
                    out.push_str(&removed.join("\n"));
                    out.push_str("\n\n");
                }
                out.push_str("Total reclaimed space: 0B");
                Outcome::ok(out)
            }
        }
    }
}

/// A volume as `docker volume inspect` prints it: the API's fields in the
/// CLI's order, `Status` always present.
fn inspect_view(v: &Value) -> Value {
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "CreatedAt": get("CreatedAt"),
        "Driver": get("Driver"),
        "Labels": get("Labels"),
        "Mountpoint": get("Mountpoint"),
        "Name": get("Name"),
        "Options": get("Options"),
        "Scope": get("Scope"),
        "Status": get("Status"),
    })
}

#[cfg(test)]
mod tests {
    use crate::daemon::{Engine, EngineConfig};
    use crate::docker_cli::{docker, DockerCommand, VolumeCommand};

    #[tokio::test]
    async fn prune_all_is_refused_by_the_cli_against_api_1_41() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(EngineConfig::in_dir(dir.path(), 1));
        let cmd = DockerCommand::Volume(VolumeCommand::Prune {
            all: true,
            filters: vec![],
        });
        // Recorded: tests/golden/v-prune-df.jsonl (`docker volume prune -af`).
        assert_eq!(
            docker(&engine, &cmd).await.error.as_deref(),
            Some("\"--all\" requires API version 1.42, but the Docker daemon API version is 1.41")
        );
    }
}
