//! The router: a request's method and path select a [`Route`], whose handler
//! (in [`super::handlers`]) runs inside the authz middleware.
//!
//! Paths are matched as dockerd 20.10's router matches them: with or without
//! an API version prefix (`/v1.41/volumes` and `/volumes`), each `{name}`
//! segment percent-decoded. A version outside what the daemon speaks is
//! refused before the handler; a path no route knows is a 404 that never
//! reaches the authz chain (dockerd's not-found handler is outside the
//! middleware).

use super::http::{ApiRequest, WireResponse};
use super::middleware::Exchange;
use crate::daemon::{Engine, EngineError};

/// The server version the simulated daemon reports.
pub const SERVER_VERSION: &str = "20.10.24+dfsg1";
/// The newest Engine API version the daemon speaks (the default).
pub const API_VERSION: &str = "1.41";
/// The oldest API version the daemon accepts.
pub const MIN_API_VERSION: &str = "1.12";

/// An endpoint of the Engine API, with its path parameters (named as in
/// dockerd's route table: `name` of a volume, `id` of a container or
/// network — a name, ID or ID prefix).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET|HEAD /_ping`.
    Ping,
    /// `OPTIONS` on any path: 200, for CORS preflights.
    Options,
    /// `GET /version`.
    Version,
    /// `GET /volumes`.
    VolumeList,
    /// `POST /volumes/create`.
    VolumeCreate,
    /// `GET /volumes/{name}`.
    VolumeInspect { name: String },
    /// `DELETE /volumes/{name}`.
    VolumeRemove { name: String },
    /// `POST /volumes/prune`.
    VolumePrune,
    /// `GET /containers/json`.
    ContainerList,
    /// `POST /containers/create`.
    ContainerCreate,
    /// `GET /containers/{id}/json`.
    ContainerInspect { id: String },
    /// `GET /containers/{id}/logs`.
    ContainerLogs { id: String },
    /// `POST /containers/{id}/start`.
    ContainerStart { id: String },
    /// `POST /containers/{id}/stop`.
    ContainerStop { id: String },
    /// `POST /containers/{id}/kill`.
    ContainerKill { id: String },
    /// `POST /containers/{id}/restart`.
    ContainerRestart { id: String },
    /// `POST /containers/{id}/wait`.
    ContainerWait { id: String },
    /// `POST /containers/{id}/attach`.
    ContainerAttach { id: String },
    /// `DELETE /containers/{id}`.
    ContainerRemove { id: String },
    /// `GET|HEAD|PUT /containers/{id}/archive`.
    ContainerArchive { id: String, method: ArchiveMethod },
    /// `GET /networks`.
    NetworkList,
    /// `POST /networks/create`.
    NetworkCreate,
    /// `GET /networks/{id}`.
    NetworkInspect { id: String },
    /// `DELETE /networks/{id}`.
    NetworkRemove { id: String },
    /// `POST /networks/{id}/connect`.
    NetworkConnect { id: String },
    /// `POST /networks/{id}/disconnect`.
    NetworkDisconnect { id: String },
    /// `POST /networks/prune`.
    NetworkPrune,
    /// `GET /info`.
    Info,
    /// `GET /system/df`.
    SystemDf,
    /// `GET /plugins` (managed plugins: none).
    PluginList,
    /// `GET /images/json`.
    ImageList,
    /// `GET /images/{name}/json` (the name may hold slashes).
    ImageInspect { name: String },
    /// `POST /images/create` (a pull, simulated).
    ImageCreate,
    /// `POST /containers/prune`.
    ContainerPrune,
    /// `POST /containers/{id}/rename`.
    ContainerRename { id: String },
    /// `POST /containers/{id}/update`.
    ContainerUpdate { id: String },
    /// `POST /containers/{id}/pause` and `/unpause` (`pause: false`).
    ContainerPause { id: String, pause: bool },
    /// An endpoint of dockerd's that drydock does not simulate, named for
    /// the client (`exec`, `build`, `top`…).
    NotSimulated { what: &'static str },
    /// A swarm endpoint: this daemon is no swarm manager, as dockerd says.
    NotSwarmManager,
}

/// The three archive endpoints of `docker cp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveMethod {
    /// `HEAD`: stat the path.
    Stat,
    /// `GET`: copy out of the container.
    Get,
    /// `PUT`: extract into the container.
    Put,
}

/// Why the router itself answered, before any handler or middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No route has this method and path: 404 `page not found`.
    NotFound,
    /// The `/vN.NN` prefix names a version newer than the daemon's (400, JSON).
    TooNew(String),
    /// … or older than its minimum (400, plain text).
    TooOld(String),
    /// The path is not in its clean form (`//`, `.`, `..`): 301 to this one.
    Redirect(String),
}

