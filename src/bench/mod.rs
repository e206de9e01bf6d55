//! `drydock bench`'s load generator: drives one activated plugin with the
//! engine's own [`PluginClient`] (so every request is byte-identical to
//! dockerd's) and measures each method's latency distribution.
//!
//! * [`Workload`] — what one "request" of a method is, after the set-up it
//!   needs (a volume to Get or Mount, a pool to take addresses from, a
//!   representative authorization body), and how to undo that set-up.
//! * [`run_method`] — warm-up, then `concurrency` workers issuing requests back
//!   to back until a duration or a request count is reached; latencies go to
//!   an HDR histogram, failures are counted by kind with an example each.
//! * [`report`] — text and JSON reports; [`svg`] — the percentile plot.
//!
//! Calls are made without dockerd's retry-with-backoff: a failing plugin must
//! show up as counted errors, not as 30-second stalls that would hide the
//! latency of everything else.

pub mod report;
pub mod svg;

use bytes::Bytes;
use drydock_engine::plugins::client::{CallError, CallOptions, PluginClient};
use drydock_sdk::wire::authz::AuthzRequest;
use drydock_sdk::wire::encode_go;
use drydock_sdk::wire::ipam as iw;
use drydock_sdk::wire::plugin::{ActivateResponse, Protocol};
use drydock_sdk::wire::volume::{CreateRequest, EmptyRequest, MountRequest, NameRequest};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The per-attempt limit on every benchmarked call: dockerd's volume proxy
/// allows one minute for most calls; a plugin slower than that is broken.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The composite method names `drydock bench` understands besides plain RPCs.
pub const MOUNT_UNMOUNT: &str = "VolumeDriver.Mount+Unmount";
/// An IPAM address taken and given back as one request.
pub const ADDRESS_PAIR: &str = "IpamDriver.RequestAddress+ReleaseAddress";

/// The methods benchmarked by default for a plugin announcing `manifest`:
/// those it implements that can be repeated without changing its state.
pub fn default_methods(manifest: &ActivateResponse) -> Vec<String> {
    let mut out = Vec::new();
    if manifest.implements(Protocol::VolumeDriver) {
        out.extend(
            [
                "VolumeDriver.Get",
                "VolumeDriver.List",
                "VolumeDriver.Capabilities",
                MOUNT_UNMOUNT,
            ]
            .map(String::from),
        );
    }
    if manifest.implements(Protocol::IpamDriver) {
        out.extend(
            [
                "IpamDriver.GetCapabilities",
                "IpamDriver.GetDefaultAddressSpaces",
                ADDRESS_PAIR,
            ]
            .map(String::from),
        );
    }
    if manifest.implements(Protocol::Authz) {
        out.extend(["AuthZPlugin.AuthZReq", "AuthZPlugin.AuthZRes"].map(String::from));
    }
    if manifest.implements(Protocol::NetworkDriver) {
        out.push("NetworkDriver.GetCapabilities".into());
    }
    out
}

/// When a measurement ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// After this long.
    Duration(Duration),
    /// After this many requests (across all workers).
    Requests(u64),
}

/// How one method is driven.
#[derive(Debug, Clone)]
pub struct Options {
    /// When to stop measuring.
    pub stop: Stop,
    /// Requests in flight at once (one worker task each).
    pub concurrency: usize,
    /// Unmeasured load before measuring.
    pub warmup: Duration,
}

/// A failed request, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `transport`, `timeout`, `http NNN`, `in-band Err`, `bad body` or `setup`.
    pub kind: String,
    /// The error as dockerd would word it.
    pub text: String,
}

impl Failure {
    fn new(kind: impl Into<String>, text: impl Into<String>) -> Self {
        Failure {
            kind: kind.into(),
            text: text.into(),
        }
    }
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        let kind = match &e {
            CallError::Transport { .. } => "transport".to_owned(),
            CallError::Timeout { .. } => "timeout".to_owned(),
            CallError::Status { status, .. } => format!("http {status}"),
            CallError::Decode(_) => "bad body".to_owned(),
        };
        Failure::new(kind, e.to_string())
    }
}

