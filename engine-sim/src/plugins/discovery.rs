//! Plugin discovery, as dockerd 20.10's `pkg/plugins` does it (protocol.md §1).
//!
//! A name `N` resolves, first hit wins, to: `SOCKETS/N.sock`, `SOCKETS/N/N.sock`
//! (both must be sockets, symlinks followed), then for each spec directory in
//! order `D/N.spec`, `D/N/N.spec`, `D/N.json`, `D/N/N.json` (existence only; a
//! file that fails to parse is an error, with no fall-through). Every root is
//! injectable through [`PluginRoots`]; the defaults are dockerd's real paths.

use serde_json::Value;
use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Where plugins are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRoots {
    /// Directory of plugin sockets (dockerd: `/run/docker/plugins`).
    pub sockets_dir: PathBuf,
    /// Spec directories in priority order (dockerd: `/etc/docker/plugins`,
    /// `/usr/lib/docker/plugins`).
    pub spec_dirs: Vec<PathBuf>,
}

impl Default for PluginRoots {
    fn default() -> Self {
        PluginRoots {
            sockets_dir: PathBuf::from("/run/docker/plugins"),
            spec_dirs: vec![
                PathBuf::from("/etc/docker/plugins"),
                PathBuf::from("/usr/lib/docker/plugins"),
            ],
        }
    }
}

/// Which discovery form found a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `SOCKETS/N.sock`.
    Socket,
    /// `SOCKETS/N/N.sock`.
    SocketInDir,
    /// A `.spec` file holding a URL.
    Spec,
    /// A `.json` file with `Addr` and optional `TLSConfig`.
    Json,
}

impl SourceKind {
    /// A short label for listings.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Socket => "socket",
            SourceKind::SocketInDir => "socket-dir",
            SourceKind::Spec => "spec",
            SourceKind::Json => "json",
        }
    }
}

/// TLS options from a `.json` spec's `TLSConfig` (go-connections `tlsconfig.Options`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA bundle to verify the plugin's certificate with.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (used only together with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// Skip server certificate verification.
    pub insecure_skip_verify: bool,
}

/// A plugin found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The plugin name (always from the file name; a `.json` `Name` is ignored).
    pub name: String,
    /// How it was found.
    pub kind: SourceKind,
    /// The socket or spec file that matched.
    pub path: PathBuf,
    /// The address as dockerd stores it (`unix:///…`, `tcp://…`, `https://…`).
    pub addr: String,
    /// TLS options: `Some` for sockets and `.spec` files (skip-verify, as dockerd
    /// sets it) and for `.json` files with a `TLSConfig`; `None` for a `.json`
    /// without one, which means Go's default verification against system roots.
    pub tls: Option<TlsOptions>,
}

/// Discovery failures. Display texts follow dockerd's.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Nothing matched (dockerd wraps `ErrNotFound` this way).
    #[error("could not find plugin {0} in v1 plugin registry: plugin not found")]
    NotFound(String),
    /// An empty name.
    #[error("Unable to find plugin without name")]
    EmptyName,
    /// A spec file without a URL scheme.
    #[error("Unknown protocol")]
    UnknownProtocol {
        /// The offending file.
        path: PathBuf,
    },
    /// A spec or json file could not be read or parsed.
    #[error("{message}")]
    BadSpec {
        /// The offending file.
        path: PathBuf,
        /// What went wrong, in Go's words where known.
        message: String,
    },
    /// A directory could not be listed while scanning.
    #[error("error reading dir entries: {0}")]
    Scan(#[source] io::Error),
}

impl DiscoveryError {
    /// Whether this is the "not found" case (dockerd's `errors.Cause(err) == ErrNotFound`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, DiscoveryError::NotFound(_))
    }

    /// The spec file at fault, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DiscoveryError::UnknownProtocol { path } | DiscoveryError::BadSpec { path, .. } => {
                Some(path)
            }
            _ => None,
        }
    }

    /// The error prefixed with the file at fault, for people (`/etc/…/x.spec: Unknown protocol`).
    pub fn describe(&self) -> String {
        match self.path() {
            Some(p) if !self.to_string().contains(&*p.to_string_lossy()) => {
                format!("{}: {self}", p.display())
            }
            _ => self.to_string(),
        }
    }
}

fn is_socket(path: &Path) -> bool {
    // os.Stat follows symlinks.
    fs::metadata(path)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}

impl PluginRoots {
    /// Resolves one plugin name (dockerd's `localRegistry.Plugin`).
    pub fn find(&self, name: &str) -> Result<Discovered, DiscoveryError> {
        if name.is_empty() {
            return Err(DiscoveryError::EmptyName);
        }
        let sock_candidates = [
            (
                SourceKind::Socket,
                self.sockets_dir.join(format!("{name}.sock")),
            ),
            (
                SourceKind::SocketInDir,
                self.sockets_dir.join(name).join(format!("{name}.sock")),
            ),
        ];
        for (kind, path) in sock_candidates {
            if is_socket(&path) {
                return Ok(Discovered {
                    name: name.to_owned(),
                    kind,
                    addr: format!("unix://{}", path.display()),
                    path,
                    tls: Some(TlsOptions {
                        insecure_skip_verify: true,
                        ..Default::default()
                    }),
                });
            }
        }
        for dir in &self.spec_dirs {
            let candidates = [
                (SourceKind::Spec, dir.join(format!("{name}.spec"))),
                (
                    SourceKind::Spec,
                    dir.join(name).join(format!("{name}.spec")),
                ),
                (SourceKind::Json, dir.join(format!("{name}.json"))),
                (
                    SourceKind::Json,
                    dir.join(name).join(format!("{name}.json")),
                ),
            ];
            for (kind, path) in candidates {
                if fs::metadata(&path).is_err() {
                    continue;
                }
                return match kind {
                    SourceKind::Json => read_json_spec(name, path),
                    _ => read_url_spec(name, path),
                };
            }
        }
        Err(DiscoveryError::NotFound(name.to_owned()))
    }

