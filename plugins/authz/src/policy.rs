//! The policy file: its syntax, the parsed rules, and line-numbered errors.
//!
//! One rule per line, `#` starts a comment (outside quotes):
//!
//! ```text
//! default deny "not allowed by policy"
//! allow method=HEAD,GET path=/_ping
//! deny path=/containers/create body.HostConfig.Privileged=true "no privileged containers"
//! deny on=response path=/volumes/* status=200 "volume listings are secret"
//! ```
//!
//! A rule is `allow` or `deny`, then conditions (all must hold), then an
//! optional quoted message. See `docs/authz.md` for the full reference.

use crate::glob::PathGlob;
use serde_json::Value;
use std::fmt;

/// A syntax or meaning error in a policy file, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PolicyError {
    /// 1-based line of the problem.
    pub line: u32,
    /// What is wrong, for the person editing the file.
    pub message: String,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let the request (or response) through.
    Allow,
    /// Refuse it with the rule's message.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        })
    }
}

/// Which of dockerd's two calls a rule judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `AuthZReq`, before the daemon acts (the default).
    Request,
    /// `AuthZRes`, after the daemon acted, with its response status.
    Response,
}

/// How a body field is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`: the field (or any element of it, if it is a list) equals one of the values.
    Eq,
    /// `!=`: no element of the field equals any of the values (a missing field
    /// counts as "none of them").
    Ne,
    /// `^=`: the field (or any element) is a string starting with one of the values.
    Prefix,
    /// `=*`: the field is present and not `null`, `false`, `""`, `[]` or `{}`.
    Set,
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `user=a,b`: the TLS user is one of these (`""` = no user).
    User(Vec<String>),
    /// `method=GET,HEAD` (case-insensitive).
    Method(Vec<String>),
    /// `path=/containers/*/start,/volumes/**`: the version-less path matches a
    /// glob (compiled when the policy is parsed).
    Path(Vec<PathGlob>),
    /// `status=200,204`: response rules only.
    Status(Vec<i64>),
    /// `body.A.B=…`: a field of the JSON request body; `response.A.B=…`
    /// (response rules only): a field of the JSON response body.
    Body {
        /// Which body.
        source: Source,
        /// Field path; lists met on the way are searched element by element.
        field: Vec<String>,
        /// Comparison.
        op: Op,
        /// Values (JSON scalars; bare words are strings).
        values: Vec<Value>,
    },
}

/// The body a field condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The client's request body (`body.`).
    Request,
    /// The daemon's response body (`response.`), in AuthZRes.
    Response,
}

impl Cond {
    /// Whether this condition reads a body.
    pub fn needs_body(&self) -> bool {
        matches!(self, Cond::Body { .. })
    }

    /// The body this condition reads, if any.
    pub fn source(&self) -> Option<Source> {
        match self {
            Cond::Body { source, .. } => Some(*source),
            _ => None,
        }
    }
}

/// One line of the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// 1-based line in the file (used in audit logs and messages).
    pub line: u32,
    /// What the rule decides when it matches.
    pub verdict: Verdict,
    /// Which call it judges.
    pub phase: Phase,
    /// All must hold.
    pub conds: Vec<Cond>,
    /// The message a denied client sees.
    pub msg: String,
}

impl Rule {
    /// Whether any condition inspects the request body.
    pub fn needs_body(&self) -> bool {
        self.conds.iter().any(Cond::needs_body)
    }
}

/// The verdict when no request rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Default {
    /// Allow or deny.
    pub verdict: Verdict,
    /// Message on denial.
    pub msg: String,
    /// The `default` line, if the file has one.
    pub line: Option<u32>,
}

/// The message used when the file does not say what to do by default.
pub const DEFAULT_DENY_MSG: &str = "no rule of the authorization policy allows this request";

/// A parsed policy: ordered rules, first match wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Rules in file order.
    pub rules: Vec<Rule>,
    /// What happens to requests no rule matches.
    pub default: Default,
}

impl Policy {
    /// Parses a policy file's text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut rules = Vec::new();
        let mut default: Option<Default> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i as u32 + 1;
            let err = |message: String| PolicyError { line, message };
            let tokens = tokenize(raw).map_err(err)?;
            let Some((first, rest)) = tokens.split_first() else {
                continue;
            };
            let verdict = match first.text.as_str() {
                "allow" if !first.quoted => Verdict::Allow,
                "deny" if !first.quoted => Verdict::Deny,
                "default" if !first.quoted => {
                    if let Some(d) = &default {
                        return Err(err(format!(
                            "a second `default` line (the first is line {})",
                            d.line.unwrap_or(0)
                        )));
                    }
                    default = Some(parse_default(rest).map_err(err)?.with_line(line));
                    continue;
                }
                other => {
                    return Err(err(format!(
                        "a rule starts with `allow`, `deny` or `default`, not `{other}`"
                    )))
                }
            };
            rules.push(parse_rule(line, verdict, rest).map_err(err)?);
        }
        Ok(Policy {
            rules,
            default: default.unwrap_or(Default {
                verdict: Verdict::Deny,
                msg: DEFAULT_DENY_MSG.into(),
                line: None,
            }),
        })
    }
}