/// What one request of a method does, once its set-up is done.
#[derive(Debug)]
pub enum Workload {
    /// One RPC with a fixed body; a 200 answer is checked for the protocol's
    /// in-band error field.
    Single {
        /// The RPC method.
        method: String,
        /// The request body, encoded as Go encodes it.
        body: Bytes,
        /// `Err`, or `Error` for IPAM.
        err_field: &'static str,
    },
    /// Mount then Unmount of one volume, each with a fresh mount ID.
    MountUnmount {
        /// The volume.
        volume: String,
        /// Source of unique mount IDs.
        next_id: AtomicU64,
    },
    /// RequestAddress then ReleaseAddress of whatever address the plugin gave.
    AddressPair {
        /// The pool addresses come from.
        pool_id: String,
    },
}

/// A call with the benchmark's options: dockerd's bytes, no retries.
async fn call(client: &PluginClient, method: &str, body: Bytes) -> Result<Bytes, Failure> {
    let opts = CallOptions {
        timeout: Some(CALL_TIMEOUT),
        no_retry: true,
    };
    Ok(client.call_raw(method, body, opts).await?)
}

/// Checks a 200 body for an in-band error and returns the decoded object.
fn in_band(
    method: &str,
    body: &[u8],
    field: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    let value: serde_json::Value = if body.is_empty() {
        return Err(Failure::new("bad body", format!("{method}: EOF")));
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Failure::new("bad body", format!("{method}: {e}")))?
    };
    let serde_json::Value::Object(map) = value else {
        return Err(Failure::new(
            "bad body",
            format!("{method}: not a JSON object"),
        ));
    };
    if let Some(err) = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(field))
        .and_then(|(_, v)| v.as_str())
    {
        if !err.is_empty() {
            return Err(Failure::new("in-band Err", format!("{method}: {err}")));
        }
    }
    Ok(map)
}

/// Checks a 200 body for an in-band error without building a JSON tree when
/// the field cannot be there (the common case, kept cheap so the check does
/// not dominate a 20 µs round trip).
fn check(method: &str, body: &[u8], field: &str) -> Result<(), Failure> {
    // Only a quoted key can be the field (Go matches keys case-insensitively);
    // a body with escapes might spell it `\u0045rr`, so those get the full parse.
    let needle = field.as_bytes();
    let n = needle.len();
    let mentions = body.contains(&b'\\')
        || body.iter().enumerate().any(|(i, &b)| {
            b == b'"'
                && body.get(i + 1 + n) == Some(&b'"')
                && body[i + 1..i + 1 + n].eq_ignore_ascii_case(needle)
        });
    if !body.is_empty() && !mentions {
        return Ok(());
    }
    in_band(method, body, field).map(|_| ())
}

impl Workload {
    /// Runs one request.
    pub async fn once(&self, client: &PluginClient) -> Result<(), Failure> {
        match self {
            Workload::Single {
                method,
                body,
                err_field,
            } => {
                let reply = call(client, method, body.clone()).await?;
                check(method, &reply, err_field)
            }
            Workload::MountUnmount { volume, next_id } => {
                let n = next_id.fetch_add(1, Ordering::Relaxed);
                let req = MountRequest {
                    name: volume.clone(),
                    id: format!("{:064x}", 0xb0_0000_0000u64 + n),
                };
                let body = Bytes::from(encode_go(&req));
                let m = "VolumeDriver.Mount";
                check(m, &call(client, m, body.clone()).await?, "Err")?;
                let u = "VolumeDriver.Unmount";
                check(u, &call(client, u, body).await?, "Err")
            }
            Workload::AddressPair { pool_id } => {
                let req = iw::RequestAddressRequest {
                    pool_id: pool_id.clone(),
                    address: String::new(),
                    options: Some(BTreeMap::new()),
                };
                let m = "IpamDriver.RequestAddress";
                let reply = call(client, m, Bytes::from(encode_go(&req))).await?;
                let map = in_band(m, &reply, "Error")?;
                let cidr = map.get("Address").and_then(|v| v.as_str()).unwrap_or("");
                let address = cidr.split('/').next().unwrap_or("").to_owned();
                if address.is_empty() {
                    return Err(Failure::new("in-band Err", format!("{m}: no address")));
                }
                let rel = iw::ReleaseAddressRequest {
                    pool_id: pool_id.clone(),
                    address,
                };
                let r = "IpamDriver.ReleaseAddress";
                check(
                    r,
                    &call(client, r, Bytes::from(encode_go(&rel))).await?,
                    "Error",
                )
            }
        }
    }
}

