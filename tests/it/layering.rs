//! The layering ARCHITECTURE.md promises, checked: which crate may depend on
//! which (from `cargo metadata`), and which parts of the simulated daemon may
//! name the scenario language (from their `use` lines).
//!
//! Where the code does not yet keep a rule, the exceptions are listed here
//! by file, with a FIXME: the list may only shrink.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each workspace package and the workspace packages it depends on
/// (normal and build dependencies; dev-dependencies are tests' business).
fn workspace_deps() -> Vec<(String, BTreeSet<String>, BTreeSet<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps: Vec<&Value> = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .collect();
            let names = |pred: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
                deps.iter()
                    .map(|d| d["name"].as_str().unwrap().to_owned())
                    .filter(|n| pred(n))
                    .collect()
            };
            (
                p["name"].as_str().unwrap().to_owned(),
                names(&|n| n.starts_with("drydock")),
                names(&|n| n == "clap"),
            )
        })
        .collect()
}

#[test]
fn crates_depend_downwards_only_and_clap_stays_in_the_binary() {
    let allowed = |package: &str| -> &[&str] {
        match package {
            // The SDK is what plugin authors build on: it knows no engine.
            "drydock-sdk" => &[],
            // The engine never depends on the reference plugins.
            "drydock-engine" => &["drydock-sdk"],
            "drydock-volume" | "drydock-ipam" | "drydock-authz" => &["drydock-sdk"],
            // The binary wires everything together.
            "drydock" => &[
                "drydock-sdk",
                "drydock-engine",
                "drydock-volume",
                "drydock-ipam",
                "drydock-authz",
            ],
            other => panic!("a new workspace package {other}: say here what it may depend on"),
        }
    };
    let packages = workspace_deps();
    assert!(packages.len() >= 6, "{packages:?}");
    for (name, deps, clap) in &packages {
        let ok: BTreeSet<String> = allowed(name).iter().map(|s| s.to_string()).collect();
        let extra: Vec<_> = deps.difference(&ok).collect();
        assert!(extra.is_empty(), "{name} must not depend on {extra:?}");
        if name != "drydock" {
            assert!(
                clap.is_empty(),
                "{name} depends on clap: CLI flag types belong to the binary"
            );
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The files under `dir` (relative to `engine-sim/src`) whose code outside
/// `#[cfg(test)]` (and outside test modules' own `tests.rs` files) mentions
/// `needle`.
fn files_naming(dir: &str, needle: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine-sim/src");
    let mut files = Vec::new();
    rust_files(&root.join(dir), &mut files);
    files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            code.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains(needle))
        })
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .collect()
}

/// The files under `dir` naming `needle` (see [`files_naming`]), less the
/// `known` exceptions.
fn unexpected(dir: &str, needle: &str, known: &[&str]) -> Vec<String> {
    files_naming(dir, needle)
        .into_iter()
        .filter(|f| !known.contains(&f.as_str()))
        .collect()
}

#[test]
fn the_daemon_does_not_name_the_scenario_language() {
    // FIXME(issue 16): these are the docker CLI's layer (one command in, its
    // output out), still inside the engine; they move to the CLI model.
    let cli_layer = ["engine/docker.rs", "engine/networks/cli.rs"];
    let daemon = unexpected("engine", "scenario::", &cli_layer);
    assert!(
        daemon.is_empty(),
        "the daemon must not depend on the scenario language: {daemon:?}"
    );
}

#[test]
fn the_scenario_language_names_only_the_fault_layer_of_the_engine_where_it_did() {
    // FIXME(issue 16): `#@ fault` lines parse into the engine's fault types;
    // the scenario language is to become a crate above the engine.
    let known = ["scenario/ast.rs", "scenario/directive.rs"];
    let new = unexpected("scenario", "crate::fault", &known);
    assert!(
        new.is_empty(),
        "more scenario code depends on the fault layer: {new:?}"
    );
}
