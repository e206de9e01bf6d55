//! Patterns: JSON with variables and a wildcard, and text with variables.
//!
//! A [`Pattern`] is what a `calls` item says about a request or response body;
//! a [`TextPattern`] is what `#> error` and `#> output` say about a message.
//! Both bind variables in the scenario's [`Vars`], so a value seen once (a
//! mount ID, a container ID) can be required again later.

use std::fmt::{self, Write as _};

use serde_json::{Number, Value};

use super::matching::Vars;
use super::source::{Cursor, Diag, Pos, Result};

/// Deepest nesting a pattern may have; bounds recursion on hostile input.
const MAX_DEPTH: usize = 64;

/// A JSON pattern, matched against a JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// `_`: any value.
    Any,
    /// `$name`: any value the first time `name` is met in the scenario, then
    /// exactly that value.
    Var(String),
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number; `1` and `1.0` are equal.
    Number(Number),
    /// A string, compared exactly (`$` inside it is literal).
    String(String),
    /// An array: same length, each element matches.
    Array(Vec<Pattern>),
    /// An object: every listed key is present and matches; other keys are
    /// ignored. Keys are compared exactly (case-sensitively).
    Object(Vec<(String, Pattern)>),
}

/// A text pattern for `#> error` and `#> output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextPattern {
    /// Whole text or substring.
    pub mode: TextMode,
    /// Literal text and variables, in order.
    pub parts: Vec<TextPart>,
}

/// How a [`TextPattern`] must cover the observed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextMode {
    /// `"TEXT"`: the whole (trimmed) text.
    Exact,
    /// `~ "TEXT"`: somewhere inside it.
    Contains,
}

/// A piece of a [`TextPattern`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextPart {
    /// Text that must appear as is.
    Literal(String),
    /// `$name`: the variable's value if bound (a string's content, other
    /// values as compact JSON); otherwise it captures a non-empty run of
    /// [`is_capture_char`] characters and binds it as a JSON string.
    Var(String),
}

/// Characters an unbound `$name` in a text pattern captures: those of IDs,
/// names, paths and addresses, but not spaces or brackets, so `[$c1]` and
/// `'$v'` capture what is inside.
pub fn is_capture_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-')
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parses one JSON pattern at the cursor (no leading blanks).
pub(crate) fn parse_pattern(cur: &mut Cursor<'_>) -> Result<Pattern> {
    parse_value(cur, 0)
}