impl Default {
    fn with_line(mut self, line: u32) -> Self {
        self.line = Some(line);
        self
    }
}

fn parse_default(rest: &[Token]) -> Result<Default, String> {
    let (verdict, msg) = match rest {
        [v] | [v, _] if !v.quoted && (v.text == "allow" || v.text == "deny") => (
            if v.text == "allow" {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            rest.get(1),
        ),
        _ => return Err("expected `default allow` or `default deny \"message\"`".into()),
    };
    let msg = match msg {
        Some(m) if m.quoted => m.text.clone(),
        Some(m) => return Err(format!("the message must be quoted, not `{}`", m.text)),
        None if verdict == Verdict::Deny => DEFAULT_DENY_MSG.into(),
        None => String::new(),
    };
    Ok(Default {
        verdict,
        msg,
        line: None,
    })
}

fn parse_rule(line: u32, verdict: Verdict, rest: &[Token]) -> Result<Rule, String> {
    let mut rule = Rule {
        line,
        verdict,
        phase: Phase::Request,
        conds: Vec::new(),
        msg: String::new(),
    };
    let mut msg = None;
    let mut phase_set = false;
    for t in rest {
        if t.quoted {
            if msg.is_some() {
                return Err("a rule has at most one quoted message".into());
            }
            msg = Some(t.text.clone());
            continue;
        }
        let (key, op, value) = split_condition(&t.text)?;
        let list = || split_list(value);
        let cond = match key {
            "on" => {
                if op != "=" || phase_set {
                    return Err("write `on=request` or `on=response` once".into());
                }
                phase_set = true;
                rule.phase = match value {
                    "request" => Phase::Request,
                    "response" => Phase::Response,
                    other => return Err(format!("`on` is `request` or `response`, not `{other}`")),
                };
                continue;
            }
            "user" | "method" | "path" | "status" if op != "=" => {
                return Err(format!("`{key}` takes `=`, not `{op}`"))
            }
            "user" => Cond::User(list()?.into_iter().map(|v| v.text).collect()),
            "method" => Cond::Method(
                list()?
                    .into_iter()
                    .map(|v| v.text.to_ascii_uppercase())
                    .collect(),
            ),
            "path" => {
                let globs: Vec<String> = list()?.into_iter().map(|v| v.text).collect();
                if let Some(bad) = globs.iter().find(|g| !g.starts_with('/')) {
                    return Err(format!("a path pattern starts with `/`: `{bad}`"));
                }
                if let Some(bad) = globs.iter().find(|g| is_versioned(g)) {
                    return Err(format!(
                        "path patterns are matched without the API version: write `{}` for `{bad}`",
                        strip_version(bad)
                    ));
                }
                Cond::Path(
                    globs
                        .iter()
                        .map(|g| PathGlob::new(g))
                        .collect::<Result<_, _>>()?,
                )
            }
            "status" => Cond::Status(
                list()?
                    .into_iter()
                    .map(|v| {
                        v.text
                            .parse::<i64>()
                            .ok()
                            .filter(|s| (100..600).contains(s))
                            .ok_or_else(|| {
                                format!("`status` takes HTTP status codes, not `{}`", v.text)
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            body if body.starts_with("body.") || body.starts_with("response.") => {
                let (source, rest) = match body.strip_prefix("body.") {
                    Some(rest) => (Source::Request, rest),
                    None => (Source::Response, &body["response.".len()..]),
                };
                let field: Vec<String> = rest
                    .split('.')
                    .map(str::to_owned)
                    .collect();
                if field.iter().any(String::is_empty) {
                    return Err(format!("`{body}` has an empty field name"));
                }
                let (op, values) = match (op, value) {
                    ("=", "*") => (Op::Set, Vec::new()),
                    ("=", _) => (Op::Eq, literals(list()?)),
                    ("!=", _) => (Op::Ne, literals(list()?)),
                    ("^=", _) => {
                        let vals = list()?;
                        if let Some(bad) = vals.iter().find(|v| literal(v).as_str().is_none()) {
                            return Err(format!(
                                "`^=` compares text: quote `{}` to use it as text",
                                bad.text
                            ));
                        }
                        (Op::Prefix, literals(vals))
                    }
                    (op, _) => return Err(format!("unknown comparison `{op}`")),
                };
                Cond::Body {
                    source,
                    field,
                    op,
                    values,
                }
            }
            other => {
                return Err(format!(
                "unknown condition `{other}` (known: on, user, method, path, status, body.FIELD, response.FIELD)"
            ))
            }
        };
        rule.conds.push(cond);
    }
    if rule.phase == Phase::Request && rule.conds.iter().any(|c| matches!(c, Cond::Status(_))) {
        return Err("`status` needs `on=response`: requests have no status yet".into());
    }
    if rule.phase == Phase::Request
        && rule
            .conds
            .iter()
            .any(|c| c.source() == Some(Source::Response))
    {
        return Err("`response.FIELD` needs `on=response`: requests have no response yet".into());
    }
    rule.msg = msg.unwrap_or_else(|| match verdict {
        Verdict::Deny => format!("denied by policy rule at line {line}"),
        Verdict::Allow => String::new(),
    });
    Ok(rule)
}

/// `key=value`, `key!=value`, `key^=value`.
fn split_condition(text: &str) -> Result<(&str, &'static str, &str), String> {
    let Some(eq) = text.find('=') else {
        return Err(format!(
            "`{text}` is not a condition (KEY=VALUE) nor a quoted message"
        ));
    };
    let (key, op) = match text[..eq].strip_suffix('!') {
        Some(k) => (k, "!="),
        None => match text[..eq].strip_suffix('^') {
            Some(k) => (k, "^="),
            None => (&text[..eq], "="),
        },
    };
    if key.is_empty() {
        return Err(format!("`{text}` has no key before `{op}`"));
    }
    Ok((key, op, &text[eq + 1..]))
}

/// One item of a comma list; `quoted` keeps `"true"` a string.
#[derive(Debug, Clone)]
struct Item {
    text: String,
    quoted: bool,
}

fn split_list(value: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quote = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_quote = !in_quote;
                quoted = true;
            }
            '\\' if in_quote => cur.push(chars.next().ok_or("a `\\` ends the line")?),
            ',' if !in_quote => {
                items.push(Item {
                    text: std::mem::take(&mut cur),
                    quoted,
                });
                quoted = false;
            }
            c => cur.push(c),
        }
    }
    items.push(Item { text: cur, quoted });
    if items.iter().any(|i| i.text.is_empty() && !i.quoted) {
        return Err(format!(
            "empty value in `{value}` (write \"\" for an empty text)"
        ));
    }
    Ok(items)
}

fn literal(item: &Item) -> Value {
    if item.quoted {
        return Value::String(item.text.clone());
    }
    match serde_json::from_str::<Value>(&item.text) {
        Ok(v @ (Value::Bool(_) | Value::Null | Value::Number(_))) => v,
        _ => Value::String(item.text.clone()),
    }
}

fn literals(items: Vec<Item>) -> Vec<Value> {
    items.iter().map(literal).collect()
}

/// A word of a line: quoted parts are kept together, without the quotes only
/// when the whole word is one quoted string (a message).
#[derive(Debug, Clone)]
struct Token {
    text: String,
    quoted: bool,
}

fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&c) = chars.peek() else { break };
        if c == '#' {
            break;
        }
        if c == '"' {
            // A message: the quotes go, escapes are resolved.
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted text".into()),
                    Some('"') => break,
                    Some('\\') => text.push(chars.next().ok_or("unterminated quoted text")?),
                    Some(c) => text.push(c),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return Err("a quoted message must be followed by a space".into());
            }
            tokens.push(Token { text, quoted: true });
            continue;
        }
        // A condition: quotes stay (split_list reads them).
        let mut text = String::new();
        let mut in_quote = false;
        while let Some(&c) = chars.peek() {
            if !in_quote && c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' {
                in_quote = !in_quote;
            }
            if c == '\\' && in_quote {
                text.push(c);
                text.push(chars.next().ok_or("unterminated quoted text")?);
                continue;
            }
            text.push(c);
        }
        if in_quote {
            return Err("unterminated quoted text".into());
        }
        tokens.push(Token {
            text,
            quoted: false,
        });
    }
    Ok(tokens)
}

