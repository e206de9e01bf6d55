//! Test plugins that answer exactly like the recording plugins behind the real
//! dockerd traces in `tests/golden/` (see its README), so a scenario replaying
//! a recording sees the same answers and must cause the same calls.
//!
//! Scenario kinds `golden-volume` (`#@ plugin gvol golden-volume`) and
//! `golden-authz` (`#@ plugin gauthz golden-authz deny_req=/volumes/create`).

use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{AuthzPlugin, PluginError, VolumeDriver};
use serde_json::{json, Map};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The recording volume plugin: Create makes `<dir>/<Name>` (idempotent); an
/// unknown name gets a 200 `{"Err": "no such volume: NAME"}`; Mount adds its ID
/// to the volume's set and Unmount removes it; Remove of a volume with IDs
/// answers `{"Err": "volume NAME is in use"}`; successful answers carry no error.
#[derive(Debug)]
pub struct GoldenVolume {
    dir: String,
    volumes: Mutex<BTreeMap<String, Vec<String>>>,
    /// Where the volumes are kept across restarts, as the recording plugin
    /// keeps them (`faultplug.py --datadir`), so a killed and restarted
    /// plugin still knows its volumes.
    state: Option<std::path::PathBuf>,
}

/// The fixed creation time the golden plugin reports (real recordings have
/// the wall clock; comparisons ignore it).
pub const GOLDEN_CREATED_AT: &str = "2026-11-22T03:03:39Z";

impl GoldenVolume {
    /// A plugin named `name`, with volumes under `/srv/plugin-data/vols-NAME`
    /// as in the recordings.
    pub fn new(name: &str) -> Self {
        GoldenVolume {
            dir: format!("/srv/plugin-data/vols-{name}"),
            volumes: Mutex::new(BTreeMap::new()),
            state: None,
        }
    }

    /// Like [`GoldenVolume::new`], with its volumes (and their mount IDs)
    /// saved in `file` after every change and read back when it starts.
    pub fn persistent(name: &str, file: std::path::PathBuf) -> Self {
        let saved = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        GoldenVolume {
            volumes: Mutex::new(saved),
            state: Some(file),
            ..GoldenVolume::new(name)
        }
    }

    fn save(&self, vols: &BTreeMap<String, Vec<String>>) {
        if let Some(file) = &self.state {
            if let Ok(text) = serde_json::to_vec(vols) {
                let _ = std::fs::write(file, text);
            }
        }
    }

    fn no_such(name: &str) -> PluginError {
        PluginError::in_band(format!("no such volume: {name}"))
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }
}

impl VolumeDriver for GoldenVolume {
    async fn create(&self, req: CreateRequest) -> Result<(), PluginError> {
        let mut vols = self.volumes.lock().unwrap();
        vols.entry(req.name).or_default();
        self.save(&vols);
        Ok(())
    }

    async fn remove(&self, req: NameRequest) -> Result<(), PluginError> {
        let mut vols = self.volumes.lock().unwrap();
        match vols.get(&req.name) {
            None => Err(Self::no_such(&req.name)),
            Some(ids) if !ids.is_empty() => Err(PluginError::in_band(format!(
                "volume {} is in use",
                req.name
            ))),
            Some(_) => {
                vols.remove(&req.name);
                self.save(&vols);
                Ok(())
            }
        }
    }

    async fn mount(&self, req: MountRequest) -> Result<String, PluginError> {
        let mut vols = self.volumes.lock().unwrap();
        let ids = vols
            .get_mut(&req.name)
            .ok_or_else(|| Self::no_such(&req.name))?;
        if !ids.contains(&req.id) {
            ids.push(req.id);
        }
        self.save(&vols);
        Ok(self.path(&req.name))
    }

    async fn path(&self, req: NameRequest) -> Result<String, PluginError> {
        let vols = self.volumes.lock().unwrap();
        vols.get(&req.name)
            .map(|_| self.path(&req.name))
            .ok_or_else(|| Self::no_such(&req.name))
    }

    async fn unmount(&self, req: MountRequest) -> Result<(), PluginError> {
        let mut vols = self.volumes.lock().unwrap();
        let ids = vols
            .get_mut(&req.name)
            .ok_or_else(|| Self::no_such(&req.name))?;
        ids.retain(|i| *i != req.id);
        self.save(&vols);
        Ok(())
    }

    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        let vols = self.volumes.lock().unwrap();
        let ids = vols
            .get(&req.name)
            .ok_or_else(|| Self::no_such(&req.name))?;
        let mut status = Map::new();
        status.insert("mounts".into(), json!(ids));
        Ok(Volume {
            name: req.name.clone(),
            mountpoint: self.path(&req.name),
            created_at: Some(GOLDEN_CREATED_AT.into()),
            status: Some(status),
        })
    }

    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        let vols = self.volumes.lock().unwrap();
        Ok(vols
            .keys()
            .map(|n| Volume {
                name: n.clone(),
                mountpoint: self.path(n),
                ..Default::default()
            })
            .collect())
    }
}

/// The recording authz plugin (scenario kind `golden-authz`): allows everything
/// except requests whose `RequestUri` contains a configured substring. Settings
/// (each may repeat), checked in this order per phase:
/// * `err_req=S` / `err_res=S` — HTTP 500 `{"Err": "recplug error at AuthZReq: URI"}`;
/// * `errok_req=S` / `errok_res=S` — 200 `{"Allow": false, "Err": "recplug in-band error at …"}`;
/// * `deny_req=S` / `deny_res=S` — 200 `{"Allow": false, "Msg": "denied by recplug: URI"}`.
#[derive(Debug, Default)]
pub struct GoldenAuthz {
    rules: Vec<(String, String)>,
}

/// The settings `golden-authz` accepts.
pub const GOLDEN_AUTHZ_SETTINGS: &[&str] = &[
    "deny_req",
    "deny_res",
    "err_req",
    "err_res",
    "errok_req",
    "errok_res",
];

impl GoldenAuthz {
    /// A plugin with `(setting, substring)` rules.
    pub fn new(rules: Vec<(String, String)>) -> Self {
        GoldenAuthz { rules }
    }

    fn answer(&self, phase: &str, method: &str, uri: &str) -> Result<AuthzResponse, PluginError> {
        let hit = |kind: &str| {
            self.rules
                .iter()
                .any(|(k, s)| *k == format!("{kind}_{phase}") && uri.contains(s.as_str()))
        };
        if hit("err") {
            return Err(PluginError::new(format!(
                "recplug error at {method}: {uri}"
            )));
        }
        if hit("errok") {
            return Ok(AuthzResponse {
                allow: false,
                msg: String::new(),
                err: format!("recplug in-band error at {method}: {uri}"),
            });
        }
        if hit("deny") {
            return Ok(AuthzResponse::deny(format!("denied by recplug: {uri}")));
        }
        Ok(AuthzResponse::allow())
    }
}

impl AuthzPlugin for GoldenAuthz {
    async fn authz_req(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        self.answer("req", "AuthZReq", &req.request_uri)
    }

    async fn authz_res(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        self.answer("res", "AuthZRes", &req.request_uri)
    }
}