fn parse_value(cur: &mut Cursor<'_>, depth: usize) -> Result<Pattern> {
    let pos = cur.pos();
    if depth > MAX_DEPTH {
        return Err(Diag::new(
            pos,
            format!("pattern nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    match cur.peek() {
        None | Some('\n') => Err(Diag::new(
            pos,
            "expected a pattern, found the end of the line",
        )),
        Some('{') => {
            cur.bump();
            let mut fields: Vec<(String, Pattern)> = Vec::new();
            cur.skip_blanks();
            if cur.eat("}") {
                return Ok(Pattern::Object(fields));
            }
            loop {
                cur.skip_blanks();
                let key_pos = cur.pos();
                if cur.peek() != Some('"') {
                    return Err(unexpected(cur, "a quoted object key"));
                }
                let key = parse_string_literal(cur)?;
                if fields.iter().any(|(k, _)| *k == key) {
                    return Err(Diag::new(key_pos, format!("duplicate key {}", quote(&key))));
                }
                cur.skip_blanks();
                if !cur.eat(":") {
                    return Err(unexpected(cur, "`:` after the object key"));
                }
                cur.skip_blanks();
                let value = parse_value(cur, depth + 1)?;
                fields.push((key, value));
                cur.skip_blanks();
                if cur.eat("}") {
                    return Ok(Pattern::Object(fields));
                }
                if !cur.eat(",") {
                    return Err(unexpected(cur, "`,` or `}`"));
                }
            }
        }
        Some('[') => {
            cur.bump();
            let mut items = Vec::new();
            cur.skip_blanks();
            if cur.eat("]") {
                return Ok(Pattern::Array(items));
            }
            loop {
                cur.skip_blanks();
                items.push(parse_value(cur, depth + 1)?);
                cur.skip_blanks();
                if cur.eat("]") {
                    return Ok(Pattern::Array(items));
                }
                if !cur.eat(",") {
                    return Err(unexpected(cur, "`,` or `]`"));
                }
            }
        }
        Some('"') => parse_string_literal(cur).map(Pattern::String),
        Some('$') => parse_var(cur).map(Pattern::Var),
        Some(c) if c == '-' || c.is_ascii_digit() => {
            let text =
                cur.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'));
            text.parse::<Number>()
                .map(Pattern::Number)
                .map_err(|_| Diag::new(pos, format!("invalid number `{text}`")))
        }
        Some(c) if is_ident_start(c) => {
            let word = cur.take_while(is_ident_char);
            match word {
                "_" => Ok(Pattern::Any),
                "null" => Ok(Pattern::Null),
                "true" => Ok(Pattern::Bool(true)),
                "false" => Ok(Pattern::Bool(false)),
                _ => Err(Diag::new(
                    pos,
                    format!("unexpected `{word}` in pattern (strings need double quotes; variables start with `$`)"),
                )),
            }
        }
        Some(_) => Err(unexpected(cur, "a pattern (JSON, `$var` or `_`)")),
    }
}

fn unexpected(cur: &Cursor<'_>, wanted: &str) -> Diag {
    let found = match cur.peek() {
        None | Some('\n') => "the end of the line".to_string(),
        Some(c) => format!("`{c}`"),
    };
    Diag::new(cur.pos(), format!("expected {wanted}, found {found}"))
}

/// `$name` at the cursor.
pub(crate) fn parse_var(cur: &mut Cursor<'_>) -> Result<String> {
    let pos = cur.pos();
    cur.bump(); // `$`
    if !cur.peek().is_some_and(is_ident_start) {
        return Err(Diag::new(
            pos,
            "`$` must start a variable name like `$m1` (letters, digits, `_`); write `\\$` inside a string for a literal dollar",
        ));
    }
    Ok(cur.take_while(is_ident_char).to_string())
}

/// A JSON string at the cursor, in which `$` is an ordinary character.
fn parse_string_literal(cur: &mut Cursor<'_>) -> Result<String> {
    let parts = parse_string(cur, false)?;
    Ok(parts
        .into_iter()
        .map(|part| match part {
            TextPart::Literal(s) => s,
            TextPart::Var(_) => unreachable!("variables are off"),
        })
        .collect())
}

/// A double-quoted string with JSON escapes plus `\$`; with `vars`, `$name`
/// inside it is a variable.
fn parse_string(cur: &mut Cursor<'_>, vars: bool) -> Result<Vec<TextPart>> {
    let open = cur.pos();
    cur.bump(); // `"`
    let mut parts = Vec::new();
    let mut text = String::new();
    loop {
        let pos = cur.pos();
        match cur.peek() {
            None | Some('\n') => {
                return Err(Diag::new(
                    open,
                    "unterminated string (the quote opened here is never closed)",
                ))
            }
            Some('"') => {
                cur.bump();
                break;
            }
            Some('$') if vars => {
                if !text.is_empty() {
                    parts.push(TextPart::Literal(std::mem::take(&mut text)));
                }
                parts.push(TextPart::Var(parse_var(cur)?));
            }
            Some('\\') => {
                cur.bump();
                let c =
                    match cur.bump() {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('/') => '/',
                        Some('$') => '$',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('u') => parse_unicode_escape(cur, pos)?,
                        _ => return Err(Diag::new(
                            pos,
                            "invalid escape (use \\\" \\\\ \\/ \\$ \\b \\f \\n \\r \\t or \\uXXXX)",
                        )),
                    };
                text.push(c);
            }
            Some(c) => {
                cur.bump();
                text.push(c);
            }
        }
    }
    if !text.is_empty() || parts.is_empty() {
        parts.push(TextPart::Literal(text));
    }
    Ok(parts)
}

fn parse_unicode_escape(cur: &mut Cursor<'_>, pos: Pos) -> Result<char> {
    let bad = || {
        Diag::new(
            pos,
            "invalid \\u escape (expected 4 hex digits naming a character)",
        )
    };
    let hex4 = |cur: &mut Cursor<'_>| -> Result<u32> {
        let mut n = 0;
        for _ in 0..4 {
            let digit = cur.peek().and_then(|c| c.to_digit(16)).ok_or_else(bad)?;
            cur.bump();
            n = n * 16 + digit;
        }
        Ok(n)
    };
    let first = hex4(cur)?;
    if (0xD800..0xDC00).contains(&first) {
        // A UTF-16 surrogate pair, as JSON writes characters beyond the BMP.
        if !cur.eat("\\u") {
            return Err(bad());
        }
        let second = hex4(cur)?;
        if !(0xDC00..0xE000).contains(&second) {
            return Err(bad());
        }
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        return char::from_u32(c).ok_or_else(bad);
    }
    char::from_u32(first).ok_or_else(bad)
}

/// A text pattern at the cursor: `[~] "TEXT"` or `[~] $name`.
pub(crate) fn parse_text_pattern(cur: &mut Cursor<'_>) -> Result<TextPattern> {
    let mode = if cur.eat("~") {
        cur.skip_blanks();
        TextMode::Contains
    } else {
        TextMode::Exact
    };
    let parts = match cur.peek() {
        Some('"') => parse_string(cur, true)?,
        Some('$') => vec![TextPart::Var(parse_var(cur)?)],
        _ => {
            return Err(unexpected(
                cur,
                "a quoted text (`\"…\"`), `~ \"…\"` or `$var`",
            ))
        }
    };
    Ok(TextPattern { mode, parts })
}

/// Where and why a value did not match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValueMismatch {
    /// `.Key[0].Other`, empty at the top.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ValueMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "at {}: {}", self.path, self.reason)
        }
    }
}

