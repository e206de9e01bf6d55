//! The README and the docs stay true: every repository path they name
//! exists, every recording they cite is in `tests/golden/`, every relative
//! link resolves, and the README's tutorial scenario passes.

use drydock::run::{run_scenario, RunOptions};
use drydock_engine::scenario::parse;
use regex::Regex;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The user-facing pages: README, ARCHITECTURE, examples/README and docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "examples/README.md"]
        .iter()
        .map(|p| root().join(p))
        .collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// What is wrong with one page: the names it mentions that do not exist.
fn broken_references(page: &Path, text: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let name = page.strip_prefix(root()).unwrap().display().to_string();
    // ```text blocks show sample output (an error naming `scenarios/x.scenario`).
    let output = Regex::new(r"(?s)```text\n.*?```").unwrap();
    let text = &output.replace_all(text, "");
    // A path inside this repository, written from its root. moby's paths
    // (engine-mapping.md) start with other directories and are not checked.
    let repo_path = Regex::new(
        r"(?:^|[\s`(\[|])((?:scenarios|examples|docs|tests|plugins|engine-sim|src|benches)/[A-Za-z0-9_./-]*)",
    )
    .unwrap();
    for c in repo_path.captures_iter(text) {
        let path = c[1].trim_end_matches(['.', ',', ':']);
        if !root().join(path).exists() {
            broken.push(format!("{name}: `{path}` does not exist"));
        }
    }
    // Recordings cited by file name alone (docs/protocol.md).
    let recording = Regex::new(r"`([a-z]-[a-z0-9-]+\.jsonl)`").unwrap();
    for c in recording.captures_iter(text) {
        if !root().join("tests/golden").join(&c[1]).exists() {
            broken.push(format!(
                "{name}: recording {} is not in tests/golden/",
                &c[1]
            ));
        }
    }
    // Relative Markdown links, resolved from the page's directory.
    let link = Regex::new(r"\]\(([^)#\s]+)(?:#[^)]*)?\)").unwrap();
    for c in link.captures_iter(text) {
        let target = &c[1];
        if target.contains("://") {
            continue;
        }
        if !page.parent().unwrap().join(target).exists() {
            broken.push(format!("{name}: link ({target}) does not resolve"));
        }
    }
    broken
}

#[test]
fn every_path_and_link_in_the_docs_exists() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        broken.extend(broken_references(&page, &text));
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_checker_notices_a_missing_path_a_recording_and_a_link() {
    let page = root().join("docs/x.md");
    let text = "see `scenarios/volume/no-such.scenario`, `v-nosuch.jsonl` and [x](nowhere.md)";
    assert_eq!(broken_references(&page, text).len(), 3);
    let fine = "see `scenarios/volume/in-use.scenario`, `v-cp.jsonl` and [x](scenarios.md#actions)";
    assert_eq!(broken_references(&page, fine), Vec::<String>::new());
    let output = "```text\nscenarios/x.scenario:1:1: error\n```";
    assert_eq!(broken_references(&page, output), Vec::<String>::new());
}

/// The tutorial's "write one" step: the scenario the README tells a newcomer
/// to save as `my.scenario` must pass as printed.
#[tokio::test]
async fn the_readme_tutorial_scenario_passes() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = Regex::new(r"(?s)```sh\n(# My first scenario.*?)```").unwrap();
    let text = &block
        .captures(&readme)
        .expect("the tutorial's scenario block")[1];
    let scenario = parse("my.scenario", text.as_bytes()).unwrap();
    let report = run_scenario(&scenario, &RunOptions::default()).await;
    assert!(report.passed(), "{:#?}", report.failures);
    assert!(report.calls() > 0);
}
