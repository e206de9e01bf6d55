//! The `--commands` file of `drydock record`: the docker commands the user
//! runs, so that a recording carries them between its calls.
//!
//! The user's shell appends each docker command line to the file *before*
//! running it (the function [`shell_function`] prints does this), then its
//! error output as `#err TEXT` lines and its exit status as `#rc N`. Any
//! `#@` line (`#@ restart-daemon`) is a scenario directive, appended by hand.
//! The recorder reads the file's new lines whenever a call arrives, so every
//! call finds the command that caused it already written: there is no race
//! between the shell and the recorder. (It also looks every 200 ms, for the
//! commands that cause no call.)
//!
//! Each command becomes a step line in the recording,
//! `{"step": N, "command": "docker …", "start": …}`, and its status an
//! outcome line, `{"step": N, "command": …, "outcome": {"ok", "error",
//! "output"}, "exit": N}`, the action line of `drydock run --trace`.

use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The command a call arriving now belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentStep {
    /// 1-based position of the command among the file's commands and directives.
    pub index: usize,
    /// The line as the user's shell wrote it.
    pub command: String,
}

/// What the recorder knows about the commands file.
#[derive(Debug)]
pub struct Commands {
    path: PathBuf,
    /// How far the file has been read.
    offset: u64,
    /// The start of a line whose newline has not been written yet.
    partial: Vec<u8>,
    /// The latest command, and the error output gathered for it.
    current: Option<(CurrentStep, String, bool)>,
    /// Commands seen so far.
    count: usize,
}

impl Commands {
    /// Watches `path` from its current end (earlier lines are another
    /// session's); the file is created if it does not exist.
    pub fn open(path: &Path) -> std::io::Result<Commands> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let offset = file.metadata()?.len();
        Ok(Commands {
            path: path.to_owned(),
            offset,
            partial: Vec::new(),
            current: None,
            count: 0,
        })
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The step of the latest command, if any.
    pub fn current(&self) -> Option<CurrentStep> {
        self.current.as_ref().map(|(s, _, _)| s.clone())
    }

    /// Reads the lines appended since the last call and returns the
    /// recording lines they make (step openings and outcomes).
    pub fn read_new(&mut self) -> Vec<Value> {
        let mut bytes = Vec::new();
        let read = std::fs::File::open(&self.path).and_then(|mut f| {
            let len = f.metadata()?.len();
            if len < self.offset {
                // Truncated (a new session in the same file): start over.
                self.offset = 0;
                self.partial.clear();
            }
            f.seek(SeekFrom::Start(self.offset))?;
            f.read_to_end(&mut bytes)
        });
        if let Err(e) = read {
            tracing::warn!("cannot read {}: {e}", self.path.display());
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        let text = String::from_utf8_lossy(&complete).into_owned();
        let mut out = Vec::new();
        for line in text.lines() {
            self.line(line.trim_end_matches('\r'), &mut out);
        }
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<Value>) {
        if let Some(err) = line.strip_prefix("#err") {
            if let Some((_, gathered, _)) = self.current.as_mut() {
                if !gathered.is_empty() {
                    gathered.push('\n');
                }
                gathered.push_str(err.strip_prefix(' ').unwrap_or(err));
            }
            return;
        }
        if let Some(rc) = line.strip_prefix("#rc") {
            let Ok(rc) = rc.trim().parse::<i32>() else {
                tracing::warn!("{}: bad status line {line:?}", self.path.display());
                return;
            };
            if let Some((step, gathered, closed)) = self.current.as_mut() {
                if !*closed {
                    *closed = true;
                    let ok = succeeded(&step.command, rc);
                    out.push(json!({
                        "step": step.index,
                        "command": step.command,
                        "outcome": {
                            "ok": ok,
                            "error": if ok { None } else { Some(gathered.clone()) },
                            "output": gathered,
                        },
                        "exit": rc,
                    }));
                }
            }
            return;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || (trimmed.starts_with('#') && !trimmed.starts_with("#@")) {
            return;
        }
        self.count += 1;
        let step = CurrentStep {
            index: self.count,
            command: trimmed.to_owned(),
        };
        out.push(json!({
            "step": step.index,
            "command": step.command,
            "start": super::rfc3339(SystemTime::now()),
        }));
        self.current = Some((step, String::new(), false));
    }
}

/// Whether the daemon's part of a command succeeded. The CLI's status is
/// the container's own for `docker run`, `start -a` and `exec`; only 125
/// (daemon error), 126 and 127 (command not runnable) are dockerd's.
pub fn succeeded(command: &str, rc: i32) -> bool {
    if rc == 0 {
        return true;
    }
    let mut words = command.split_whitespace().skip(1);
    let sub = words.next().unwrap_or("");
    let container_status = match sub {
        "run" | "exec" => true,
        "container" => matches!(words.next(), Some("run" | "exec")),
        "start" => command
            .split_whitespace()
            .any(|w| w == "-a" || w == "--attach"),
        _ => false,
    };
    container_status && !(125..=127).contains(&rc)
}

/// The bash function that writes the commands file: paste or `eval` it in
/// the shell the docker commands will be run from.
pub fn shell_function(path: &Path) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let quoted = format!("'{}'", path.display().to_string().replace('\'', r"'\''"));
    format!(
        r#"# drydock record --commands: every docker command run in this shell is
# appended to the commands file before it runs, then its error output (#err)
# and exit status (#rc). `unset -f docker` stops it.
DRYDOCK_COMMANDS={quoted}
docker() {{
    local w line=docker err rc
    for w in "$@"; do
        case $w in
            '' | *[!A-Za-z0-9_@%+=:,./-]*) line+=" '${{w//\'/\'\\\'\'}}'" ;;
            *) line+=" $w" ;;
        esac
    done
    printf '%s\n' "$line" >> "$DRYDOCK_COMMANDS"
    err=$(mktemp)
    command docker "$@" 2> "$err"
    rc=$?
    cat "$err" >&2
    sed 's/^/#err /' "$err" >> "$DRYDOCK_COMMANDS"
    printf '#rc %d\n' "$rc" >> "$DRYDOCK_COMMANDS"
    rm -f "$err"
    return $rc
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_failures_are_told_from_container_exit_statuses() {
        assert!(succeeded("docker volume rm v", 0));
        assert!(!succeeded("docker volume rm v", 1));
        assert!(succeeded("docker run --rm -v v:/d bb false", 1));
        assert!(!succeeded("docker run --rm -v v:/d bb false", 125));
        assert!(succeeded("docker start -a c", 3));
        assert!(!succeeded("docker start c", 1));
    }

    #[test]
    fn lines_become_steps_and_outcomes_and_partial_lines_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cmds");
        std::fs::write(&path, "docker old session\n#rc 0\n").unwrap();
        let mut c = Commands::open(&path).unwrap();
        assert!(c.read_new().is_empty());
        let append = |s: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(s.as_bytes()).unwrap();
        };
        append("docker volume rm v\n#err Error response from daemon: in use\n#rc 1\ndocker vol");
        let lines = c.read_new();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["step"], 1);
        assert_eq!(lines[0]["command"], "docker volume rm v");
        assert_eq!(lines[1]["outcome"]["ok"], false);
        assert_eq!(
            lines[1]["outcome"]["error"],
            "Error response from daemon: in use"
        );
        // The half-written line is not a command yet.
        assert_eq!(c.current().unwrap().index, 1);
        append("ume ls\n");
        let lines = c.read_new();
        assert_eq!(lines[0]["command"], "docker volume ls");
        assert_eq!(c.current().unwrap().index, 2);
    }
}
