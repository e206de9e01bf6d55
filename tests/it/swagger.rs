//! The Engine API's answers validate against moby's own API description,
//! `api/swagger.yaml` v1.41 as Debian's golang-github-docker-docker-dev
//! 20.10.24 installs it: `tests/api/swagger_check.py` sends its table of
//! requests to `drydock serve` and checks every answer, and checks the real
//! dockerd's recorded answers with the same allow-list of swagger
//! deviations: every `tests/golden/api/*.jsonl` (raw-router.jsonl; the
//! same table sent to dockerd, swagger-table.jsonl; …).
//!
//! Needs python3 with the yaml and jsonschema modules and the swagger file
//! (`DRYDOCK_SWAGGER` names another copy); without them the tests print a
//! SKIPPED line, unless `DRYDOCK_REQUIRE_ALL=1` (.ci/run) makes that a failure.

use super::external;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where Debian's golang-github-docker-docker-dev puts moby's API description.
const DEBIAN_SWAGGER: &str = "/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// python3 and the swagger file, or `None` after saying what is missing.
fn checker(test: &str) -> Option<(PathBuf, PathBuf)> {
    let python = external::require(test, &["python3"], "apt-get install python3")?;
    let modules = Command::new(&python)
        .args(["-c", "import yaml, jsonschema"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !modules {
        external::skip(
            test,
            "python3's yaml and jsonschema modules",
            "apt-get install python3-yaml python3-jsonschema",
        );
        return None;
    }
    let swagger =
        std::env::var_os("DRYDOCK_SWAGGER").map_or_else(|| DEBIAN_SWAGGER.into(), PathBuf::from);
    if !swagger.is_file() {
        external::skip(
            test,
            &swagger.display().to_string(),
            "apt-get install golang-github-docker-docker-dev",
        );
        return None;
    }
    Some((python, swagger))
}

/// Runs the checker with `args` after the swagger path.
fn check(python: &Path, swagger: &Path, args: &[&str]) -> (Output, String) {
    let out = Command::new(python)
        .arg(root().join("tests/api/swagger_check.py"))
        .arg(swagger)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn drydock_serve_s_answers_validate_against_moby_s_swagger() {
    let Some((python, swagger)) =
        checker("swagger::drydock_serve_s_answers_validate_against_moby_s_swagger")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let served = super::serve::serve(dir.path());
    super::serve::wait_for(&served.socket);
    let socket = served.socket.display().to_string();
    let (out, text) = check(&python, &swagger, &["--socket", &socket]);
    drop(served);
    assert!(out.status.success(), "the API schema check failed:\n{text}");
    assert!(text.contains("\nsummary: "), "{text}");
}

#[test]
fn real_dockerd_s_recorded_answers_validate_with_the_allow_list() {
    let Some((python, swagger)) =
        checker("swagger::real_dockerd_s_recorded_answers_validate_with_the_allow_list")
    else {
        return;
    };
    // Every recording of a real dockerd's answers in tests/golden/api/.
    let mut recordings: Vec<String> = std::fs::read_dir(root().join("tests/golden/api"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| p.display().to_string())
        .collect();
    recordings.sort();
    for name in ["raw-router.jsonl", "swagger-table.jsonl"] {
        assert!(
            recordings.iter().any(|r| r.ends_with(name)),
            "{name} missing"
        );
    }
    let args: Vec<&str> = recordings
        .iter()
        .flat_map(|r| ["--recorded", r.as_str()])
        .collect();
    let (out, text) = check(&python, &swagger, &args);
    assert!(out.status.success(), "the API schema check failed:\n{text}");
    // Every allowed deviation is one a recording shows: the allow-list
    // demands of drydock no less than real dockerd does, and no more.
    assert!(!text.contains("note: allow-list entry"), "{text}");
    assert!(text.contains(" 0 FAIL, "), "{text}");
}

/// A volume with a Labels that is no object and a Scope outside the enum.
const VOLUME: &str = r#"{"Name":"x","Driver":"local","Mountpoint":"/m","Labels":5,"Scope":"everywhere","Options":null}"#;
/// An x-nullable object (EndpointSettings.IPAMConfig) that is a number.
const INSPECT: &str = r#"{"NetworkSettings":{"Networks":{"b":{"IPAMConfig":5}}}}"#;

/// The checker is not vacuous: answers that break the schema fail, each at
/// its JSON path.
#[test]
fn the_checker_fails_answers_that_break_the_schema() {
    let Some((python, swagger)) =
        checker("swagger::the_checker_fails_answers_that_break_the_schema")
    else {
        return;
    };
    // (method, uri, status, Content-Type, body)
    const JSON: &str = "application/json";
    let answers = [
        ("GET", "/v1.41/volumes/x", 200, JSON, VOLUME),
        (
            "POST",
            "/v1.41/containers/create",
            201,
            JSON,
            r#"{"Id":"x"}"#,
        ),
        ("GET", "/v1.41/containers/c/json", 200, JSON, INSPECT),
        ("GET", "/_ping", 200, JSON, "OK"),
        ("GET", "/v1.41/bogus", 200, JSON, "{}"),
        (
            "GET",
            "/v1.41/volumes/x",
            404,
            "text/plain",
            "no such volume",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.jsonl");
    let lines: Vec<String> = answers
        .iter()
        .map(|(method, uri, status, content_type, body)| {
            serde_json::json!({
                "request": {"method": method, "uri": uri},
                "response": {"status": status, "headers": {"Content-Type": content_type}, "body": body},
            })
            .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (out, text) = check(&python, &swagger, &["--recorded", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "FAIL GET /v1.41/volumes/x 200: $.Labels: expected object, got 5 [VolumeInspect]",
        "    $.Scope: expected one of [\"local\",\"global\"], got \"everywhere\"",
        "FAIL POST /v1.41/containers/create 201: $.Warnings: required property missing",
        "$.NetworkSettings.Networks.b.IPAMConfig: expected object or null, got 5",
        "FAIL GET /_ping 200: $: Content-Type application/json",
        "FAIL GET /v1.41/bogus 200: $: no swagger operation",
        "FAIL GET /v1.41/volumes/x 404: $: Content-Type text/plain, expected application/json",
        "summary: 0 ok, 6 FAIL",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}