/// Matches `value` against `pattern`, binding unbound variables (at `line`).
/// On failure some variables may have been bound: callers undo to a mark.
pub(crate) fn match_value(
    pattern: &Pattern,
    value: &Value,
    vars: &mut Vars,
    line: u32,
) -> std::result::Result<(), ValueMismatch> {
    let mut path = String::new();
    match_at(pattern, value, vars, line, &mut path)
}

fn match_at(
    pattern: &Pattern,
    value: &Value,
    vars: &mut Vars,
    line: u32,
    path: &mut String,
) -> std::result::Result<(), ValueMismatch> {
    let fail = |path: &String, reason: String| {
        Err(ValueMismatch {
            path: path.clone(),
            reason,
        })
    };
    let expected_got = |path: &String, expected: String| {
        fail(
            path,
            format!("expected {expected}, got {}", show_value(value, 80)),
        )
    };
    match (pattern, value) {
        (Pattern::Any, _) => Ok(()),
        (Pattern::Var(name), _) => match vars.binding(name) {
            None => {
                vars.bind(name, value.clone(), line);
                Ok(())
            }
            Some(b) if b.value == *value => Ok(()),
            Some(b) => fail(
                path,
                format!(
                    "expected ${name} = {} (bound at line {}), got {}",
                    show_value(&b.value, 80),
                    b.line,
                    show_value(value, 80)
                ),
            ),
        },
        (Pattern::Null, Value::Null) => Ok(()),
        (Pattern::Bool(a), Value::Bool(b)) if a == b => Ok(()),
        (Pattern::Number(a), Value::Number(b)) if numbers_equal(a, b) => Ok(()),
        (Pattern::String(a), Value::String(b)) if a == b => Ok(()),
        (Pattern::Array(items), Value::Array(values)) => {
            if items.len() != values.len() {
                return fail(
                    path,
                    format!(
                        "expected an array of {} elements, got {} elements: {}",
                        items.len(),
                        values.len(),
                        show_value(value, 80)
                    ),
                );
            }
            for (i, (item, v)) in items.iter().zip(values).enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                match_at(item, v, vars, line, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Pattern::Object(fields), Value::Object(map)) => {
            for (key, item) in fields {
                let len = path.len();
                push_key(path, key);
                match map.get(key) {
                    Some(v) => match_at(item, v, vars, line, path)?,
                    None => {
                        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                        let reason = format!(
                            "key missing (present: {})",
                            if keys.is_empty() {
                                "none".to_string()
                            } else {
                                keys.join(", ")
                            }
                        );
                        return fail(path, reason);
                    }
                }
                path.truncate(len);
            }
            Ok(())
        }
        _ => expected_got(path, pattern.to_string()),
    }
}

fn push_key(path: &mut String, key: &str) {
    if !key.is_empty() && key.chars().all(is_ident_char) {
        path.push('.');
        path.push_str(key);
    } else {
        let _ = write!(path, "[{}]", quote(key));
    }
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    a.as_f64().is_some() && a.as_f64() == b.as_f64()
}

/// Compact JSON, cut to about `limit` characters with `…` so messages about
/// big bodies (authz requests carry base64) stay readable.
pub(crate) fn show_value(value: &Value, limit: usize) -> String {
    let text = value.to_string();
    truncate(text, limit)
}

pub(crate) fn truncate(text: String, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

impl fmt::Display for Pattern {
    /// Prints the pattern as it would be written in a scenario.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Any => f.write_str("_"),
            Pattern::Var(name) => write!(f, "${name}"),
            Pattern::Null => f.write_str("null"),
            Pattern::Bool(b) => write!(f, "{b}"),
            Pattern::Number(n) => write!(f, "{n}"),
            Pattern::String(s) => f.write_str(&quote(s)),
            Pattern::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Pattern::Object(fields) => {
                f.write_str("{")?;
                for (i, (key, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {item}", quote(key))?;
                }
                f.write_str("}")
            }
        }
    }
}

impl fmt::Display for TextPattern {
    /// Prints the pattern as it would be written after `#> error`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mode == TextMode::Contains {
            f.write_str("~ ")?;
        }
        if let [TextPart::Var(name)] = self.parts.as_slice() {
            return write!(f, "${name}");
        }
        f.write_str("\"")?;
        for part in &self.parts {
            match part {
                TextPart::Var(name) => write!(f, "${name}")?,
                TextPart::Literal(text) => {
                    let json = quote(text);
                    // JSON escaping, minus the quotes, plus `$` escaped.
                    f.write_str(&json[1..json.len() - 1].replace('$', "\\$"))?;
                }
            }
        }
        f.write_str("\"")
    }
}

