//! The Engine API router against a real dockerd: every request of
//! tests/golden/api/raw-router.jsonl (raw requests recorded from dockerd
//! 20.10 by tests/realdockerd/record_api.py) is sent, in order, to the
//! simulated daemon's router as a server would pass it on; status, headers
//! and error text must be the recorded ones, and the small deterministic
//! bodies too. (Header values that follow the body's length, which differs
//! with paths and timestamps, are compared by name only.)
//!
//! Requests the simulation does not answer like dockerd yet are listed in
//! `KNOWN_GAPS` with the reason; the test also fails when one of them starts
//! matching, so the list only shrinks.

use drydock_engine::api::{ApiRequest, Router, WireResponse};
use drydock_engine::daemon::{Engine, EngineConfig};
use serde_json::Value;
use std::collections::BTreeMap;

const RECORDING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/api/raw-router.jsonl"
);

/// Recorded requests the simulation answers differently, and why.
const KNOWN_GAPS: &[(&str, &str)] = &[
    (
        "ctr-create-relbind-cmd",
        "host-path binds are not validated (no plugin sees them)",
    ),
    (
        "ctr-create-noimage-cmd",
        "a container without an image is refused: every simulated container has one",
    ),
    ("ctr-rm-c5", "follows from ctr-create-noimage-cmd"),
    (
        "ctr-start-c1-again",
        "containers run no processes: `true` has not exited until it is waited for",
    ),
];

/// Bodies compared exactly (IDs masked): small and the same on every run.
const BODIES: &[&str] = &[
    "vol-list-empty",
    "ctr-create-c1",
    "ctr-wait-c1",
    "ctr-wait-c4",
    "net-create-rn1",
    "cleanup-vol-list",
];

/// Every 64-hex ID replaced by `<id>`, so runs compare.
fn mask_ids(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            .count();
        if run == 64 {
            out.push_str("<id>");
            i += 64;
        } else {
            let step = run.max(1);
            out.push_str(&text[i..i + step]);
            i += step;
        }
    }
    out
}

fn request(entry: &Value) -> ApiRequest {
    let req = &entry["request"];
    let headers = req["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()));
    let body = match (&req["body"], &req["body_generated"]) {
        (Value::String(b), _) => Some(b.clone().into_bytes()),
        (_, Value::Object(g)) => {
            let text = format!(
                "{}{}{}",
                g["prefix"].as_str().unwrap(),
                g["repeat"]
                    .as_str()
                    .unwrap()
                    .repeat(g["count"].as_u64().unwrap() as usize),
                g["suffix"].as_str().unwrap()
            );
            Some(text.into_bytes())
        }
        _ => None,
    };
    ApiRequest::from_parts(
        req["method"].as_str().unwrap(),
        req["uri"].as_str().unwrap(),
        headers,
        body,
    )
}

/// The error text of an error answer: its JSON `message`, or the plain text.
fn error_text(status: u16, body: &str) -> Option<String> {
    (status >= 400).then(|| {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(mask_ids))
            .unwrap_or_else(|| mask_ids(body))
    })
}

/// Headers as compared: values of the length headers left out.
fn header_view<'h>(headers: impl Iterator<Item = (&'h str, &'h str)>) -> BTreeMap<String, String> {
    headers
        .filter(|(k, _)| *k != "Date")
        .map(|(k, v)| match k {
            "Content-Length" | "Transfer-Encoding" => ("<length>".to_owned(), String::new()),
            _ => (k.to_owned(), v.to_owned()),
        })
        .collect()
}

fn seen(resp: &WireResponse) -> (u16, BTreeMap<String, String>, String) {
    let headers = header_view(resp.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let body = String::from_utf8_lossy(&resp.body).trim_end().to_owned();
    (resp.status, headers, body)
}

#[tokio::test]
async fn the_router_answers_raw_requests_as_dockerd_20_10_does() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(EngineConfig::in_dir(dir.path(), 5));
    let router = Router::new(&engine);
    let text = std::fs::read_to_string(RECORDING).unwrap();
    let mut differ = Vec::new();
    let mut gaps_matching = Vec::new();
    let mut compared = 0;
    for line in text.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let name = entry["name"].as_str().unwrap();
        let want = &entry["response"];
        let status = want["status"].as_u64().unwrap() as u16;
        let body = want["body"].as_str().unwrap_or_default().trim_end();
        let want_headers = header_view(
            want["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap())),
        );
        let (got_status, got_headers, got_body) = seen(&router.serve(request(&entry)).await);
        let want_error = error_text(status, body);
        let got_error = error_text(got_status, &got_body);
        let mut same =
            got_status == status && got_error == want_error && got_headers == want_headers;
        if same && BODIES.contains(&name) {
            same = mask_ids(&got_body) == mask_ids(body);
        }
        compared += 1;
        let known = KNOWN_GAPS.iter().any(|(n, _)| *n == name);
        match (same, known) {
            (false, false) => differ.push(format!(
                "{name}: recorded {status} {want_error:?} {want_headers:?}\n  simulated {got_status} {got_error:?} {got_headers:?} {got_body:.200}"
            )),
            (true, true) => gaps_matching.push(name.to_owned()),
            _ => {}
        }
    }
    assert!(compared >= 100, "only {compared} requests in the recording");
    assert!(
        differ.is_empty(),
        "answers differ from dockerd's:\n{}",
        differ.join("\n")
    );
    assert!(
        gaps_matching.is_empty(),
        "these now match dockerd: take them off KNOWN_GAPS: {gaps_matching:?}"
    );
}

