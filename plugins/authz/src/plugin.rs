//! The plugin: a policy behind a lock (swapped whole on reload) and an
//! optional audit log.

use crate::eval::Decision;
use crate::policy::{Phase, Policy, PolicyError};
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::{AuthzPlugin, PluginError};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read policy {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("invalid policy {path}: {error}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line and problem.
        error: PolicyError,
    },
}

/// Reads and parses a policy file.
pub fn load(path: &Path) -> Result<Policy, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Io {
        path: path.to_owned(),
        error,
    })?;
    Policy::parse(&text).map_err(|error| LoadError::Invalid {
        path: path.to_owned(),
        error,
    })
}

struct Inner {
    path: Option<PathBuf>,
    policy: RwLock<Arc<Policy>>,
    audit: Option<Mutex<File>>,
}

/// The reference authz plugin. Cheap to clone: clones share the policy, so a
/// clone kept by a signal handler can [`reload`](PolicyPlugin::reload) it.
#[derive(Clone)]
pub struct PolicyPlugin {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PolicyPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyPlugin")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl PolicyPlugin {
    /// A plugin enforcing the policy in `path`; an invalid file is refused.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, LoadError> {
        let path = path.into();
        let policy = load(&path)?;
        Ok(Self::build(Some(path), policy))
    }

    /// A plugin enforcing `policy` (no file: [`reload`](Self::reload) keeps it).
    pub fn new(policy: Policy) -> Self {
        Self::build(None, policy)
    }

    fn build(path: Option<PathBuf>, policy: Policy) -> Self {
        PolicyPlugin {
            inner: Arc::new(Inner {
                path,
                policy: RwLock::new(Arc::new(policy)),
                audit: None,
            }),
        }
    }

    /// Appends one JSON line per decision to `path` (created if missing).
    /// Call before cloning the plugin.
    ///
    /// A line cut short by a crash of an earlier run (the process died inside
    /// the write) is removed first: it belongs to a decision that was never
    /// answered, and appending after it would glue the next line onto it.
    pub fn with_audit(self, path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        cut_torn_line(&file)?;
        let inner = Inner {
            path: self.inner.path.clone(),
            policy: RwLock::new(self.policy()),
            audit: Some(Mutex::new(file)),
        };
        Ok(PolicyPlugin {
            inner: Arc::new(inner),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.inner.policy.read().expect("policy lock").clone()
    }

    /// Re-reads the policy file (on SIGHUP). An unreadable or invalid file
    /// leaves the current policy in force and returns why.
    pub fn reload(&self) -> Result<(), LoadError> {
        let Some(path) = &self.inner.path else {
            return Ok(());
        };
        let policy = load(path)?;
        *self.inner.policy.write().expect("policy lock") = Arc::new(policy);
        Ok(())
    }

    /// Judges one call and writes the audit line.
    pub fn judge(&self, req: &AuthzRequest, phase: Phase) -> Decision {
        let d = self.policy().decide(req, phase);
        if let Some(audit) = &self.inner.audit {
            let line = serde_json::json!({
                "time": now(),
                "phase": match phase { Phase::Request => "request", Phase::Response => "response" },
                "user": req.user,
                "method": req.request_method,
                "uri": req.request_uri,
                "rule": d.rule,
                "verdict": d.verdict.to_string(),
                "msg": d.msg,
            });
            // One write per line: `writeln!` would issue several, and a crash
            // between them would leave half a line.
            let mut text = line.to_string();
            text.push('\n');
            let mut f = audit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Err(e) = f.write_all(text.as_bytes()) {
                tracing::error!("cannot write the audit log: {e}");
            }
        }
        d
    }
}

/// Truncates `file` after its last newline, if it does not end in one.
fn cut_torn_line(file: &File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    // Look back in blocks for the last newline; audit lines are short.
    let mut reader = file;
    let mut end = len;
    let mut block = vec![0u8; 4096];
    loop {
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(end - start) as usize];
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(chunk)?;
        if end == len && chunk.last() == Some(&b'\n') {
            return Ok(());
        }
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return cut(file, start + i as u64 + 1, len);
        }
        if start == 0 {
            return cut(file, 0, len);
        }
        end = start;
    }
}

