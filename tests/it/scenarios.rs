//! Every scenario in `scenarios/` runs against the reference plugins and
//! passes; its transcript is pinned with insta (random IDs, temporary paths,
//! times and latencies normalised), so any change in what the engine sends
//! shows up in review.

use drydock::run::launch::TransportKind;
use drydock::run::{report, run_scenario, RunOptions};
use drydock_engine::scenario::parse_file;
use regex::Regex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn scenario_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "scenario") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut out = Vec::new();
    walk(&root, &mut out);
    out
}

/// Replaces what changes from run to run with stable placeholders.
pub fn normalise(text: &str) -> String {
    let ids = Regex::new(r"\b[0-9a-f]{64}\b").unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let text = ids.replace_all(text, |c: &regex::Captures| {
        let n = seen.len() + 1;
        let k = *seen.entry(c[0].to_owned()).or_insert(n);
        format!("<id{k}>")
    });
    let short_ids = Regex::new(r"\b[0-9a-f]{12}\b").unwrap();
    let text = short_ids.replace_all(&text, "<short-id>");
    let tmp = Regex::new(r"/tmp/drydock-run-[A-Za-z0-9]+").unwrap();
    let text = tmp.replace_all(&text, "<tmp>");
    // The same directory inside a unix socket's URL (`http://%2Ftmp%2F…`).
    let tmp_url = Regex::new(r"%2Ftmp%2Fdrydock-run-[A-Za-z0-9]+").unwrap();
    let text = tmp_url.replace_all(&text, "<tmp>");
    let times = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = times.replace_all(&text, "<time>");
    let micros = Regex::new(r"\(\d+µs\)").unwrap();
    let text = micros.replace_all(&text, "(…µs)");
    let millis = Regex::new(r"\d+\.\d ms\)").unwrap();
    millis.replace_all(&text, "… ms)").into_owned()
}

#[tokio::test]
async fn every_scenario_passes_and_its_transcript_is_pinned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario_files();
    assert!(
        files.len() >= 20,
        "the library has {} scenarios",
        files.len()
    );
    let mut failed = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap().to_path_buf();
        let scenario = parse_file(&rel).unwrap_or_else(|e| panic!("{e}"));
        let opts = RunOptions {
            transport: TransportKind::InProcess,
            ..Default::default()
        };
        let r = run_scenario(&scenario, &opts).await;
        let text = normalise(&report::text(&r));
        if !r.passed() {
            failed.push(text.clone());
        }
        let name = rel
            .with_extension("")
            .display()
            .to_string()
            .replace('/', "__");
        insta::with_settings!({snapshot_suffix => name, prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!("transcript", text);
        });
    }
    assert!(
        failed.is_empty(),
        "{} scenarios failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The fault scenarios also pass with every plugin behind a real unix socket:
/// faults apply to any transport, and killing a plugin or leaving a stale
/// socket then involves real sockets. (No snapshot: socket paths differ.)
#[tokio::test]
async fn fault_scenarios_pass_over_unix_sockets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failed = Vec::new();
    let mut ran = 0;
    for file in scenario_files() {
        let rel = file.strip_prefix(root).unwrap().to_path_buf();
        if !rel.starts_with("scenarios/faults") {
            continue;
        }
        ran += 1;
        let scenario = parse_file(&rel).unwrap_or_else(|e| panic!("{e}"));
        let opts = RunOptions {
            transport: TransportKind::Unix,
            ..Default::default()
        };
        let r = run_scenario(&scenario, &opts).await;
        if !r.passed() {
            failed.push(report::text(&r));
        }
    }
    assert!(ran >= 10, "only {ran} fault scenarios");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
