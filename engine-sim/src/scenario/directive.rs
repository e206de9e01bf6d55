//! `#@ …` lines → [`Directive`] (or the file's [`Replay`](super::Replay) setting).
//!
//! Every directive has an entry in `DIRECTIVES` (its name and the usage error
//! messages quote) and an arm in [`parse_directive`]. A new directive such as
//! `#@ fault` is an entry, an arm, and a new [`Directive`] variant.

use super::ast::{Directive, FaultDirective, KeyValue, PluginDirective, PluginLaunch};
use super::source::{words, Cursor, Diag, Pos, Result, Word, WordMode};
use crate::plugins::fault::{default_body, CallFault, FaultAction, Scope, INVALID_JSON};
use std::time::Duration;

/// Placeholders the runner substitutes in `#@ plugin NAME exec -- …`
/// arguments: the plugin's socket path, a private state directory, the spec
/// directory dockerd scans, and the plugin's name.
pub const EXEC_PLACEHOLDERS: &[&str] = &["{socket}", "{state_dir}", "{spec_dir}", "{name}"];

/// What a `#@` line turned into.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A step for the runner.
    Step(Directive),
    /// `#@ replay skip: REASON`, a property of the whole file.
    ReplaySkip(String),
}

/// Every directive's name and usage, for messages; `parse_directive`
/// dispatches on the name.
const DIRECTIVES: &[(&str, &str)] = &[
    (
        "plugin",
        "#@ plugin NAME KIND [key=value…] | #@ plugin NAME exec -- COMMAND [ARG…]",
    ),
    ("authorization-plugin", "#@ authorization-plugin [NAME…]"),
    ("restart-daemon", "#@ restart-daemon"),
    ("restart-plugin", "#@ restart-plugin NAME"),
    ("user", "#@ user CN | #@ user none"),
    ("check", "#@ check PLUGIN [INVARIANT…]"),
    ("at-once", "#@ at-once N"),
    ("fault", FAULT_USAGE),
    ("sleep", "#@ sleep DURATION"),
    ("replay", "#@ replay skip: REASON"),
];

fn supported() -> String {
    DIRECTIVES
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn usage_of(name: &str) -> &'static str {
    DIRECTIVES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, usage)| usage)
}

fn usage_error(at: Pos, name: &str, problem: &str) -> Diag {
    Diag::new(at, format!("{problem} (usage: {})", usage_of(name)))
}

/// Parses the text after `#@`; `start` is the position of its first character.
pub(crate) fn parse_directive(text: &str, start: Pos) -> Result<Parsed> {
    let mut cur = Cursor::new(text, start);
    cur.skip_blanks();
    let name_pos = cur.pos();
    let name = cur.take_while(|c| !c.is_whitespace());
    if name.is_empty() {
        return Err(Diag::new(
            name_pos,
            format!("empty `#@` directive (supported: {})", supported()),
        ));
    }
    if name == "replay" {
        cur.skip_blanks();
        let at = cur.pos();
        if !cur.eat("skip:") {
            return Err(usage_error(at, "replay", "expected `skip:` and a reason"));
        }
        let reason = cur.rest().trim();
        if reason.is_empty() {
            return Err(usage_error(
                cur.pos(),
                "replay",
                "say why the file cannot be replayed",
            ));
        }
        return Ok(Parsed::ReplaySkip(reason.to_string()));
    }
    let parser: fn(&Word, &[Word]) -> Result<Parsed> = match name {
        "plugin" => plugin,
        "authorization-plugin" => authorization_plugin,
        "restart-daemon" => restart_daemon,
        "restart-plugin" => restart_plugin,
        "user" => user,
        "check" => check,
        "at-once" => at_once,
        "fault" => fault,
        "sleep" => sleep,
        _ => {
            return Err(Diag::new(
                name_pos,
                format!("unknown directive `#@ {name}` (supported: {})", supported()),
            ))
        }
    };
    let (all, _) = words(&mut Cursor::new(text, start), WordMode::Comment)?;
    // The first word is the name itself (it has no quotes, so it reads the same).
    match all.split_first() {
        Some((name, args)) => parser(name, args),
        None => Err(Diag::new(name_pos, "empty `#@` directive")),
    }
}

/// Plugin names become socket and spec file names, so keep them to
/// characters that are safe there.
fn check_plugin_name(word: &Word) -> Result<String> {
    let ok = word
        .text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && word
            .text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(word.text.clone())
    } else {
        Err(Diag::new(
            word.pos,
            format!(
                "invalid plugin name `{}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit",
                word.text
            ),
        ))
    }
}

