//! `drydock run` as a long run sees it: each step is written the moment it
//! ends (so a pipe, a CI log or `| head` sees it while later steps still
//! run), and SIGINT/SIGTERM stop the run with the summary so far, the
//! plugins stopped (sockets gone, plugin processes killed) and exit 130/143.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DRYDOCK: &str = env!("CARGO_BIN_EXE_drydock");

/// Three quick steps with a reference plugin on a unix socket, then a plugin
/// process that listens somewhere else than where the runner waits for its
/// socket: that step holds the run for the launcher's 10 s of real time.
fn held_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("held.scenario");
    std::fs::write(
        &path,
        format!(
            "# a run held by a slow plugin start\n\
             #@ plugin vol volume\n\
             docker volume create -d vol v1\n\
             #> output \"v1\"\n\
             docker volume ls\n\
             docker volume rm v1\n\
             #@ plugin slow exec -- {DRYDOCK} plugin volume --name {{name}} --state-dir {{state_dir}} --socket {{state_dir}}/elsewhere.sock\n\
             docker volume ls\n"
        ),
    )
    .unwrap();
    path
}

/// `drydock run ARGS` with its temporary directories under `tmp`.
fn start(tmp: &Path, args: &[&str]) -> Child {
    Command::new(DRYDOCK)
        .arg("run")
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Not read: a plugin process holding it must not hang a test.
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads lines until one satisfies `done`; all of them.
fn read_until(out: &mut impl BufRead, done: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "output ended early: {lines:#?}"
        );
        let stop = done(&line);
        lines.push(line);
        if stop {
            return lines;
        }
    }
}

/// Processes whose command line mentions `needle` (the plugins of a run
/// under that temporary directory).
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(cmd);
            }
        }
    }
    found
}

/// The run's private directories left under `tmp` (its sockets live there).
fn leftovers(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("drydock-run-")
        })
        .collect()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn steps_are_written_while_the_run_goes_on_and_sigint_prints_the_summary_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let file = held_scenario(dir.path());
    let mut child = start(&tmp, &["--transport", "unix", file.to_str().unwrap()]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let first = read_until(&mut out, |l| l.starts_with("[3] docker volume rm v1"));
    // Seen while the run is still held by the plugin start after step 3.
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before its first steps could be read: {first:#?}"
    );
    assert_eq!(first[0], format!("── {}\n", file.display()));
    assert!(first
        .iter()
        .any(|l| l.starts_with("[1] docker volume create -d vol v1")));
    // The plugin process is up (the runner waits for its socket).
    let tmp_text = tmp.display().to_string();
    wait_for("the plugin process", || {
        !processes_with(&tmp_text).is_empty()
    });
    assert_eq!(leftovers(&tmp).len(), 1);

    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    // The summary so far: the step that was running is the failure, the
    // steps that ended are counted, and the file fails.
    assert!(
        rest.contains(&format!("FAILED {}:7: #@ plugin slow exec", file.display())),
        "{rest}"
    );
    assert!(
        rest.contains("interrupted by SIGINT before this step ended (4 steps had ended)"),
        "{rest}"
    );
    assert!(
        rest.contains(&format!("FAIL {} (4 steps, ", file.display())),
        "{rest}"
    );
    assert!(rest.contains("\n0 passed, 1 failed\n"), "{rest}");
    assert!(
        rest.ends_with("interrupted by SIGINT: 0 of 1 scenario files not run\n"),
        "{rest}"
    );
    // Plugins stopped: the reference plugin's socket (and the whole private
    // directory) removed, the plugin process killed.
    assert_eq!(leftovers(&tmp), Vec::<PathBuf>::new());
    wait_for("the plugin process to go", || {
        processes_with(&tmp_text).is_empty()
    });
}

#[test]
fn json_is_streamed_and_sigterm_ends_it_as_a_whole_document() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let file = held_scenario(dir.path());
    let other = dir.path().join("later.scenario");
    std::fs::write(&other, "docker volume ls\n").unwrap();
    let mut child = start(
        &tmp,
        &[
            "--transport",
            "in-process",
            "--format",
            "json",
            file.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let first = read_until(&mut out, |l| {
        l.contains("\"command\":\"docker volume rm v1\"")
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before its first steps could be read: {first:#?}"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(143), "{rest}");
    let doc: serde_json::Value = serde_json::from_str(&(first.concat() + &rest)).unwrap();
    assert_eq!(doc["passed"], 0, "{doc:#}");
    assert_eq!(doc["failed"], 1);
    assert_eq!(doc["interrupted"]["by"], "SIGTERM");
    assert_eq!(doc["interrupted"]["not_run"], 1);
    let scenario = &doc["scenarios"][0];
    assert_eq!(scenario["interrupted"], true);
    assert_eq!(scenario["steps"].as_array().unwrap().len(), 4);
    assert_eq!(scenario["steps"][1]["outcome"]["output"], "v1");
    assert_eq!(scenario["failures"][0]["line"], 7);
    assert_eq!(leftovers(&tmp), Vec::<PathBuf>::new());
}

/// `drydock run … | head -3` ends when the reader goes, not with the run:
/// the next step's write fails (EPIPE), the run stops there (exit 141, as
/// for a process SIGPIPE ended).
#[test]
fn a_closed_pipe_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let file = dir.path().join("long.scenario");
    let mut text = String::from("#@ plugin vol volume\ndocker volume create -d vol v1\n");
    for _ in 0..5000 {
        text.push_str("docker run --rm -v v1:/d busybox true\n");
    }
    std::fs::write(&file, text).unwrap();
    let trace = dir.path().join("trace.jsonl");
    let mut child = start(
        &tmp,
        &[
            "--transport",
            "in-process",
            "--trace",
            trace.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    read_until(&mut out, |l| l.starts_with("[1] "));
    drop(out);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141));
    let actions = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"outcome\""))
        .count();
    assert!(actions < 5001, "{actions} steps traced: the run went on");
    assert_eq!(leftovers(&tmp), Vec::<PathBuf>::new());
}