    /// Enumerates plugin names as dockerd's `Scan` does: sockets first, then each
    /// spec directory; entries sorted by file name within a directory; duplicates kept.
    pub fn scan(&self) -> Result<Vec<String>, DiscoveryError> {
        let mut names = Vec::new();
        for entry in read_dir_sorted(&self.sockets_dir)? {
            let (file_name, file_type) = entry;
            let socket_name = if file_type.is_dir() {
                // D/D.sock counts as D.
                let inner = self
                    .sockets_dir
                    .join(&file_name)
                    .join(format!("{file_name}.sock"));
                match fs::metadata(&inner) {
                    Ok(m) if m.file_type().is_socket() => Some(format!("{file_name}.sock")),
                    _ => None,
                }
            } else if file_type.is_socket() {
                Some(file_name.clone())
            } else {
                None
            };
            if let Some(sock) = socket_name {
                // dockerd strips any extension, not only ".sock".
                names.push(strip_ext(&sock).to_owned());
            }
        }
        for dir in &self.spec_dirs {
            for (file_name, file_type) in read_dir_sorted(dir)? {
                let mut candidate = file_name.clone();
                if file_type.is_dir() {
                    // The first entry of D whose name minus extension is D.
                    let Ok(inner) = read_dir_sorted(&dir.join(&file_name)) else {
                        continue;
                    };
                    if let Some((inner_name, _)) =
                        inner.into_iter().find(|(n, _)| strip_ext(n) == file_name)
                    {
                        candidate = inner_name;
                    }
                }
                if let Some(stem) = candidate
                    .strip_suffix(".spec")
                    .or_else(|| candidate.strip_suffix(".json"))
                {
                    names.push(stem.to_owned());
                }
            }
        }
        Ok(names)
    }
}

fn strip_ext(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) => &name[..i],
        None => name,
    }
}

/// Lists a directory sorted by name; a missing directory is empty.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, fs::FileType)>, DiscoveryError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DiscoveryError::Scan(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(DiscoveryError::Scan)?;
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        out.push((entry.file_name().to_string_lossy().into_owned(), file_type));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn read_url_spec(name: &str, path: PathBuf) -> Result<Discovered, DiscoveryError> {
    let content = fs::read_to_string(&path).map_err(|e| DiscoveryError::BadSpec {
        message: format!("open {}: {}", path.display(), go_io_error(&e)),
        path: path.clone(),
    })?;
    let addr = content.trim().to_owned();
    if url_scheme(&addr).is_none() {
        return Err(DiscoveryError::UnknownProtocol { path });
    }
    Ok(Discovered {
        name: name.to_owned(),
        kind: SourceKind::Spec,
        path,
        addr,
        tls: Some(TlsOptions {
            insecure_skip_verify: true,
            ..Default::default()
        }),
    })
}

fn read_json_spec(name: &str, path: PathBuf) -> Result<Discovered, DiscoveryError> {
    let bad = |message: String| DiscoveryError::BadSpec {
        path: path.clone(),
        message,
    };
    let content = fs::read(&path)
        .map_err(|e| bad(format!("open {}: {}", path.display(), go_io_error(&e))))?;
    let value: Value = serde_json::from_slice(&content)
        .map_err(|e| bad(format!("invalid JSON in {}: {e}", path.display())))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad(format!("{}: expected a JSON object", path.display())))?;
    // Go matches keys case-insensitively.
    let get = |o: &serde_json::Map<String, Value>, key: &str| -> Option<Value> {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let addr = match get(obj, "Addr") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(bad(format!("{}: Addr must be a string", path.display()))),
    };
    let tls = match get(obj, "TLSConfig") {
        None | Some(Value::Null) => None,
        Some(Value::Object(t)) => {
            let file = |key: &str| -> Option<PathBuf> {
                match get(&t, key) {
                    Some(Value::String(s)) if !s.is_empty() => Some(PathBuf::from(s)),
                    _ => None,
                }
            };
            let ca_file = file("CAFile");
            let skip = matches!(get(&t, "InsecureSkipVerify"), Some(Value::Bool(true)));
            Some(TlsOptions {
                // go-connections: no CA file means no verification.
                insecure_skip_verify: skip || ca_file.is_none(),
                ca_file,
                cert_file: file("CertFile"),
                key_file: file("KeyFile"),
            })
        }
        Some(_) => {
            return Err(bad(format!(
                "{}: TLSConfig must be an object",
                path.display()
            )))
        }
    };
    Ok(Discovered {
        name: name.to_owned(),
        kind: SourceKind::Json,
        path,
        addr,
        tls,
    })
}

/// The URL scheme as Go's `url.Parse` finds it: a letter followed by letters,
/// digits, `+`, `-` or `.`, ending at the first `:`.
pub(crate) fn url_scheme(addr: &str) -> Option<&str> {
    let colon = addr.find(':')?;
    let scheme = &addr[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    chars
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .then_some(scheme)
}

/// Formats an I/O error the way Go's `syscall.Errno` prints it.
pub(crate) fn go_io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        io::ErrorKind::BrokenPipe => "broken pipe".into(),
        io::ErrorKind::TimedOut => "i/o timeout".into(),
        _ => {
            // Strip Rust's " (os error N)" suffix and lowercase like Go.
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_owned();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    }
}