/// The set-up a method needed, undone by [`Fixture::teardown`].
#[derive(Debug, Default)]
pub struct Fixture {
    /// The volume Get, Path and Mount+Unmount use, once known.
    volume: Option<String>,
    /// `--volume NAME`: measure on this volume, never Create or Remove.
    existing: Option<String>,
    /// `--create-opt K=V`: the Opts of the benchmark's Create.
    create_opts: Option<BTreeMap<String, String>>,
    /// Why the volume could not be had, so each method reports it without
    /// asking the plugin again.
    volume_failure: Option<Failure>,
    pool: Option<String>,
}

/// What a user can do when the plugin will not create the benchmark's volume.
pub const CREATE_HINT: &str = "the plugin refused to create the benchmark's volume: \
    pass the options its Create needs with --create-opt K=V, \
    or measure a volume that already exists with --volume NAME";

/// A volume name no other run uses.
fn unique_volume() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("drydock-bench-{}-{nanos:x}", std::process::id())
}

/// The representative authorization request: `docker run`'s container create.
fn authz_body(response: bool) -> Bytes {
    let create = br#"{"Hostname":"","User":"","Env":null,"Cmd":["true"],"Image":"bb:latest","Volumes":{},"HostConfig":{"Binds":["vol1:/d"],"AutoRemove":true,"Privileged":false},"NetworkingConfig":{"EndpointsConfig":{}}}"#;
    let mut headers = BTreeMap::new();
    headers.insert("Content-Type".to_owned(), "application/json".to_owned());
    headers.insert(
        "User-Agent".to_owned(),
        "Docker-Client/28.2.2 (linux)".to_owned(),
    );
    let mut req = AuthzRequest {
        request_method: "POST".into(),
        request_uri: "/v1.41/containers/create".into(),
        request_body: Some(create.to_vec()),
        request_headers: Some(headers),
        ..AuthzRequest::default()
    };
    if response {
        req.response_status_code = 201;
        req.response_body = Some(
            br#"{"Id":"4f1c7e2b9a0d3c6e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70","Warnings":[]}"#
                .to_vec(),
        );
        let mut h = BTreeMap::new();
        h.insert("Content-Type".to_owned(), "application/json".to_owned());
        req.response_headers = Some(h);
    }
    Bytes::from(encode_go(&req))
}

impl Fixture {
    /// Measure on the existing volume `name` (`--volume`): no Create, no Remove.
    pub fn existing_volume(mut self, name: Option<String>) -> Self {
        self.existing = name;
        self
    }

    /// The `Opts` of the benchmark volume's Create (`--create-opt`); `None`
    /// sends `null`, as `docker volume create` without `-o` does.
    pub fn create_opts(mut self, opts: Option<BTreeMap<String, String>>) -> Self {
        self.create_opts = opts;
        self
    }

    /// Prepares what `method` needs on `client`'s plugin and returns its workload.
    pub async fn prepare(
        &mut self,
        client: &PluginClient,
        method: &str,
    ) -> Result<Workload, Failure> {
        let single = |body: Vec<u8>, err_field| Workload::Single {
            method: method.to_owned(),
            body: Bytes::from(body),
            err_field,
        };
        Ok(match method {
            "VolumeDriver.Get" | "VolumeDriver.Path" => {
                let name = self.volume(client).await?;
                single(encode_go(&NameRequest { name }), "Err")
            }
            MOUNT_UNMOUNT => Workload::MountUnmount {
                volume: self.volume(client).await?,
                next_id: AtomicU64::new(0),
            },
            ADDRESS_PAIR => Workload::AddressPair {
                pool_id: self.pool(client).await?,
            },
            "AuthZPlugin.AuthZReq" => single(authz_body(false).to_vec(), "Err"),
            "AuthZPlugin.AuthZRes" => single(authz_body(true).to_vec(), "Err"),
            // dockerd sends `{}` for these volume calls and nothing for IPAM's.
            m if m.starts_with("VolumeDriver.") => single(encode_go(&EmptyRequest {}), "Err"),
            m if m.starts_with("IpamDriver.") => single(Vec::new(), "Error"),
            _ => single(Vec::new(), "Err"),
        })
    }

