//! The real docker CLI as the oracle of drydock's CLI model (issue 18):
//! each command line goes through `docker_cli` in-process and through the
//! docker CLI 28.2 against `drydock serve`, and both must send the same
//! Engine API requests — method, path, query, JSON body — in the same order.

use super::external;
use super::serve::{in_process, reference_plugin, serve, wait_for};
use drydock_engine::daemon::api_log::ApiEvent;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Command lines of every family the model parses, run in this order on
/// one daemon each.
const COMMANDS: &[&str] = &[
    "docker volume create -d dryvol v1",
    "docker volume create --label a=b -o mode=0755 -d dryvol v2",
    "docker volume ls",
    "docker volume ls -q --filter driver=dryvol",
    "docker volume inspect v1",
    "docker network create --subnet 10.9.0.0/24 --gateway 10.9.0.1 n1",
    "docker network ls",
    "docker network inspect n1",
    "docker create --name c1 -v v1:/data --network n1 bb:latest sleep 30",
    "docker start c1",
    "docker pause c1",
    "docker unpause c1",
    "docker kill -s HUP c1",
    "docker rename c1 c1r",
    "docker container rename c1r c1",
    "docker ps",
    "docker ps -a",
    "docker stop c1",
    "docker restart c1",
    "docker kill c1",
    "docker wait c1",
    "docker rm c1",
    "docker run --rm -v v2:/d:ro bb:latest true",
    "docker run -d --name c2 --restart always -v /anon bb:latest sleep 9",
    "docker network connect n1 c2",
    "docker network disconnect n1 c2",
    "docker rm -f -v c2",
    "docker network rm n1",
    "docker volume rm v1 v2",
    "docker volume prune -f",
];

/// One request as compared: method, path, query pairs sorted, body.
type Request = (String, String, Vec<(String, String)>, Value);

/// A 64-hex ID anywhere becomes `<id>`: each daemon draws its own.
fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() && c.is_ascii_lowercase() || c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() == 64 { "<id>" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

fn request(method: &str, uri: &str, body: Option<Value>) -> Request {
    let uri = mask(uri);
    let (path, query) = uri.split_once('?').unwrap_or((&uri, ""));
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), mask(&v)))
        .collect();
    pairs.sort();
    let body = body.map_or(Value::Null, |b| {
        serde_json::from_str(&mask(&b.to_string())).unwrap_or(b)
    });
    (method.to_owned(), path.to_owned(), pairs, body)
}

/// The requests the CLI model sends for each command, in-process.
fn model_requests(dir: &Path) -> Vec<Vec<Request>> {
    let mut all = Vec::new();
    in_process(dir, COMMANDS, |engine| {
        all.push(
            engine
                .api_log()
                .into_iter()
                .filter_map(|e| match e {
                    ApiEvent::Request {
                        method, uri, body, ..
                    } => Some(request(
                        &method,
                        &uri,
                        body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b))),
                    )),
                    ApiEvent::Response { .. } => None,
                })
                .collect(),
        );
    });
    all
}

#[test]
fn the_cli_model_sends_the_requests_the_real_docker_cli_sends() {
    let test = "cli_oracle::the_cli_model_sends_the_requests_the_real_docker_cli_sends";
    let Some(docker) = external::require(test, &["docker"], "apt-get install docker.io (the CLI)")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugin = reference_plugin(dir.path(), "volume", "dryvol");
    let served = serve(dir.path());
    wait_for(&served.socket);
    let trace = dir.path().join("trace.jsonl");
    let mut real: Vec<Vec<Request>> = Vec::new();
    for line in COMMANDS {
        let before = std::fs::read_to_string(&trace).unwrap().lines().count();
        let args = shell_words(line);
        let out = Command::new(&docker)
            .env("DOCKER_HOST", format!("unix://{}", served.socket.display()))
            .env("DOCKER_CONFIG", dir.path().join("docker-config"))
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Streaming requests are traced when they end: give them a moment.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let text = std::fs::read_to_string(&trace).unwrap();
        real.push(
            text.lines()
                .skip(before)
                .filter_map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    let api = v.get("api")?;
                    Some(request(
                        api["method"].as_str()?,
                        api["uri"].as_str()?,
                        api.get("body").cloned(),
                    ))
                })
                .collect(),
        );
    }
    drop(plugin);
    // Not vacuous: every command reached the daemon, bodies included.
    assert!(real.iter().all(|r| !r.is_empty()), "{real:?}");
    let bodies = real.iter().flatten().filter(|r| !r.3.is_null()).count();
    let total: usize = real.iter().map(Vec::len).sum();
    eprintln!(
        "cli oracle: {} commands, {total} requests, {bodies} with a JSON body",
        COMMANDS.len()
    );
    assert!(bodies >= 6, "{real:?}");
    let model = model_requests(&dir.path().join("in-process"));
    let mut differ = Vec::new();
    for ((line, ours), theirs) in COMMANDS.iter().zip(&model).zip(&real) {
        // The trace lists requests as they end; the model's log as they
        // start: compare as sets of requests, each with its count.
        let mut a = ours.clone();
        let mut b = theirs.clone();
        a.sort_by_key(|r| format!("{r:?}"));
        b.sort_by_key(|r| format!("{r:?}"));
        if a != b {
            differ.push(format!("{line}:\n  model: {ours:?}\n  real:  {theirs:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} commands differ:\n{}",
        differ.len(),
        COMMANDS.len(),
        differ.join("\n")
    );
}

/// Splits a command line as a shell would for these simple lines.
fn shell_words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}