impl From<RouteError> for EngineError {
    fn from(e: RouteError) -> Self {
        match e {
            // An in-process client follows no redirect; the cleaned path
            // routes nowhere a client would send it.
            RouteError::NotFound | RouteError::Redirect(_) => {
                EngineError::not_found("page not found")
            }
            RouteError::TooNew(v) => EngineError::invalid(format!(
                "client version {v} is too new. Maximum supported API version is {API_VERSION}"
            )),
            RouteError::TooOld(v) => EngineError::invalid(format!(
                "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            )),
        }
    }
}

/// Matches a request to its route. `Err` is the router's own answer:
/// 404 for an unknown path (or a known path with another method), 400 for
/// an API version the daemon does not speak.
pub fn route(method: &str, uri: &str) -> Result<Route, RouteError> {
    let (raw, query) = uri
        .split_once('?')
        .map_or((uri, None), |(p, q)| (p, Some(q)));
    // The router matches the decoded path, as gorilla/mux does by default:
    // `%2F` in a name is a `/`.
    let path = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let clean = if is_clean(&path) {
        None
    } else {
        Some(clean_path(&path)).filter(|c| *c != path)
    };
    if let Some(clean) = clean {
        let location = match query {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        return Err(RouteError::Redirect(location));
    }
    let not_found = || RouteError::NotFound;
    let (version, rest) = match versioned(&path) {
        Some((version, rest)) => (Some(version), rest),
        None => (None, &path[..]),
    };
    // At most four segments: no route has more.
    // An image name may hold slashes (`library/busybox`): `/images/{name}/json`.
    if let (Some(image), "GET") = (
        rest.strip_prefix("/images/")
            .and_then(|r| r.strip_suffix("/json")),
        method,
    ) {
        if !image.is_empty() && image != "json" {
            if let Some(version) = version {
                check_version(version)?;
            }
            return Ok(Route::ImageInspect {
                name: image.to_owned(),
            });
        }
    }
    let mut parts = [""; 4];
    let mut n = 0;
    for part in rest.strip_prefix('/').ok_or_else(not_found)?.split('/') {
        *parts.get_mut(n).ok_or_else(not_found)? = part;
        n += 1;
    }
    let name = |s: &str| s.to_owned();
    let not = |what| Route::NotSimulated { what };
    let route = match (method, &parts[..n]) {
        ("OPTIONS", _) => Route::Options,
        ("GET" | "HEAD", ["_ping"]) => Route::Ping,
        ("GET", ["version"]) => Route::Version,
        ("GET", ["volumes"]) => Route::VolumeList,
        ("POST", ["volumes", "create"]) => Route::VolumeCreate,
        ("POST", ["volumes", "prune"]) => Route::VolumePrune,
        ("GET", ["volumes", n]) => Route::VolumeInspect { name: name(n) },
        ("DELETE", ["volumes", n]) => Route::VolumeRemove { name: name(n) },
        ("GET", ["info"]) => Route::Info,
        ("GET", ["system", "df"]) => Route::SystemDf,
        ("GET", ["plugins"]) => Route::PluginList,
        ("GET", ["images", "json"]) => Route::ImageList,
        ("POST", ["images", "create"]) => Route::ImageCreate,
        ("POST", ["containers", "prune"]) => Route::ContainerPrune,
        ("POST", ["networks", "prune"]) => Route::NetworkPrune,
        ("GET", ["events"]) => not("events (GET /events)"),
        ("POST", ["build"]) => not("image builds (POST /build)"),
        ("POST", ["exec", _, _]) | ("GET", ["exec", _, "json"]) => {
            not("exec: its containers run no processes (/exec)")
        }
        ("GET", ["containers", _, "top"]) => {
            not("processes: its containers run none (GET /containers/{id}/top)")
        }
        ("GET", ["containers", _, "stats"]) => {
            not("resource usage: its containers run no processes (GET /containers/{id}/stats)")
        }
        ("GET", ["containers", _, "export"] | ["containers", _, "changes"]) => {
            not("container filesystems (export, changes)")
        }
        ("POST", ["commit"]) => not("commits (POST /commit)"),
        ("POST", ["auth"]) => not("registry logins (POST /auth)"),
        ("GET", ["images", "search"]) => not("registry searches (GET /images/search)"),
        ("POST", ["images", "load"]) | ("GET", ["images", "get"]) => {
            not("image archives (docker load, docker save)")
        }
        ("POST", ["images", _, "push" | "tag"]) | ("GET", ["images", _, "history"]) => {
            not("image push, tag and history")
        }
        ("DELETE", ["images", _]) | ("POST", ["images", "prune"]) => {
            not("removing images (every image stays)")
        }
        (
            _,
            ["swarm", ..]
            | ["nodes", ..]
            | ["services", ..]
            | ["tasks", ..]
            | ["secrets", ..]
            | ["configs", ..],
        ) => Route::NotSwarmManager,
        ("GET", ["containers", "json"]) => Route::ContainerList,
        ("POST", ["containers", "create"]) => Route::ContainerCreate,
        ("DELETE", ["containers", c]) => Route::ContainerRemove { id: name(c) },
        ("GET", ["containers", c, "json"]) => Route::ContainerInspect { id: name(c) },
        ("GET", ["containers", c, "logs"]) => Route::ContainerLogs { id: name(c) },
        ("POST", ["containers", c, action]) => {
            let id = name(c);
            match *action {
                "start" => Route::ContainerStart { id },
                "stop" => Route::ContainerStop { id },
                "kill" => Route::ContainerKill { id },
                "restart" => Route::ContainerRestart { id },
                "wait" => Route::ContainerWait { id },
                "attach" => Route::ContainerAttach { id },
                "rename" => Route::ContainerRename { id },
                "update" => Route::ContainerUpdate { id },
                "pause" => Route::ContainerPause { id, pause: true },
                "unpause" => Route::ContainerPause { id, pause: false },
                "exec" => not("exec: its containers run no processes (POST /containers/{id}/exec)"),
                "resize" => not("terminals (POST /containers/{id}/resize)"),
                _ => return Err(not_found()),
            }
        }
        (m, ["containers", c, "archive"]) => {
            let method = match m {
                "HEAD" => ArchiveMethod::Stat,
                "GET" => ArchiveMethod::Get,
                "PUT" => ArchiveMethod::Put,
                _ => return Err(not_found()),
            };
            Route::ContainerArchive {
                id: name(c),
                method,
            }
        }
        ("GET", ["networks"]) => Route::NetworkList,
        ("POST", ["networks", "create"]) => Route::NetworkCreate,
        ("GET", ["networks", n]) => Route::NetworkInspect { id: name(n) },
        ("DELETE", ["networks", n]) => Route::NetworkRemove { id: name(n) },
        ("POST", ["networks", n, "connect"]) => Route::NetworkConnect { id: name(n) },
        ("POST", ["networks", n, "disconnect"]) => Route::NetworkDisconnect { id: name(n) },
        _ => return Err(not_found()),
    };
    // The version middleware wraps the routes: an unknown path is a 404
    // whatever its version.
    if let Some(version) = version {
        check_version(version)?;
    }
    Ok(route)
}

/// Whether `path` is already in the form [`clean_path`] gives (the common
/// case, checked without building anything).
fn is_clean(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains("//")
        && path.split('/').all(|part| part != "." && part != "..")
}

/// gorilla/mux's `cleanPath`: Go's `path.Clean` (no empty, `.` or `..`
/// segments, no doubled slashes), keeping a trailing slash. A request for
/// any other spelling is redirected to this one.
fn clean_path(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            p => kept.push(p),
        }
    }
    let mut clean = String::with_capacity(path.len() + 1);
    for p in &kept {
        clean.push('/');
        clean.push_str(p);
    }
    if clean.is_empty() || (path.ends_with('/') && !kept.is_empty()) {
        clean.push('/');
    }
    clean
}

/// Splits `/v{version}/rest` (dockerd's `/v{version:[0-9.]+}` prefix).
fn versioned(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/v")?;
    let end = after.find('/').unwrap_or(after.len());
    let version = &after[..end];
    let numeric = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    numeric.then(|| (version, &after[end..]))
}

/// dockerd's version middleware: a client newer or older than the daemon
/// speaks is refused.
fn check_version(version: &str) -> Result<(), RouteError> {
    if version == API_VERSION {
        return Ok(());
    }
    if version_less(API_VERSION, version) {
        return Err(RouteError::TooNew(version.to_owned()));
    }
    if version_less(version, MIN_API_VERSION) {
        return Err(RouteError::TooOld(version.to_owned()));
    }
    Ok(())
}

/// Go's `versions.LessThan`: dot-separated numbers compared in turn, a
/// missing part counting as 0.
fn version_less(a: &str, b: &str) -> bool {
    let number = |part: Option<&str>| part.map_or(0, |p| p.parse::<u64>().unwrap_or(0));
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return false,
            (p, q) => {
                let (p, q) = (number(p), number(q));
                if p != q {
                    return p < q;
                }
            }
        }
    }
}

