//! Judging one request (or response) against a [`Policy`]: exactly one
//! [`Decision`], failing closed on anything that cannot be read.
//!
//! Denials that no rule can override ("deny wins"):
//! * a URI that cannot be decoded or normalised, an empty method or URI;
//! * a matching rule that inspects the body when the body is absent (dockerd
//!   forwards only JSON bodies under 1 MiB: a chunked, empty-length or oversized
//!   body arrives as *no body* — the CVE-2024-41110 bypass class), not JSON, or
//!   larger than [`MAX_BODY`].

use crate::policy::{Cond, Op, Phase, Policy, Rule, Source, Verdict};
use drydock_sdk::wire::authz::AuthzRequest;
use serde_json::Value;

/// The largest body the plugin inspects; dockerd never forwards 1 MiB or more.
pub const MAX_BODY: usize = 1 << 20;

/// The outcome of judging one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The deciding rule's line (`None`: the default, or a fail-closed check).
    pub rule: Option<u32>,
    /// Message for the client (empty when allowed).
    pub msg: String,
}

impl Decision {
    fn deny(rule: Option<u32>, msg: impl Into<String>) -> Self {
        Decision {
            verdict: Verdict::Deny,
            rule,
            msg: msg.into(),
        }
    }

    fn of(rule: &Rule) -> Self {
        Decision {
            verdict: rule.verdict,
            rule: Some(rule.line),
            msg: match rule.verdict {
                Verdict::Allow => String::new(),
                Verdict::Deny => rule.msg.clone(),
            },
        }
    }

    /// Whether the call may proceed.
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }
}

/// The body as the plugin received it.
enum Body {
    Absent,
    TooLarge(usize),
    Invalid(String),
    Json(Value),
}

impl Body {
    fn of(bytes: Option<&[u8]>) -> Body {
        match bytes {
            None => Body::Absent,
            Some([]) => Body::Absent,
            Some(b) if b.len() > MAX_BODY => Body::TooLarge(b.len()),
            Some(b) => match serde_json::from_slice(b) {
                Ok(v) => Body::Json(v),
                Err(e) => Body::Invalid(e.to_string()),
            },
        }
    }
}

/// The request path as dockerd's router sees it: percent-decoded, `.`/`..`
/// resolved, repeated and trailing slashes dropped, the `/vN.M` prefix removed.
/// `None` when it cannot be decoded (the caller denies).
pub fn normalise_path(uri: &str) -> Option<String> {
    let raw = uri.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return None;
    }
    let decoded = percent_decode(raw)?;
    let mut segs: Vec<&str> = Vec::new();
    for s in decoded.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let joined = format!("/{}", segs.join("/"));
    Some(crate::policy::strip_version(&joined).to_owned())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    // A decoded control character (NUL, newline…) has no business in a path.
    (!text.chars().any(char::is_control)).then_some(text)
}

/// The values at `field` in `v`, descending into every element of a list met on the way.
fn lookup<'a>(v: &'a Value, field: &[String], out: &mut Vec<&'a Value>) {
    match (v, field.split_first()) {
        (Value::Array(items), _) if !field.is_empty() => {
            for i in items {
                lookup(i, field, out);
            }
        }
        (_, None) => out.push(v),
        (Value::Object(m), Some((k, rest))) => {
            if let Some(child) = m.get(k) {
                lookup(child, rest, out);
            }
        }
        _ => {}
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn body_matches(body: &Value, field: &[String], op: Op, values: &[Value]) -> bool {
    let mut found = Vec::new();
    lookup(body, field, &mut found);
    // A list field is judged by its elements.
    let elems: Vec<&Value> = found
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(a) if op != Op::Set => a.iter().collect::<Vec<_>>(),
            v => vec![v],
        })
        .collect();
    match op {
        Op::Set => elems.iter().any(|v| truthy(v)),
        Op::Eq => elems.iter().any(|e| values.iter().any(|v| scalar_eq(e, v))),
        Op::Ne => !elems.iter().any(|e| values.iter().any(|v| scalar_eq(e, v))),
        Op::Prefix => elems.iter().any(|e| {
            e.as_str().is_some_and(|s| {
                values
                    .iter()
                    .any(|v| v.as_str().is_some_and(|p| s.starts_with(p)))
            })
        }),
    }
}

