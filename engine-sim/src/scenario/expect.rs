//! `#> …` lines → expectations.
//!
//! A line is either a whole expectation (`#> ok`), the header of a `calls`
//! block (`#> calls:`), or — when the text after `#> ` starts with more
//! blanks — an item of the open block (`#>   gvol VolumeDriver.Get {…}`).
//! The parser in `mod.rs` assembles blocks from these pieces.

use super::ast::{CallPattern, CallsMode, ExpectKind};
use super::pattern::{parse_pattern, parse_text_pattern, truncate};
use super::source::{Cursor, Diag, Pos, Result};

const SUPPORTED: &str =
    "ok, error, output, calls:, calls unordered:, calls include:, no calls, count, attempts";

const ATTEMPTS_USAGE: &str = "usage: `#> attempts PLUGIN METHOD N [empty-body] [over DURATION]`";

/// One `#>` line.
#[derive(Debug)]
pub(crate) enum Line {
    /// A complete expectation.
    Whole(ExpectKind),
    /// `#> calls…:`, items follow.
    BlockHeader(CallsMode),
    /// An indented item line.
    Item(CallPattern),
}

/// Parses the text after `#>`; `start` is the position of its first character.
pub(crate) fn parse_expect_line(text: &str, start: Pos) -> Result<Line> {
    let mut cur = Cursor::new(text, start);
    cur.eat(" ");
    if matches!(cur.peek(), Some(' ' | '\t')) {
        cur.skip_blanks();
        return parse_item(&mut cur).map(Line::Item);
    }
    let keyword_pos = cur.pos();
    let keyword = cur.take_while(|c| c.is_ascii_alphabetic());
    let line = match keyword {
        "ok" => Line::Whole(ExpectKind::Ok),
        "error" | "output" => {
            cur.skip_blanks();
            let pattern = parse_text_pattern(&mut cur)?;
            if keyword == "error" {
                Line::Whole(ExpectKind::Error(pattern))
            } else {
                Line::Whole(ExpectKind::Output(pattern))
            }
        }
        "calls" => {
            cur.skip_blanks();
            let mode_pos = cur.pos();
            let mode = match cur.take_while(|c| c.is_ascii_alphabetic()) {
                "" => CallsMode::Exact,
                "unordered" => CallsMode::Unordered,
                "include" => CallsMode::Include,
                other => {
                    return Err(Diag::new(
                        mode_pos,
                        format!("unknown calls mode `{other}` (supported: `calls:`, `calls unordered:`, `calls include:`)"),
                    ))
                }
            };
            cur.skip_blanks();
            if !cur.eat(":") {
                return Err(Diag::new(
                    cur.pos(),
                    "expected `:` ending the calls header; the calls follow on indented `#>   PLUGIN METHOD …` lines",
                ));
            }
            Line::BlockHeader(mode)
        }
        "no" => {
            cur.skip_blanks();
            let at = cur.pos();
            if cur.take_while(|c| c.is_ascii_alphabetic()) != "calls" {
                return Err(Diag::new(at, "expected `no calls`"));
            }
            Line::Whole(ExpectKind::NoCalls)
        }
        "count" => {
            cur.skip_blanks();
            let plugin = token(
                &mut cur,
                "a PLUGIN name (usage: `#> count PLUGIN METHOD N`)",
            )?;
            cur.skip_blanks();
            let method = method(&mut cur)?;
            cur.skip_blanks();
            let at = cur.pos();
            let n = token(&mut cur, "a count N (usage: `#> count PLUGIN METHOD N`)")?;
            let count = n.parse::<usize>().map_err(|_| {
                Diag::new(at, format!("invalid count `{n}`: expected a whole number"))
            })?;
            Line::Whole(ExpectKind::Count {
                plugin,
                method,
                count,
            })
        }
        "attempts" => {
            cur.skip_blanks();
            let plugin = token(&mut cur, &format!("a PLUGIN name ({ATTEMPTS_USAGE})"))?;
            cur.skip_blanks();
            let method = method(&mut cur)?;
            cur.skip_blanks();
            let at = cur.pos();
            let n = token(
                &mut cur,
                &format!("a number of attempts N ({ATTEMPTS_USAGE})"),
            )?;
            let attempts = n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Diag::new(
                    at,
                    format!("invalid number of attempts `{n}`: expected a whole number from 1"),
                )
            })?;
            cur.skip_blanks();
            let empty_body = cur.eat("empty-body");
            cur.skip_blanks();
            let over = if cur.eat("over") {
                cur.skip_blanks();
                let at = cur.pos();
                let d = token(&mut cur, "a DURATION such as 15s after `over`")?;
                Some(super::directive::parse_duration(&d).ok_or_else(|| {
                    Diag::new(at, format!("invalid duration `{d}`: expected a number and a unit, such as 500ms, 15s, 2m or 1m30s"))
                })?)
            } else {
                None
            };
            Line::Whole(ExpectKind::Attempts {
                plugin,
                method,
                attempts,
                empty_body,
                over,
            })
        }
        "" => {
            return Err(Diag::new(
                keyword_pos,
                format!("empty `#>` expectation (supported: {SUPPORTED})"),
            ))
        }
        other => {
            return Err(Diag::new(
                keyword_pos,
                format!("unknown expectation `{other}` (supported: {SUPPORTED})"),
            ))
        }
    };
    end_of_line(&mut cur)?;
    Ok(line)
}

/// `PLUGIN METHOD [REQUEST] [-> RESPONSE]`.
fn parse_item(cur: &mut Cursor<'_>) -> Result<CallPattern> {
    let line = cur.pos().line;
    let plugin = token(cur, "a call: PLUGIN METHOD [REQUEST] [-> RESPONSE]")?;
    cur.skip_blanks();
    let method = method(cur)?;
    cur.skip_blanks();
    let request = if cur.rest().starts_with("->") || cur.at_eof() {
        None
    } else {
        Some(parse_pattern(cur)?)
    };
    cur.skip_blanks();
    let response = if cur.eat("->") {
        cur.skip_blanks();
        Some(parse_pattern(cur)?)
    } else {
        None
    };
    end_of_line(cur)?;
    Ok(CallPattern {
        line,
        plugin,
        method,
        request,
        response,
    })
}

/// A run of non-blank characters.
fn token(cur: &mut Cursor<'_>, wanted: &str) -> Result<String> {
    let at = cur.pos();
    let text = cur.take_while(|c| !c.is_whitespace());
    if text.is_empty() {
        return Err(Diag::new(at, format!("expected {wanted}")));
    }
    Ok(text.to_string())
}

/// `Protocol.Method`, as in the request path.
fn method(cur: &mut Cursor<'_>) -> Result<String> {
    let at = cur.pos();
    let text = token(cur, "a METHOD such as VolumeDriver.Mount")?;
    let well_formed = text.split_once('.').is_some_and(|(protocol, name)| {
        let ident = |s: &str| {
            s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        ident(protocol) && ident(name)
    });
    if !well_formed {
        return Err(Diag::new(
            at,
            format!("invalid method `{text}`: expected Protocol.Method, e.g. VolumeDriver.Mount"),
        ));
    }
    Ok(text)
}

fn end_of_line(cur: &mut Cursor<'_>) -> Result<()> {
    cur.skip_blanks();
    if cur.at_eof() {
        Ok(())
    } else {
        Err(Diag::new(
            cur.pos(),
            format!(
                "unexpected `{}` at the end of the expectation",
                truncate(cur.rest().trim_end().to_string(), 40)
            ),
        ))
    }
}