    async fn volume(&mut self, client: &PluginClient) -> Result<String, Failure> {
        if let Some(v) = &self.volume {
            return Ok(v.clone());
        }
        if let Some(f) = &self.volume_failure {
            return Err(f.clone());
        }
        let got = match self.existing.clone() {
            Some(name) => {
                // Asked once, so a misspelt name is one clear set-up error
                // rather than every request failing.
                let m = "VolumeDriver.Get";
                let body = Bytes::from(encode_go(&NameRequest { name: name.clone() }));
                async { check(m, &call(client, m, body).await?, "Err") }
                    .await
                    .map(|()| name.clone())
                    .map_err(|f| {
                        Failure::new(
                            "setup",
                            format!("--volume {name}: {} (the volume must exist)", f.text),
                        )
                    })
            }
            None => {
                let name = unique_volume();
                let req = CreateRequest {
                    name: name.clone(),
                    opts: self.create_opts.clone(),
                };
                let m = "VolumeDriver.Create";
                let body = Bytes::from(encode_go(&req));
                async { check(m, &call(client, m, body).await?, "Err") }
                    .await
                    .map(|()| name)
                    .map_err(|f| Failure::new("setup", format!("{}; {CREATE_HINT}", f.text)))
            }
        };
        match &got {
            Ok(name) => self.volume = Some(name.clone()),
            Err(f) => self.volume_failure = Some(f.clone()),
        }
        got
    }

    async fn pool(&mut self, client: &PluginClient) -> Result<String, Failure> {
        if let Some(p) = &self.pool {
            return Ok(p.clone());
        }
        let m = "IpamDriver.GetDefaultAddressSpaces";
        let reply = call(client, m, Bytes::new()).await.map_err(setup)?;
        let spaces = in_band(m, &reply, "Error").map_err(setup)?;
        let space = spaces
            .get("LocalDefaultAddressSpace")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let req = iw::RequestPoolRequest {
            address_space: space,
            options: Some(BTreeMap::new()),
            ..Default::default()
        };
        let m = "IpamDriver.RequestPool";
        let reply = call(client, m, Bytes::from(encode_go(&req)))
            .await
            .map_err(setup)?;
        let map = in_band(m, &reply, "Error").map_err(setup)?;
        let id = map
            .get("PoolID")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        self.pool = Some(id.clone());
        Ok(id)
    }

    /// Removes the volume and releases the pool this fixture created; failures
    /// are returned as warnings, the run's results stand.
    pub async fn teardown(&mut self, client: &PluginClient) -> Vec<String> {
        let mut warnings = Vec::new();
        // A `--volume` is the user's: only the benchmark's own is removed.
        if let Some(name) = self.volume.take().filter(|_| self.existing.is_none()) {
            let m = "VolumeDriver.Remove";
            let body = Bytes::from(encode_go(&NameRequest { name: name.clone() }));
            if let Err(e) = async { check(m, &call(client, m, body).await?, "Err") }.await {
                warnings.push(format!("could not remove volume {name}: {}", e.text));
            }
        }
        if let Some(pool_id) = self.pool.take() {
            let m = "IpamDriver.ReleasePool";
            let body = Bytes::from(encode_go(&iw::ReleasePoolRequest {
                pool_id: pool_id.clone(),
            }));
            if let Err(e) = async { check(m, &call(client, m, body).await?, "Error") }.await {
                warnings.push(format!("could not release pool {pool_id}: {}", e.text));
            }
        }
        warnings
    }
}

fn setup(f: Failure) -> Failure {
    Failure::new("setup", f.text)
}

/// Errors of one kind: how many, and the first one seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// The kind (see [`Failure::kind`]).
    pub kind: String,
    /// How many requests failed this way.
    pub count: u64,
    /// The first such error, as dockerd would word it.
    pub example: String,
}

/// The measurement of one method.
#[derive(Debug, Clone)]
pub struct MethodResult {
    /// The method (an RPC or a composite such as [`MOUNT_UNMOUNT`]).
    pub method: String,
    /// Requests completed during the measurement, failed ones included.
    pub requests: u64,
    /// Failed requests by kind.
    pub errors: Vec<ErrorCount>,
    /// How long the measurement took.
    pub elapsed: Duration,
    /// Latency of every request, in nanoseconds.
    pub histogram: Histogram<u64>,
}

impl MethodResult {
    /// Total failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.iter().map(|e| e.count).sum()
    }

    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.requests as f64 / s
        } else {
            0.0
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static histogram bounds")
}

/// One worker's tallies.
struct Tally {
    histogram: Histogram<u64>,
    errors: BTreeMap<String, (u64, String)>,
    requests: u64,
}