/// Why a body a rule needs cannot be read, if it cannot.
fn unreadable(body: &Body, source: Source, line: u32) -> Option<String> {
    let what = match source {
        Source::Request => "request body",
        Source::Response => "response body",
    };
    match body {
        Body::Json(_) => None,
        Body::Absent => Some(match source {
            Source::Request => format!(
                "request body not available for inspection (rule at line {line} needs it; \
                 dockerd forwards only JSON bodies under 1 MiB with a Content-Length)"
            ),
            Source::Response => format!(
                "response body not available for inspection (rule at line {line} needs it; \
                 dockerd forwards only buffered JSON responses)"
            ),
        }),
        Body::TooLarge(n) => Some(format!("{what} of {n} bytes is too large to inspect")),
        Body::Invalid(e) => Some(format!("{what} is not valid JSON: {e}")),
    }
}

impl Policy {
    /// Judges a call: `phase` says whether it is dockerd's AuthZReq or AuthZRes.
    ///
    /// Requests no rule matches get the default; responses no response rule
    /// matches are allowed (their request was already judged).
    pub fn decide(&self, req: &AuthzRequest, phase: Phase) -> Decision {
        if req.request_method.is_empty() || req.request_uri.is_empty() {
            return Decision::deny(None, "malformed request: no method or URI");
        }
        let Some(path) = normalise_path(&req.request_uri) else {
            return Decision::deny(None, format!("malformed request URI {:?}", req.request_uri));
        };
        let method = req.request_method.to_ascii_uppercase();
        let body = Body::of(req.request_body.as_deref());
        let response = Body::of(req.response_body.as_deref());
        for rule in self.rules.iter().filter(|r| r.phase == phase) {
            let plain = rule
                .conds
                .iter()
                .filter(|c| !c.needs_body())
                .all(|c| match c {
                    Cond::User(users) => users.contains(&req.user),
                    Cond::Method(ms) => ms.contains(&method),
                    Cond::Path(globs) => globs.iter().any(|g| g.matches(&path)),
                    Cond::Status(codes) => codes.contains(&req.response_status_code),
                    Cond::Body { .. } => true,
                });
            if !plain {
                continue;
            }
            if !rule.needs_body() {
                return Decision::of(rule);
            }
            // Every body the rule reads must be readable, or it denies.
            for source in [Source::Request, Source::Response] {
                if rule.conds.iter().any(|c| c.source() == Some(source)) {
                    let b = match source {
                        Source::Request => &body,
                        Source::Response => &response,
                    };
                    if let Some(why) = unreadable(b, source, rule.line) {
                        return Decision::deny(Some(rule.line), why);
                    }
                }
            }
            let all = rule.conds.iter().all(|c| match c {
                Cond::Body {
                    source,
                    field,
                    op,
                    values,
                } => match (source, &body, &response) {
                    (Source::Request, Body::Json(v), _) | (Source::Response, _, Body::Json(v)) => {
                        body_matches(v, field, *op, values)
                    }
                    _ => false,
                },
                _ => true,
            });
            if all {
                return Decision::of(rule);
            }
        }
        match phase {
            Phase::Response => Decision {
                verdict: Verdict::Allow,
                rule: None,
                msg: String::new(),
            },
            Phase::Request => Decision {
                verdict: self.default.verdict,
                rule: self.default.line,
                msg: match self.default.verdict {
                    Verdict::Allow => String::new(),
                    Verdict::Deny => self.default.msg.clone(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, body: Option<&str>) -> AuthzRequest {
        AuthzRequest {
            request_method: method.into(),
            request_uri: uri.into(),
            request_body: body.map(|b| b.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    const POLICY: &str = r#"
allow method=HEAD,GET path=/_ping
deny path=/containers/create body.HostConfig.Privileged=true "no privileged containers"
deny path=/containers/create body.HostConfig.Binds^="/:" "no bind mount of /"
deny path=/containers/create body.HostConfig.Mounts.Source="/" "no bind mount of /"
deny path=/volumes/create body.Driver!=local,gvol "only local and gvol volumes"
allow path=/containers/*,/containers/*/*,/volumes,/volumes/**
"#;

    fn decide(uri: &str, body: Option<&str>) -> Decision {
        Policy::parse(POLICY)
            .unwrap()
            .decide(&req("POST", uri, body), Phase::Request)
    }

    #[test]
    fn body_rules_catch_privileged_and_root_binds() {
        let d = decide(
            "/v1.41/containers/create?name=x",
            Some(r#"{"HostConfig":{"Privileged":true}}"#),
        );
        assert_eq!(
            (d.verdict, d.rule, d.msg.as_str()),
            (Verdict::Deny, Some(3), "no privileged containers")
        );
        let d = decide(
            "/v1.41/containers/create",
            Some(r#"{"HostConfig":{"Binds":["v:/d","/:/host:ro"]}}"#),
        );
        assert_eq!(d.msg, "no bind mount of /");
        let d = decide(
            "/v1.41/containers/create",
            Some(r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}"#),
        );
        assert_eq!(d.msg, "no bind mount of /");
        let d = decide(
            "/v1.41/containers/create",
            Some(r#"{"HostConfig":{"Binds":["/srv:/d"],"Privileged":false}}"#),
        );
        assert!(d.allowed(), "{d:?}");
    }

    #[test]
    fn only_listed_volume_drivers_pass() {
        assert!(decide(
            "/v1.41/volumes/create",
            Some(r#"{"Driver":"local","Name":"a"}"#)
        )
        .allowed());
        let d = decide(
            "/v1.41/volumes/create",
            Some(r#"{"Driver":"evil","Name":"a"}"#),
        );
        assert_eq!(d.msg, "only local and gvol volumes");
        // A body without Driver is not a listed driver.
        assert!(!decide("/v1.41/volumes/create", Some(r#"{"Name":"a"}"#)).allowed());
    }

    #[test]
    fn a_body_rule_without_a_body_denies() {
        let d = decide("/v1.41/containers/create", None);
        assert!(!d.allowed());
        assert!(d.msg.contains("not available for inspection"), "{}", d.msg);
        let d = decide("/v1.41/containers/create", Some("{not json"));
        assert!(d.msg.contains("not valid JSON"), "{}", d.msg);
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY));
        let d = decide("/v1.41/containers/create", Some(&big));
        assert!(d.msg.contains("too large"), "{}", d.msg);
    }

    #[test]
    fn paths_are_normalised_before_matching() {
        // Encoded, doubled and dotted forms of a guarded path still hit its rules.
        for uri in [
            "/v1.41//containers/create",
            "/v1.41/containers/%63reate",
            "/v1.41/containers/./create",
            "/v1.41/x/../containers/create/",
        ] {
            let d = decide(uri, Some(r#"{"HostConfig":{"Privileged":true}}"#));
            assert_eq!(d.msg, "no privileged containers", "{uri}");
        }
        assert!(!decide("/v1.41/containers/%zz", None).allowed());
        assert!(!decide("/v1.41/containers/a%00b", None).allowed());
        assert!(!decide("relative", None).allowed());
    }

    #[test]
    fn unmatched_requests_get_the_default_and_responses_pass() {
        let p = Policy::parse("deny on=response status=200 path=/volumes \"secret\"").unwrap();
        let d = p.decide(&req("GET", "/v1.41/info", None), Phase::Request);
        assert_eq!(d.msg, crate::policy::DEFAULT_DENY_MSG);
        let mut r = req("GET", "/v1.41/volumes", None);
        r.response_status_code = 200;
        assert_eq!(p.decide(&r, Phase::Response).msg, "secret");
        r.response_status_code = 500;
        assert!(p.decide(&r, Phase::Response).allowed());
    }

    #[test]
    fn response_rules_read_the_response_body_and_fail_closed_without_it() {
        let p = Policy::parse(
            "deny on=response path=/volumes/* response.Driver=secret \"hidden volume\"",
        )
        .unwrap();
        let mut r = req("GET", "/v1.41/volumes/v1", None);
        r.response_status_code = 200;
        r.response_body = Some(br#"{"Name":"v1","Driver":"secret"}"#.to_vec());
        assert_eq!(p.decide(&r, Phase::Response).msg, "hidden volume");
        r.response_body = Some(br#"{"Name":"v1","Driver":"local"}"#.to_vec());
        assert!(p.decide(&r, Phase::Response).allowed());
        r.response_body = None;
        let d = p.decide(&r, Phase::Response);
        assert!(d.msg.contains("response body not available"), "{}", d.msg);
    }

    #[test]
    fn a_hostile_uri_against_a_many_star_rule_gets_its_answer() {
        // Issue 22's trigger: this used to keep a worker busy for minutes.
        let p = Policy::parse("allow path=/**a**a**a**a**b\ndefault deny \"no\"").unwrap();
        let uri = format!("/v1.41/{}", "a".repeat(20_000));
        let d = p.decide(&req("GET", &uri, None), Phase::Request);
        assert_eq!((d.verdict, d.msg.as_str()), (Verdict::Deny, "no"));
        let d = p.decide(&req("GET", &format!("{uri}b"), None), Phase::Request);
        assert!(d.allowed(), "{d:?}");
    }
}
