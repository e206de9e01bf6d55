//! `#@ …` lines → [`Directive`] (or the file's [`Replay`](super::Replay) setting).
//!
//! Every directive has an entry in `DIRECTIVES` (its name and the usage error
//! messages quote) and an arm in [`parse_directive`]. A new directive such as
//! `#@ fault` is an entry, an arm, and a new [`Directive`] variant.

use super::ast::{Directive, KeyValue, PluginDirective, PluginLaunch};
use super::source::{words, Cursor, Diag, Pos, Result, Word, WordMode};

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
