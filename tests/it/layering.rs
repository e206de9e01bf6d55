//! The layering ARCHITECTURE.md promises, checked: which crate may depend on
//! which (from `cargo metadata`), and which layer of the engine crate may
//! name which (from the code outside tests): the docker CLI model above the
//! Engine API above the daemon, the scenario language above them all.

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
fn each_layer_names_only_the_layers_below_it() {
    // client (docker_cli) → Engine API (api) → daemon → plugin client
    // (plugins); the scenario language sits on top of the CLI model.
    let rules: [(&str, &[&str]); 4] = [
        (
            "plugins",
            &[
                "crate::daemon",
                "crate::api",
                "crate::docker_cli",
                "crate::scenario",
            ],
        ),
        (
            "daemon",
            &["crate::api", "crate::docker_cli", "crate::scenario"],
        ),
        ("api", &["crate::docker_cli", "crate::scenario"]),
        ("docker_cli", &["crate::scenario"]),
    ];
    for (layer, above) in rules {
        for needle in above {
            let found = unexpected(layer, needle, &[]);
            assert!(
                found.is_empty(),
                "{layer}/ must not depend on {needle}: {found:?}"
            );
        }
    }
}

#[test]
fn the_layer_check_sees_a_dependency_where_there_is_one() {
    // The CLI model is a client of the API: the scan must find that, or the
    // rules above prove nothing.
    assert!(!files_naming("docker_cli", "crate::api").is_empty());
    assert!(!files_naming("api", "crate::daemon").is_empty());
}

#[test]
fn the_scenario_language_names_only_the_fault_layer_of_the_engine_where_it_did() {
    // `#@ fault` lines parse into the fault layer's types (a dependency
    // downwards, as the language sits above the engine); only the AST and
    // the directive parser need them.
    let known = ["scenario/ast.rs", "scenario/directive.rs"];
    let new = unexpected("scenario", "crate::plugins::fault", &known);
    assert!(
        new.is_empty(),
        "more scenario code depends on the fault layer: {new:?}"
    );
}