/// The Engine API of one daemon: every client's requests come in here.
#[derive(Debug, Clone, Copy)]
pub struct Router<'e> {
    engine: &'e Engine,
}

impl<'e> Router<'e> {
    /// The API in front of `engine`.
    pub fn new(engine: &'e Engine) -> Self {
        Router { engine }
    }

    /// The daemon behind the API.
    pub fn engine(&self) -> &'e Engine {
        self.engine
    }

    /// One request, start to end: route, `AuthZReq`, handler, `AuthZRes`.
    pub async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, EngineError> {
        self.open(req).await?.finish().await
    }

    /// The first half of a request, for clients that keep it open while
    /// they go on (the attach and wait of `docker run`): routed and through
    /// `AuthZReq`; the [`Exchange`] runs the handler and closes.
    pub async fn open(&self, req: ApiRequest) -> Result<Exchange<'e>, EngineError> {
        // The daemon starts (validating its authz plugins) before it serves.
        self.engine.ensure_started().await?;
        let route = route(&req.method, &req.uri)?;
        Exchange::open(self.engine, req, route).await
    }

    /// One request as a server answers it on the wire: status, headers and
    /// body bytes as dockerd 20.10 writes them (recorded:
    /// tests/golden/api/raw-router.jsonl). Router errors come without the
    /// daemon's headers, as dockerd's not-found handler and version check
    /// write them.
    pub async fn serve(&self, req: ApiRequest) -> WireResponse {
        let head = req.method == "HEAD";
        if let Err(e) = self.engine.ensure_started().await {
            return WireResponse::error(&e);
        }
        let route = match route(&req.method, &req.uri) {
            Ok(route) => route,
            Err(e) => return WireResponse::routing(e),
        };
        let result = match Exchange::open(self.engine, req, route).await {
            Ok(exchange) => exchange.finish().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(resp) => resp.to_wire(head),
            Err(e) => WireResponse::error(&e),
        }
    }
}

