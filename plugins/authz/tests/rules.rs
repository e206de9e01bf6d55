//! Properties of the rule engine over generated policies and requests: every
//! call gets exactly one verdict, documented denials win, and nothing malformed
//! is ever allowed.

use drydock_authz::{Phase, Policy, Verdict};
use drydock_sdk::wire::authz::AuthzRequest;
use proptest::prelude::*;

fn cond() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["GET", "POST", "HEAD", "DELETE"])
            .prop_map(|m| format!("method={m}")),
        prop::sample::select(vec![
            "/_ping",
            "/containers/*",
            "/containers/**",
            "/volumes/create",
            "/volumes"
        ])
        .prop_map(|p| format!("path={p}")),
        prop::sample::select(vec!["alice", "\"\""]).prop_map(|u| format!("user={u}")),
        prop::sample::select(vec![
            "body.HostConfig.Privileged=true",
            "body.Driver!=local",
            "body.HostConfig.Binds^=\"/:\"",
            "body.Name=*",
        ])
        .prop_map(str::to_owned),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(cond(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(allow, conds, msg)| {
            format!(
                "{} {}{}",
                if allow { "allow" } else { "deny" },
                conds.join(" "),
                if msg { " \"m\"" } else { "" }
            )
        })
}

fn policy_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(rule(), 0..6),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(rules, default)| {
            let mut text = rules.join("\n");
            if let Some(allow) = default {
                text.push_str(if allow {
                    "\ndefault allow"
                } else {
                    "\ndefault deny \"d\""
                });
            }
            text
        })
}

fn request() -> impl Strategy<Value = AuthzRequest> {
    (
        prop::sample::select(vec!["GET", "POST", "HEAD", "DELETE", "", "get"]),
        prop_oneof![
            prop::sample::select(vec![
                "/_ping",
                "/v1.41/containers/create?name=a",
                "/v1.41/volumes/create",
                "/v1.41/volumes",
                "/v1.41//containers/%63reate",
                "/v1.41/containers/%zz",
            ])
            .prop_map(str::to_owned),
            "[ -~]{0,30}",
        ],
        prop::option::of(prop_oneof![
            Just(
                br#"{"HostConfig":{"Privileged":true,"Binds":["/:/h"]},"Driver":"x","Name":"n"}"#
                    .to_vec()
            ),
            Just(br#"{"Driver":"local"}"#.to_vec()),
            prop::collection::vec(any::<u8>(), 0..40),
        ]),
        prop::sample::select(vec!["", "alice"]),
    )
        .prop_map(|(m, uri, body, user)| AuthzRequest {
            user: user.into(),
            user_authn_method: if user.is_empty() {
                String::new()
            } else {
                "TLS".into()
            },
            request_method: m.into(),
            request_uri: uri,
            request_body: body,
            ..Default::default()
        })
}

proptest! {
    #[test]
    fn every_request_gets_exactly_one_consistent_verdict(text in policy_text(), req in request()) {
        let policy = Policy::parse(&text).unwrap();
        for phase in [Phase::Request, Phase::Response] {
            let d = policy.decide(&req, phase);
            // Deterministic: the same call is judged the same way.
            prop_assert_eq!(&d, &policy.decide(&req, phase));
            // A denial always tells the client something; an allow says nothing.
            match d.verdict {
                Verdict::Deny => prop_assert!(!d.msg.is_empty()),
                Verdict::Allow => prop_assert!(d.msg.is_empty()),
            }
            if let Some(line) = d.rule {
                prop_assert!(line as usize <= text.lines().count());
            }
        }
    }

    #[test]
    fn malformed_uris_are_denied_whatever_the_policy(text in policy_text(), mut req in request(), bad in prop::sample::select(vec!["/v1.41/%", "/a%0", "/x%00y", "x", "%2F"])) {
        req.request_uri = bad.into();
        let policy = Policy::parse(&format!("allow\n{text}\ndefault allow")).unwrap_or_else(|_| Policy::parse("allow").unwrap());
        prop_assert_eq!(policy.decide(&req, Phase::Request).verdict, Verdict::Deny);
    }

    #[test]
    fn body_rules_never_allow_an_unreadable_body(conds in prop::collection::vec(cond(), 0..3), body in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)), mut req in request()) {
        // Only body-inspecting allow rules, default deny: no readable body, no entry.
        let text = format!("allow {} body.Name=*\ndefault deny \"d\"", conds.join(" "));
        let policy = Policy::parse(&text).unwrap();
        req.request_body = body.filter(|b| serde_json::from_slice::<serde_json::Value>(b).is_err());
        prop_assert_eq!(policy.decide(&req, Phase::Request).verdict, Verdict::Deny);
    }

    #[test]
    fn the_first_matching_rule_wins(text in policy_text(), req in request()) {
        prop_assume!(!req.request_method.is_empty());
        let policy = Policy::parse(&format!("deny \"first\"\n{text}")).unwrap();
        let d = policy.decide(&req, Phase::Request);
        prop_assert_eq!(d.verdict, Verdict::Deny);
        prop_assert!(d.msg == "first" || d.rule.is_none(), "{:?}", d);
    }

    #[test]
    fn the_parser_never_panics_and_errors_point_at_a_line(text in "[a-z=\"#., /*^!\n]{0,80}") {
        if let Err(e) = Policy::parse(&text) {
            prop_assert!(e.line >= 1 && e.line as usize <= text.lines().count().max(1));
        }
    }
}

proptest! {
    /// A body rule that cannot read the body denies, even when later rules
    /// and the default would allow: fail-closed denials win.
    #[test]
    fn an_unreadable_body_denies_even_under_default_allow(text in policy_text(), mut req in request(), body in prop::option::of(Just(b"{not json".to_vec()))) {
        req.request_method = "POST".into();
        req.request_uri = "/v1.41/containers/create".into();
        req.request_body = body;
        let base = text.lines().filter(|l| !l.starts_with("default")).collect::<Vec<_>>().join("\n");
        let policy = Policy::parse(&format!(
            "deny path=/containers/create body.HostConfig.Privileged=true \"no\"\n{base}\ndefault allow"
        )).unwrap();
        let d = policy.decide(&req, Phase::Request);
        prop_assert_eq!(d.verdict, Verdict::Deny);
        prop_assert_eq!(d.rule, Some(1));
    }
}