/// Whether `path` starts with an API version segment (`/v1.41/`).
pub fn is_versioned(path: &str) -> bool {
    strip_version(path).len() != path.len()
}

/// `path` without a leading `/vN` or `/vN.M` segment, as dockerd's router
/// accepts both forms for the same endpoint.
pub fn strip_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let seg = &rest[..end];
    let mut parts = seg.splitn(2, '.');
    let numeric =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let major = parts.next();
    let minor = parts.next();
    if numeric(major) && (minor.is_none() || numeric(minor)) {
        let stripped = &rest[end..];
        if stripped.is_empty() {
            "/"
        } else {
            stripped
        }
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_policy_parses_into_ordered_rules() {
        let p = Policy::parse(
            r#"
# comments and blank lines are fine
default deny "ask the platform team"
allow method=head,GET path=/_ping,/version
deny path=/containers/create body.HostConfig.Privileged=true "no privileged containers"
deny path=/containers/create body.HostConfig.Binds^="/:" "no bind mount of /"
deny path=/volumes/create body.Driver!=local,gvol
allow user=alice,"" on=request   # trailing comment
deny on=response status=200 path=/volumes "listings are secret"
"#,
        )
        .unwrap();
        assert_eq!(p.default.verdict, Verdict::Deny);
        assert_eq!(p.default.msg, "ask the platform team");
        assert_eq!(p.rules.len(), 6);
        assert_eq!(p.rules[0].line, 4);
        assert_eq!(
            p.rules[0].conds[0],
            Cond::Method(vec!["HEAD".into(), "GET".into()])
        );
        assert_eq!(
            p.rules[1].conds[1],
            Cond::Body {
                source: Source::Request,
                field: vec!["HostConfig".into(), "Privileged".into()],
                op: Op::Eq,
                values: vec![json!(true)]
            }
        );
        assert_eq!(p.rules[3].msg, "denied by policy rule at line 7");
        assert_eq!(
            p.rules[4].conds[0],
            Cond::User(vec!["alice".into(), "".into()])
        );
        assert_eq!(p.rules[5].phase, Phase::Response);
    }

    #[test]
    fn without_a_default_line_everything_else_is_denied() {
        let p = Policy::parse("allow path=/_ping\n").unwrap();
        assert_eq!(p.default.verdict, Verdict::Deny);
        assert_eq!(p.default.line, None);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            ("allow\nallw path=/x", 2, "not `allw`"),
            ("deny path=/x \"unterminated", 1, "unterminated"),
            ("deny colour=red", 1, "unknown condition `colour`"),
            ("deny path=containers", 1, "starts with `/`"),
            (
                "deny path=/v1.41/containers/json",
                1,
                "without the API version",
            ),
            ("deny status=200", 1, "needs `on=response`"),
            ("default deny\ndefault allow", 2, "second `default`"),
            ("deny on=later", 1, "`request` or `response`"),
            ("deny body.A..B=1", 1, "empty field name"),
            ("deny body.A^=1", 1, "compares text"),
            ("deny method=GET,", 1, "empty value"),
            ("deny \"a\" \"b\"", 1, "at most one"),
            ("deny on=response status=999", 1, "HTTP status"),
            ("deny path!=/x", 1, "takes `=`"),
            ("deny response.Name=x", 1, "needs `on=response`"),
        ];
        for (text, line, needle) in cases {
            let e = Policy::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn a_path_pattern_too_large_to_compile_is_a_load_error_at_its_line() {
        let huge = format!("allow path=/x\ndeny path=/{}", "*/".repeat(200_000));
        let e = Policy::parse(&huge).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("too large to compile"), "{e}");
        assert!(
            e.message.len() < 200,
            "the message quotes the pattern's start only: {e}"
        );
    }

    /// The policy examples of docs/authz.md (its `text` blocks) are valid.
    #[test]
    fn the_documented_examples_parse() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/authz.md"))
                .unwrap();
        let blocks: Vec<&str> = doc
            .split("```text\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .collect();
        assert!(!blocks.is_empty());
        for b in blocks {
            Policy::parse(b).unwrap_or_else(|e| panic!("{e}\n{b}"));
        }
        for f in ["team.policy", "bypass.policy"] {
            let path = format!(
                "{}/../../scenarios/authz/policies/{f}",
                env!("CARGO_MANIFEST_DIR")
            );
            Policy::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        }
    }

    #[test]
    fn versions_are_stripped_only_when_numeric() {
        assert_eq!(strip_version("/v1.41/containers/json"), "/containers/json");
        assert_eq!(strip_version("/v1/x"), "/x");
        assert_eq!(strip_version("/volumes"), "/volumes");
        assert_eq!(strip_version("/v1.41"), "/");
        assert_eq!(strip_version("/vx.1/a"), "/vx.1/a");
    }
}