fn plugin(name: &Word, args: &[Word]) -> Result<Parsed> {
    let (Some(plugin), Some(kind)) = (args.first(), args.get(1)) else {
        let at = args.first().map_or(name.pos, |w| w.pos);
        return Err(usage_error(
            at,
            "plugin",
            "`#@ plugin` needs a NAME and a KIND",
        ));
    };
    let plugin_name = check_plugin_name(plugin)?;
    let rest = &args[2..];
    let launch = if kind.text == "exec" {
        match rest.split_first() {
            Some((dashes, argv)) if dashes.text == "--" && !argv.is_empty() => {
                for word in argv {
                    check_placeholders(word)?;
                }
                PluginLaunch::Exec {
                    argv: argv.iter().map(|w| w.text.clone()).collect(),
                }
            }
            Some((dashes, _)) if dashes.text == "--" => {
                return Err(usage_error(
                    dashes.pos,
                    "plugin",
                    "`exec --` needs a COMMAND",
                ))
            }
            Some((other, _)) => {
                return Err(usage_error(
                    other.pos,
                    "plugin",
                    "write `exec -- COMMAND …`",
                ))
            }
            None => {
                return Err(usage_error(
                    kind.pos,
                    "plugin",
                    "`exec` needs `-- COMMAND …`",
                ))
            }
        }
    } else {
        let is_kind =
            kind.text
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase())
                && kind.text.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')
                });
        if !is_kind {
            return Err(usage_error(
                kind.pos,
                "plugin",
                &format!(
                    "invalid plugin KIND `{}`: expected an identifier such as volume, authz or ipam, or `exec`",
                    kind.text
                ),
            ));
        }
        let settings = rest
            .iter()
            .map(|word| match word.text.split_once('=') {
                Some((key, value)) if !key.is_empty() => Ok(KeyValue {
                    key: key.to_string(),
                    value: value.to_string(),
                }),
                _ => Err(usage_error(
                    word.pos,
                    "plugin",
                    &format!("plugin setting `{}` is not key=value", word.text),
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        PluginLaunch::Builtin {
            kind: kind.text.clone(),
            settings,
        }
    };
    Ok(Parsed::Step(Directive::Plugin(PluginDirective {
        name: plugin_name,
        launch,
    })))
}

/// Catches misspelled placeholders (`{sock}`) before the runner starts a
/// program with a literal `{sock}` in its arguments.
fn check_placeholders(word: &Word) -> Result<()> {
    let text = &word.text;
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| i + from) {
        let inner_len = text[open + 1..]
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(text.len() - open - 1);
        let close = open + 1 + inner_len;
        if inner_len > 0 && text[close..].starts_with('}') {
            let placeholder = &text[open..=close];
            if !EXEC_PLACEHOLDERS.contains(&placeholder) {
                return Err(Diag::new(
                    word.pos,
                    format!(
                        "unknown placeholder `{placeholder}` (supported: {})",
                        EXEC_PLACEHOLDERS.join(", ")
                    ),
                ));
            }
        }
        from = open + 1;
    }
    Ok(())
}

fn authorization_plugin(_: &Word, args: &[Word]) -> Result<Parsed> {
    let names = args
        .iter()
        .map(check_plugin_name)
        .collect::<Result<Vec<_>>>()?;
    Ok(Parsed::Step(Directive::AuthorizationPlugins(names)))
}

fn restart_daemon(name: &Word, args: &[Word]) -> Result<Parsed> {
    if let Some(extra) = args.first() {
        return Err(usage_error(
            extra.pos,
            &name.text,
            "`#@ restart-daemon` takes no arguments",
        ));
    }
    Ok(Parsed::Step(Directive::RestartDaemon))
}

fn restart_plugin(name: &Word, args: &[Word]) -> Result<Parsed> {
    match args {
        [plugin] => Ok(Parsed::Step(Directive::RestartPlugin(check_plugin_name(
            plugin,
        )?))),
        [] => Err(usage_error(
            name.pos,
            &name.text,
            "`#@ restart-plugin` needs a NAME",
        )),
        [_, extra, ..] => Err(usage_error(
            extra.pos,
            &name.text,
            "`#@ restart-plugin` takes one NAME",
        )),
    }
}

/// `#@ check PLUGIN [INVARIANT…]`: invariant names such as
/// `volume.mounted-iff-held` (the runner checks they exist).
fn check(name: &Word, args: &[Word]) -> Result<Parsed> {
    let Some((plugin, invariants)) = args.split_first() else {
        return Err(usage_error(
            name.pos,
            &name.text,
            "`#@ check` needs a PLUGIN",
        ));
    };
    let plugin = check_plugin_name(plugin)?;
    let mut names = Vec::new();
    for w in invariants {
        let ok = w.text.contains('.')
            && w.text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-');
        if !ok {
            return Err(usage_error(
                w.pos,
                &name.text,
                &format!(
                    "`{}` is not an invariant name such as volume.mounted-iff-held",
                    w.text
                ),
            ));
        }
        names.push(w.text.clone());
    }
    Ok(Parsed::Step(Directive::Check(super::ast::CheckDirective {
        plugin,
        invariants: names,
    })))
}

/// `#@ at-once N`: 2 to 16 following docker commands run concurrently.
fn at_once(name: &Word, args: &[Word]) -> Result<Parsed> {
    match args {
        [n] => match n.text.parse::<usize>() {
            Ok(count @ 2..=16) => Ok(Parsed::Step(Directive::AtOnce(count))),
            _ => Err(usage_error(
                n.pos,
                &name.text,
                &format!("N must be a number from 2 to 16, not `{}`", n.text),
            )),
        },
        [] => Err(usage_error(
            name.pos,
            &name.text,
            "`#@ at-once` needs how many commands",
        )),
        [_, extra, ..] => Err(usage_error(
            extra.pos,
            &name.text,
            "`#@ at-once` takes one number",
        )),
    }
}

fn user(name: &Word, args: &[Word]) -> Result<Parsed> {
    match args {
        [cn] if cn.text == "none" => Ok(Parsed::Step(Directive::User(None))),
        [cn] if !cn.text.is_empty() => Ok(Parsed::Step(Directive::User(Some(cn.text.clone())))),
        [cn] => Err(usage_error(cn.pos, &name.text, "the user's CN is empty")),
        [] => Err(usage_error(
            name.pos,
            &name.text,
            "`#@ user` needs a CN or `none`",
        )),
        [_, extra, ..] => Err(usage_error(
            extra.pos,
            &name.text,
            "`#@ user` takes one CN (quote a CN that has spaces)",
        )),
    }
}

const FAULT_USAGE: &str = "#@ fault PLUGIN METHOD[~TEXT]|* ACTION [once|times N|always] | #@ fault PLUGIN kill [for DURATION] | #@ fault PLUGIN stale-socket | #@ fault PLUGIN late DURATION | #@ fault clear [PLUGIN]";

/// What can follow `#@ fault PLUGIN METHOD`.
const FAULT_ACTIONS: &str = "delay DURATION, hang, status CODE [BODY], empty, invalid-json, implements [NAME…], created-at TEXT, drop before-body|after-body|answer, crash [for DURATION]";

fn fault_error(at: Pos, problem: impl std::fmt::Display) -> Diag {
    Diag::new(at, format!("{problem} (usage: {FAULT_USAGE})"))
}

/// `#@ fault …`.
fn fault(name: &Word, args: &[Word]) -> Result<Parsed> {
    let Some((first, rest)) = args.split_first() else {
        return Err(fault_error(
            name.pos,
            "`#@ fault` needs a PLUGIN (or `clear`)",
        ));
    };
    if first.text == "clear" {
        return match rest {
            [] => Ok(Parsed::Step(Directive::Fault(FaultDirective::Clear(None)))),
            [plugin] => Ok(Parsed::Step(Directive::Fault(FaultDirective::Clear(Some(
                check_plugin_name(plugin)?,
            ))))),
            [_, extra, ..] => Err(fault_error(
                extra.pos,
                "`#@ fault clear` takes at most one PLUGIN",
            )),
        };
    }
    let plugin = check_plugin_name(first)?;
    let Some((what, rest)) = rest.split_first() else {
        return Err(fault_error(
            first.pos,
            "expected a METHOD (or `*`), `kill`, `stale-socket` or `late` after the PLUGIN",
        ));
    };
    let directive = match what.text.as_str() {
        "kill" => {
            let back_after = match rest {
                [] => None,
                [word, d] if word.text == "for" => Some(duration(d)?),
                [word] if word.text == "for" => {
                    return Err(fault_error(word.pos, "`for` needs a DURATION such as 3s"))
                }
                [other, ..] => {
                    return Err(fault_error(
                        other.pos,
                        format!(
                            "unexpected `{}` after `kill`: expected `for DURATION` or nothing",
                            other.text
                        ),
                    ))
                }
            };
            FaultDirective::Kill { plugin, back_after }
        }
        "stale-socket" => {
            if let Some(extra) = rest.first() {
                return Err(fault_error(extra.pos, "`stale-socket` takes no arguments"));
            }
            FaultDirective::StaleSocket(plugin)
        }
        "late" => match rest {
            [d] => FaultDirective::Late {
                plugin,
                after: duration(d)?,
            },
            [] => return Err(fault_error(what.pos, "`late` needs a DURATION such as 3s")),
            [_, extra, ..] => return Err(fault_error(extra.pos, "`late` takes one DURATION")),
        },
        _ => FaultDirective::Call(call_fault(plugin, what, rest)?),
    };
    Ok(Parsed::Step(Directive::Fault(directive)))
}

/// `#@ sleep DURATION`.
fn sleep(name: &Word, args: &[Word]) -> Result<Parsed> {
    match args {
        [d] => Ok(Parsed::Step(Directive::Fault(FaultDirective::Sleep(
            duration(d)?,
        )))),
        [] => Err(usage_error(
            name.pos,
            &name.text,
            "`#@ sleep` needs a DURATION such as 15s",
        )),
        [_, extra, ..] => Err(usage_error(
            extra.pos,
            &name.text,
            "`#@ sleep` takes one DURATION",
        )),
    }
}

/// `METHOD|* ACTION [SCOPE]` after `#@ fault PLUGIN`.
fn call_fault(plugin: String, method_word: &Word, rest: &[Word]) -> Result<CallFault> {
    let (method_text, body_contains) = match method_word.text.split_once('~') {
        Some((m, text)) if !text.is_empty() => (m, Some(text.to_owned())),
        Some(_) => {
            return Err(fault_error(
                method_word.pos,
                "`METHOD~TEXT` needs a TEXT the request body must contain",
            ))
        }
        None => (method_word.text.as_str(), None),
    };
    let method = if method_text == "*" {
        None
    } else {
        let ok = method_text.split_once('.').is_some_and(|(p, m)| {
            let ident = |s: &str| {
                s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            ident(p) && ident(m)
        });
        if !ok {
            return Err(fault_error(
                method_word.pos,
                format!(
                    "expected a METHOD such as VolumeDriver.Create, `*`, `kill`, `stale-socket` or `late`, found `{method_text}`"
                ),
            ));
        }
        Some(method_text.to_owned())
    };
    let Some((action_word, mut rest)) = rest.split_first() else {
        return Err(fault_error(
            method_word.pos,
            format!("expected what happens after the METHOD: one of {FAULT_ACTIONS}"),
        ));
    };
    let only_for = |methods: &[&str], action: &str| -> Result<()> {
        match &method {
            Some(m) if methods.contains(&m.as_str()) => Ok(()),
            None => Ok(()),
            Some(m) => Err(fault_error(
                action_word.pos,
                format!(
                    "`{action}` applies to {} only, not {m}",
                    methods.join(" and ")
                ),
            )),
        }
    };
    let action = match action_word.text.as_str() {
        "delay" => {
            let Some((d, more)) = rest.split_first() else {
                return Err(fault_error(
                    action_word.pos,
                    "`delay` needs a DURATION such as 90s",
                ));
            };
            rest = more;
            FaultAction::Delay(duration(d)?)
        }
        "hang" => FaultAction::Hang,
        "status" => {
            let Some((code, more)) = rest.split_first() else {
                return Err(fault_error(
                    action_word.pos,
                    "`status` needs an HTTP status CODE such as 500",
                ));
            };
            let status = code
                .text
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| {
                    fault_error(
                        code.pos,
                        format!(
                            "invalid HTTP status `{}`: expected a number from 100 to 599",
                            code.text
                        ),
                    )
                })?;
            rest = more;
            let body = match rest.split_first() {
                Some((b, more)) if !is_scope_word(&b.text) => {
                    rest = more;
                    bytes::Bytes::from(unescape_body(&b.text))
                }
                _ => default_body(status),
            };
            FaultAction::Reply { status, body }
        }
        "empty" => FaultAction::Reply {
            status: 200,
            body: bytes::Bytes::new(),
        },
        "invalid-json" => FaultAction::Reply {
            status: 200,
            body: bytes::Bytes::from_static(INVALID_JSON),
        },
        "implements" => {
            only_for(&["Plugin.Activate"], "implements")?;
            let n = rest.iter().take_while(|w| !is_scope_word(&w.text)).count();
            let names = rest[..n].iter().map(|w| w.text.clone()).collect();
            rest = &rest[n..];
            FaultAction::Implements(names)
        }
        "created-at" => {
            only_for(&["VolumeDriver.Get", "VolumeDriver.List"], "created-at")?;
            let Some((text, more)) = rest.split_first() else {
                return Err(fault_error(
                    action_word.pos,
                    "`created-at` needs the TEXT to send, e.g. 'yesterday'",
                ));
            };
            rest = more;
            FaultAction::CreatedAt(text.text.clone())
        }
        "drop" => match rest.split_first() {
            Some((w, more)) if w.text == "before-body" => {
                rest = more;
                FaultAction::DropBeforeBody
            }
            Some((w, more)) if w.text == "after-body" => {
                rest = more;
                FaultAction::DropAfterBody
            }
            Some((w, more)) if w.text == "answer" => {
                rest = more;
                FaultAction::DropAnswer
            }
            Some((w, _)) => {
                return Err(fault_error(
                    w.pos,
                    format!(
                        "expected `before-body`, `after-body` or `answer` after `drop`, found `{}`",
                        w.text
                    ),
                ))
            }
            None => {
                return Err(fault_error(
                    action_word.pos,
                    "`drop` needs `before-body`, `after-body` or `answer`",
                ))
            }
        },
        "crash" => match rest.split_first() {
            Some((w, more)) if w.text == "for" => {
                let Some((d, more)) = more.split_first() else {
                    return Err(fault_error(w.pos, "`for` needs a DURATION such as 2s"));
                };
                rest = more;
                FaultAction::Crash(Some(duration(d)?))
            }
            _ => FaultAction::Crash(None),
        },
        other => {
            return Err(fault_error(
                action_word.pos,
                format!("unknown fault `{other}` (supported: {FAULT_ACTIONS})"),
            ))
        }
    };
    let scope = match rest {
        [] => Scope::Next(1),
        [w] if w.text == "once" => Scope::Next(1),
        [w] if w.text == "always" => Scope::Always,
        [w, n] if w.text == "times" => match n.text.parse::<u32>() {
            Ok(k) if k > 0 => Scope::Next(k),
            _ => {
                return Err(fault_error(
                    n.pos,
                    format!("invalid count `{}`: expected a whole number from 1", n.text),
                ))
            }
        },
        [w] if w.text == "times" => return Err(fault_error(w.pos, "`times` needs a count N")),
        [w, ..] if is_scope_word(&w.text) => {
            return Err(fault_error(
                rest[1].pos,
                format!("unexpected `{}` after `{}`", rest[1].text, w.text),
            ))
        }
        [w, ..] => {
            return Err(fault_error(
                w.pos,
                format!(
                    "unexpected `{}`: expected `once`, `times N` or `always`",
                    w.text
                ),
            ))
        }
    };
    Ok(CallFault {
        plugin,
        method,
        body_contains,
        action,
        scope,
    })
}

fn is_scope_word(text: &str) -> bool {
    matches!(text, "once" | "times" | "always")
}

/// A fault's BODY: as written, with `\n`, `\t`, `\r` and `\\` standing for
/// what they mean in JSON (a directive is one line).
fn unescape_body(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('r') => out.push(b'\r'),
                Some('\\') => out.push(b'\\'),
                Some(other) => {
                    out.push(b'\\');
                    let mut buf = [0; 4];
                    out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                }
                None => out.push(b'\\'),
            }
        } else {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// `90s`, `2m`, `1m30s`, `500ms`, `1h`.
pub(crate) fn duration(word: &Word) -> Result<Duration> {
    parse_duration(&word.text).ok_or_else(|| {
        Diag::new(
            word.pos,
            format!(
                "invalid duration `{}`: expected a number and a unit, such as 500ms, 15s, 2m or 1m30s",
                word.text
            ),
        )
    })
}

/// Parses `90s`, `2m`, `1m30s`, `500ms`, `1h` (the forms of Go's
/// `time.Duration` that scenarios need).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total = total.checked_add(unit.checked_mul(u32::try_from(n).ok()?)?)?;
    }
    Some(total)
}