/// Matches observed `text` against a text pattern, binding the variables it
/// captures (at `line`) only if the whole pattern matches.
pub(crate) fn match_text(pattern: &TextPattern, text: &str, vars: &mut Vars, line: u32) -> bool {
    let segments: Vec<Segment<'_>> = pattern
        .parts
        .iter()
        .map(|part| match part {
            TextPart::Literal(s) => Segment::Literal(s.clone()),
            TextPart::Var(name) => match vars.get(name) {
                Some(Value::String(s)) => Segment::Literal(s.clone()),
                Some(other) => Segment::Literal(other.to_string()),
                None => Segment::Capture(name),
            },
        })
        .collect();
    let mut search = TextSearch {
        anchored_end: pattern.mode == TextMode::Exact,
        captures: Vec::new(),
        budget: 1_000_000,
    };
    let found = match pattern.mode {
        TextMode::Exact => search.run(&segments, text),
        TextMode::Contains => text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .any(|i| search.run(&segments, &text[i..])),
    };
    if found {
        for (name, value) in search.captures {
            vars.bind(name, Value::String(value.to_string()), line);
        }
    }
    found
}

enum Segment<'p> {
    Literal(String),
    Capture(&'p str),
}

/// Backtracking search for [`match_text`]: captures are tried longest first,
/// so `$a-$b` against `x-y-z` gives `a = x-y`, `b = z`.
struct TextSearch<'p, 't> {
    anchored_end: bool,
    captures: Vec<(&'p str, &'t str)>,
    /// Steps left; a hostile pattern gives up instead of running for ever.
    budget: usize,
}

impl<'p, 't> TextSearch<'p, 't> {
    fn run(&mut self, segments: &[Segment<'p>], text: &'t str) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        let Some((first, rest)) = segments.split_first() else {
            return !self.anchored_end || text.is_empty();
        };
        match first {
            Segment::Literal(lit) => {
                text.starts_with(lit.as_str()) && self.run(rest, &text[lit.len()..])
            }
            Segment::Capture(name) => {
                if let Some(&(_, seen)) = self.captures.iter().find(|(n, _)| n == name) {
                    return text.starts_with(seen) && self.run(rest, &text[seen.len()..]);
                }
                // Capture characters are ASCII, so byte lengths are char counts.
                let run = text.len() - text.trim_start_matches(is_capture_char).len();
                for len in (1..=run).rev() {
                    self.captures.push((name, &text[..len]));
                    if self.run(rest, &text[len..]) {
                        return true;
                    }
                    self.captures.pop();
                }
                false
            }
        }
    }
}