#[test]
fn ids_are_masked_and_nothing_else() {
    let id = "0bff807eb56535ec727f4ecd6723149ddb47f1aa005a7ec0c68b45d971c1ee29";
    assert_eq!(
        mask_ids(&format!("container \"{id}\" abc")),
        "container \"<id>\" abc"
    );
    assert_eq!(mask_ids("deadbeef"), "deadbeef");
}

mod fuzz {
    //! Random raw requests: whatever a client sends, the router answers
    //! with a status and, for an error, dockerd's JSON `{"message"}` (or the
    //! version check's plain text); it never panics, and the daemon keeps
    //! serving afterwards.

    use super::*;
    use proptest::prelude::*;

    fn method() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
        ])
        .prop_map(str::to_owned)
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "volumes",
                "containers",
                "networks",
                "create",
                "json",
                "start",
                "stop",
                "wait",
                "attach",
                "kill",
                "restart",
                "archive",
                "connect",
                "disconnect",
                "prune",
                "_ping",
                "version",
                "v1.41",
                "v1.99",
                "v1.0",
                "..",
                "%2F",
                "",
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z0-9._%-]{1,12}",
            "[a-z]{200,400}",
        ]
    }

    fn uri() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(segment(), 1..5),
            prop::option::of("[a-z=&%0-9{}\":]{0,40}"),
        )
            .prop_map(|(segs, q)| {
                let mut u = format!("/{}", segs.join("/"));
                if let Some(q) = q {
                    u.push('?');
                    u.push_str(&q);
                }
                u
            })
    }

    fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop::option::of(prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::sample::select(vec![
                r#"{"Name":"fz","Driver":"local"}"#,
                r#"{"Image":"bb","Cmd":["true"],"HostConfig":{"Binds":["fzv:/d"]}}"#,
                r#"{"Name":"fzn","IPAM":{"Config":[{"Subnet":"10.9.0.0/24"}]}}"#,
                r#"{"Container":"nope"}"#,
                "{",
                "[]",
                "\"x\"",
                "null",
                "{\"Name\":1}",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn any_request_gets_an_answer_and_the_daemon_keeps_serving(
            requests in prop::collection::vec((method(), uri(), body(), any::<bool>()), 1..12)
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let engine = Engine::new(EngineConfig::in_dir(dir.path(), 9));
                let router = Router::new(&engine);
                for (method, uri, body, json) in requests {
                    let mut headers = vec![("User-Agent".to_owned(), "fuzz".to_owned())];
                    if json {
                        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
                    }
                    let req = ApiRequest::from_parts(method, uri.clone(), headers, body);
                    let resp = router.serve(req).await;
                    prop_assert!((100..600).contains(&resp.status), "{uri}: {}", resp.status);
                    if resp.status >= 400 {
                        let text = String::from_utf8_lossy(&resp.body);
                        let json_message = serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| v["message"].as_str().map(str::to_owned));
                        let plain = resp.header("Content-Type")
                            == Some("text/plain; charset=utf-8");
                        prop_assert!(json_message.is_some() || plain, "{uri}: {text}");
                    }
                }
                // Still serving: a volume can be created and listed.
                let create = ApiRequest::post_json(
                    "/volumes/create",
                    &serde_json::json!({"Name": "after"}),
                );
                prop_assert_eq!(router.serve(create).await.status, 201);
                let list = router.serve(ApiRequest::get("/volumes")).await;
                prop_assert_eq!(list.status, 200);
                prop_assert!(String::from_utf8_lossy(&list.body).contains("\"after\""));
                Ok(())
            })?;
        }
    }
}