use super::http::ApiResponse;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_with_and_without_a_version() {
        assert_eq!(route("GET", "/v1.41/volumes"), Ok(Route::VolumeList));
        assert_eq!(route("GET", "/volumes?filters=x"), Ok(Route::VolumeList));
        assert_eq!(route("HEAD", "/_ping"), Ok(Route::Ping));
        assert_eq!(
            route("GET", "/v1.41/volumes/a%2Db"),
            Ok(Route::VolumeInspect { name: "a-b".into() })
        );
        // Decoded before matching: `%2F` is a separator.
        assert_eq!(route("GET", "/volumes/a%2Fb"), Err(RouteError::NotFound));
        assert_eq!(
            route("POST", "/v1.24/containers/c1/start"),
            Ok(Route::ContainerStart { id: "c1".into() })
        );
    }

    #[test]
    fn unknown_paths_and_versions_are_refused() {
        let nf = EngineError::from(route("GET", "/v1.41/nope").unwrap_err());
        assert_eq!((nf.status(), nf.message.as_str()), (404, "page not found"));
        assert_eq!(route("PUT", "/volumes"), Err(RouteError::NotFound));
        assert_eq!(route("GET", "/vabc/version"), Err(RouteError::NotFound));
        let new = EngineError::from(route("GET", "/v1.99/version").unwrap_err());
        assert_eq!(new.status(), 400);
        assert_eq!(
            new.message,
            "client version 1.99 is too new. Maximum supported API version is 1.41"
        );
        assert_eq!(
            route("GET", "/v1/version"),
            Err(RouteError::TooOld("1".into()))
        );
        // Routing comes first: an unknown path is not found at any version.
        assert_eq!(route("GET", "/v1.99/nope"), Err(RouteError::NotFound));
    }

    #[test]
    fn unclean_paths_are_redirected_as_gorilla_mux_does() {
        // Recorded: version-double-slash.
        assert_eq!(
            route("GET", "/v1.41//version"),
            Err(RouteError::Redirect("/v1.41/version".into()))
        );
        assert_eq!(
            route("GET", "/volumes/..%2F..%2Fetc?x=1"),
            Err(RouteError::Redirect("/etc?x=1".into()))
        );
        assert_eq!(clean_path("/a/./b/"), "/a/b/");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("/v1.41/version/"), "/v1.41/version/");
        for p in [
            "/v1.41/version",
            "/_ping",
            "/a/b/",
            "/a//b",
            "/a/./b",
            "/..",
            "/a/..",
        ] {
            assert_eq!(is_clean(p), clean_path(p) == p, "{p}");
        }
        assert!(version_less("1.9", "1.12") && !version_less("1.41", "1.41"));
    }
}
