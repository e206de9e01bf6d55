//! How the docker CLI prints: its tabwriter, indented JSON, Go templates.

use super::command::Outcome;
use serde_json::Value;

/// What `docker … inspect` prints: each object through `--format`, or the
/// objects as an indented JSON array; the errors of the names not found
/// after them (the command then fails).
pub fn inspect_outcome(items: Vec<Value>, errors: Vec<String>, format: Option<&str>) -> Outcome {
    let stdout = match format {
        Some(f) => items
            .iter()
            .map(|v| go_template(f, v))
            .collect::<Vec<_>>()
            .join("\n"),
        None if items.is_empty() => "[]".into(),
        None => indent4(&Value::Array(items)),
    };
    Outcome {
        error: (!errors.is_empty()).then(|| errors.join("\n")),
        stdout,
    }
}

/// The CLI's tabwriter: minimum cell width 10, padding 3.
pub fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| (s.chars().count() + 3).max(10))
                .max()
                .unwrap_or(10)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}", w = widths[c]));
                }
            }
            line.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// JSON with 4-space indentation, as the docker CLI prints inspect output.
pub fn indent4(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("JSON values serialise");
    String::from_utf8(buf).expect("JSON is UTF-8")
}

/// A tiny subset of Go templates: `{{.A.B}}` paths and `{{json .A}}`.
pub fn go_template(template: &str, v: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = rest[start + 2..start + end].trim();
        let (mode, path) = match (expr.strip_prefix("json "), expr.strip_prefix("len ")) {
            (Some(p), _) => (Some("json"), p.trim()),
            (_, Some(p)) => (Some("len"), p.trim()),
            _ => (None, expr),
        };
        let json_mode = mode == Some("json");
        let mut cur = v;
        for part in path
            .trim_start_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
        {
            cur = cur.get(part).unwrap_or(&Value::Null);
        }
        if mode == Some("len") {
            let n = match cur {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(st) => st.len(),
                _ => 0,
            };
            out.push_str(&n.to_string());
            rest = &rest[start + end + 2..];
            continue;
        }
        match (json_mode, cur) {
            (true, c) => out.push_str(&c.to_string()),
            (false, Value::String(s)) => out.push_str(s),
            (false, Value::Null) => out.push_str("<no value>"),
            (false, Value::Object(m)) => {
                let inner: Vec<String> =
                    m.iter().map(|(k, v)| format!("{k}:{}", plain(v))).collect();
                out.push_str(&format!("map[{}]", inner.join(" ")));
            }
            (false, c) => out.push_str(&plain(c)),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tabwriter_matches_the_cli() {
        let rows = vec![
            vec!["DRIVER".to_owned(), "VOLUME NAME".to_owned()],
            vec!["gvol".to_owned(), "v1".to_owned()],
        ];
        // Recorded from docker 28.2 against dockerd 20.10 (golden s-volume).
        assert_eq!(tabwrite(&rows), "DRIVER    VOLUME NAME\ngvol      v1");
    }

    #[test]
    fn templates_cover_inspect_formats() {
        let v = json!({"Scope": "global", "Status": {"a": 1}, "Labels": null});
        assert_eq!(go_template("{{.Scope}}", &v), "global");
        assert_eq!(go_template("{{json .Status}}", &v), "{\"a\":1}");
        assert_eq!(go_template("x={{.Labels}}", &v), "x=<no value>");
    }
}