/// Drives `workload` with `opts` over `clients` (worker `i` uses client
/// `i % clients.len()`), counting completed requests in `progress`.
pub async fn run_method(
    method: &str,
    workload: Arc<Workload>,
    clients: &[PluginClient],
    opts: &Options,
    progress: Arc<AtomicU64>,
) -> MethodResult {
    if !opts.warmup.is_zero() {
        let warm = Options {
            stop: Stop::Duration(opts.warmup),
            warmup: Duration::ZERO,
            ..opts.clone()
        };
        drive(&workload, clients, &warm, Arc::new(AtomicU64::new(0))).await;
    }
    let started = Instant::now();
    let tallies = drive(&workload, clients, opts, progress).await;
    let elapsed = started.elapsed();
    let mut histogram = new_histogram();
    let mut errors: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut requests = 0;
    for t in tallies {
        histogram.add(&t.histogram).expect("same histogram bounds");
        requests += t.requests;
        for (kind, (n, example)) in t.errors {
            let e = errors.entry(kind).or_insert((0, example));
            e.0 += n;
        }
    }
    MethodResult {
        method: method.to_owned(),
        requests,
        errors: errors
            .into_iter()
            .map(|(kind, (count, example))| ErrorCount {
                kind,
                count,
                example,
            })
            .collect(),
        elapsed,
        histogram,
    }
}

/// A method whose set-up failed: no requests, one `setup` error.
pub fn setup_failed(method: &str, failure: Failure) -> MethodResult {
    MethodResult {
        method: method.to_owned(),
        requests: 0,
        errors: vec![ErrorCount {
            kind: failure.kind,
            count: 1,
            example: failure.text,
        }],
        elapsed: Duration::ZERO,
        histogram: new_histogram(),
    }
}

async fn drive(
    workload: &Arc<Workload>,
    clients: &[PluginClient],
    opts: &Options,
    progress: Arc<AtomicU64>,
) -> Vec<Tally> {
    let issued = Arc::new(AtomicU64::new(0));
    let deadline = match opts.stop {
        Stop::Duration(d) => Some(Instant::now() + d),
        Stop::Requests(_) => None,
    };
    let limit = match opts.stop {
        Stop::Requests(n) => n,
        Stop::Duration(_) => u64::MAX,
    };
    let mut tasks = Vec::with_capacity(opts.concurrency);
    for i in 0..opts.concurrency.max(1) {
        let client = clients[i % clients.len()].clone();
        let workload = workload.clone();
        let issued = issued.clone();
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = Tally {
                histogram: new_histogram(),
                errors: BTreeMap::new(),
                requests: 0,
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d)
                    || issued.fetch_add(1, Ordering::Relaxed) >= limit
                {
                    break;
                }
                let start = Instant::now();
                let outcome = workload.once(&client).await;
                let nanos = start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
                t.histogram.saturating_record(nanos.max(1));
                t.requests += 1;
                progress.fetch_add(1, Ordering::Relaxed);
                if let Err(f) = outcome {
                    let e = t.errors.entry(f.kind).or_insert((0, f.text));
                    e.0 += 1;
                }
            }
            t
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(t) => out.push(t),
            // A worker that panicked lost its tallies; the others stand.
            Err(e) => tracing::error!("bench worker failed: {e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_band_errors_are_found_in_either_field() {
        assert!(check("M", br#"{"Err":""}"#, "Err").is_ok());
        assert!(check("M", br#"{"Volume":{}}"#, "Err").is_ok());
        let f = check("M", br#"{"Err":"boom"}"#, "Err").unwrap_err();
        assert_eq!(f.kind, "in-band Err");
        assert_eq!(f.text, "M: boom");
        let f = check("M", br#"{"Error":"no pool"}"#, "Error").unwrap_err();
        assert_eq!(f.text, "M: no pool");
        assert_eq!(check("M", b"", "Err").unwrap_err().kind, "bad body");
        // Go matches keys case-insensitively, escapes included.
        assert!(check("M", br#"{"err":"lower"}"#, "Err").is_err());
        assert!(check("M", br#"{"\u0045rr":"escaped"}"#, "Err").is_err());
        assert!(check("M", br#"{"Name":"Err"}"#, "Err").is_ok());
    }

    #[test]
    fn defaults_follow_the_manifest() {
        let m = ActivateResponse {
            implements: Some(vec!["VolumeDriver".into(), "authz".into()]),
        };
        let methods = default_methods(&m);
        assert!(methods.contains(&MOUNT_UNMOUNT.to_owned()));
        assert!(methods.contains(&"AuthZPlugin.AuthZReq".to_owned()));
        assert!(!methods.iter().any(|m| m.starts_with("Ipam")));
    }
}