fn cut(file: &File, keep: u64, len: u64) -> std::io::Result<()> {
    tracing::warn!(
        dropped_bytes = len - keep,
        "the audit log ends in a line cut short by a crash; removing it"
    );
    file.set_len(keep)
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn answer(d: Decision) -> AuthzResponse {
    if d.allowed() {
        AuthzResponse::allow()
    } else {
        AuthzResponse::deny(d.msg)
    }
}

impl AuthzPlugin for PolicyPlugin {
    async fn authz_req(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(answer(self.judge(&req, Phase::Request)))
    }

    async fn authz_res(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(answer(self.judge(&req, Phase::Response)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping() -> AuthzRequest {
        AuthzRequest {
            request_method: "HEAD".into(),
            request_uri: "/_ping".into(),
            ..Default::default()
        }
    }

    #[test]
    fn reload_swaps_a_valid_policy_and_keeps_the_old_one_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy");
        std::fs::write(&path, "allow path=/_ping\n").unwrap();
        let plugin = PolicyPlugin::load(&path).unwrap();
        assert!(plugin.judge(&ping(), Phase::Request).allowed());
        std::fs::write(&path, "deny path=/_ping \"closed\"\n").unwrap();
        plugin.reload().unwrap();
        assert_eq!(plugin.judge(&ping(), Phase::Request).msg, "closed");
        std::fs::write(&path, "allow path=/_ping\nallw\n").unwrap();
        let e = plugin.reload().unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert_eq!(plugin.judge(&ping(), Phase::Request).msg, "closed");
    }

    #[tokio::test]
    async fn an_unreadable_request_is_never_allowed() {
        let plugin = drydock_sdk::Plugin::new()
            .authz(PolicyPlugin::new(Policy::parse("default allow").unwrap()));
        for body in [&b"not json"[..], b"{\"RequestBody\": \"%%%\"}", b"[1]"] {
            let reply = plugin
                .handle("/AuthZPlugin.AuthZReq", bytes::Bytes::from_static(body))
                .await;
            // Not a 200: dockerd fails the client's request (500), closed.
            assert_ne!(reply.status, 200, "{:?}", String::from_utf8_lossy(body));
        }
        // Even an open policy denies what it cannot parse.
        let reply = plugin
            .handle(
                "/AuthZPlugin.AuthZReq",
                bytes::Bytes::from_static(
                    b"{\"RequestMethod\": \"GET\", \"RequestUri\": \"/v1.41/%zz\"}",
                ),
            )
            .await;
        let verdict: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(verdict["Allow"], false);
    }

    #[test]
    fn an_invalid_file_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy");
        std::fs::write(&path, "default maybe\n").unwrap();
        let e = PolicyPlugin::load(&path).unwrap_err();
        assert!(
            e.to_string().contains("line 1: expected `default allow`"),
            "{e}"
        );
        assert!(PolicyPlugin::load(dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_line_torn_by_a_crash_is_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let whole = "{\"verdict\":\"allow\"}\n";
        for (before, kept) in [
            (format!("{whole}{{\"verdict\":\"al"), whole.to_owned()),
            ("{\"verd".to_owned(), String::new()),
            (whole.repeat(300), whole.repeat(300)),
            (String::new(), String::new()),
        ] {
            std::fs::write(&log, &before).unwrap();
            let plugin = PolicyPlugin::new(Policy::parse("allow path=/_ping").unwrap())
                .with_audit(&log)
                .unwrap();
            plugin.judge(&ping(), Phase::Request);
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(text.starts_with(&kept), "{before:?} became {text:?}");
            let rest = &text[kept.len()..];
            assert_eq!(rest.lines().count(), 1, "{text:?}");
            let last: serde_json::Value = serde_json::from_str(rest.trim_end()).unwrap();
            assert_eq!(last["verdict"], "allow");
        }
    }

    #[test]
    fn the_audit_log_has_one_json_line_per_decision() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let plugin = PolicyPlugin::new(Policy::parse("allow path=/_ping").unwrap())
            .with_audit(&log)
            .unwrap();
        plugin.judge(&ping(), Phase::Request);
        let mut other = ping();
        other.request_uri = "/v1.41/info".into();
        other.user = "alice".into();
        plugin.judge(&other, Phase::Request);
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["verdict"], "allow");
        assert_eq!(lines[0]["rule"], 1);
        assert_eq!(lines[1]["verdict"], "deny");
        assert_eq!(lines[1]["user"], "alice");
        assert_eq!(lines[1]["rule"], serde_json::Value::Null);
        assert!(lines[1]["time"].as_str().unwrap().ends_with('Z'));
    }
}
