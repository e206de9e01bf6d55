//! The scenario language: `*.scenario` files that drive the engine like a
//! user drives dockerd, and say which plugin calls must follow.
//!
//! A scenario is also a valid `sh` script: actions are real `docker` command
//! lines, and everything drydock-specific hides in comments (`#@` directives,
//! `#>` expectations). The user-facing reference is `docs/scenarios.md`.
//!
//! # Layout
//! * [`parse`] / [`parse_file`] — bytes → [`Scenario`], or a [`ParseError`]
//!   naming file, line and column.
//! * `ast` — the typed tree: [`Scenario`] → [`Step`]s, each an [`Action`]
//!   ([`DockerCommand`]) or a [`Directive`], with its [`Expectation`]s.
//! * `source` — byte validation, positions, and POSIX-sh word splitting.
//! * `command`, `directive`, `expect` — one parser per kind of line.
//! * `pattern` — JSON [`Pattern`]s and [`TextPattern`]s with `$variables`.
//! * `matching` — what the runner calls after each step: [`Step::check`]
//!   compares an [`Outcome`] and the [`ObservedCall`]s with the step's
//!   expectations, binding [`Vars`], and explains any [`Mismatch`].
//!
//! # Running a scenario (the runner's side)
//! ```no_run
//! # use drydock_engine::scenario::*;
//! # fn run(step: &Step) -> (Outcome, Vec<ObservedCall>) { unimplemented!() }
//! let scenario = parse_file("scenarios/volume-lifecycle.scenario")?;
//! let mut vars = Vars::new();
//! for step in &scenario.steps {
//!     let (outcome, calls) = run(step); // act on step.kind
//!     if let Err(mismatch) = step.check(&outcome, &calls, &mut vars) {
//!         eprintln!("{}:{}: {mismatch}", scenario.path.display(), mismatch.line);
//!     }
//! }
//! # Ok::<(), LoadError>(())
//! ```
//!
//! # Invariants
//! * The parser never panics and never silently ignores a line: anything it
//!   does not understand is an error that says what is supported.
//! * A `docker` line means the same to drydock as to `sh`: shell syntax that
//!   drydock does not imitate (pipes, `$` expansion, globs) is refused.
//! * The parser knows docker's *syntax*; semantics (does the volume exist?)
//!   belong to the engine, so scenarios can show dockerd's errors.

mod ast;
mod command;
mod directive;
mod expect;
mod matching;
mod pattern;
mod source;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use ast::*;
pub use directive::{parse_duration, EXEC_PLACEHOLDERS};
pub use matching::{show_call, Binding, Mismatch, ObservedCall, Vars};
pub use pattern::{is_capture_char, Pattern, TextMode, TextPart, TextPattern};
pub use source::{Pos, MAX_LINE_BYTES};

use source::{words, Cursor, Diag, WordMode, WordsEnd};

/// A syntax error in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: {message}", path.display(), pos.line, pos.column)]
pub struct ParseError {
    /// The file, as given to [`parse`].
    pub path: PathBuf,
    /// Where the problem is (1-based line and character column).
    pub pos: Pos,
    /// What is wrong, and what would be right.
    pub message: String,
}

/// Why [`parse_file`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Reads and parses a scenario file.
pub fn parse_file(path: impl AsRef<Path>) -> Result<Scenario, LoadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse(path, &bytes)?)
}

/// Parses scenario text; `path` is used in the result and in messages only.
pub fn parse(path: impl Into<PathBuf>, source: &[u8]) -> Result<Scenario, ParseError> {
    let path = path.into();
    Parser::default()
        .run(source)
        .map(|(description, steps, replay)| Scenario {
            path: path.clone(),
            description,
            steps,
            replay,
        })
        .map_err(|diag| ParseError {
            path,
            pos: diag.pos,
            message: diag.message,
        })
}

/// The steps of scenario text, parsed one at a time: what a long run uses so
/// that its memory holds one step (plus the file's bytes), not the whole
/// file's syntax tree. Each step comes out once the line after it shows it
/// is complete (its expectations read). The first error ends the iteration.
///
/// ```
/// # use drydock_engine::scenario::StepParser;
/// let src = b"docker volume ls\n#> ok\ndocker volume ls\n";
/// let steps: Vec<_> = StepParser::new("x.scenario", src).unwrap().collect();
/// assert_eq!(steps.len(), 2);
/// assert_eq!(steps[0].as_ref().unwrap().expectations.len(), 1);
/// ```
pub struct StepParser<'a> {
    path: PathBuf,
    parser: Parser,
    cur: Cursor<'a>,
    /// The description and replay setting, once the end was reached.
    finished: Option<(String, Replay)>,
    failed: bool,
}

impl<'a> StepParser<'a> {
    /// Checks that `source` is UTF-8 (without NULs) and starts reading it.
    pub fn new(path: impl Into<PathBuf>, source: &'a [u8]) -> Result<Self, ParseError> {
        let path = path.into();
        let text = source::validate(source).map_err(|diag| ParseError {
            path: path.clone(),
            pos: diag.pos,
            message: diag.message,
        })?;
        Ok(StepParser {
            path,
            parser: Parser::default(),
            cur: Cursor::new(text, Pos { line: 1, column: 1 }),
            finished: None,
            failed: false,
        })
    }

    /// The scenario's description and `#@ replay` setting, once every step
    /// has been read (`None` before, or after an error).
    pub fn finished(&self) -> Option<(&str, &Replay)> {
        self.finished.as_ref().map(|(d, r)| (d.as_str(), r))
    }

    fn error(&mut self, diag: Diag) -> Option<Result<Step, ParseError>> {
        self.failed = true;
        Some(Err(ParseError {
            path: self.path.clone(),
            pos: diag.pos,
            message: diag.message,
        }))
    }
}

impl Iterator for StepParser<'_> {
    type Item = Result<Step, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            // Expectations attach to the last step: it is complete only once
            // another one follows, or the text ends.
            if self.parser.steps.len() >= 2
                || (self.finished.is_some() && !self.parser.steps.is_empty())
            {
                return Some(Ok(self.parser.steps.remove(0)));
            }
            if self.finished.is_some() {
                return None;
            }
            if self.cur.at_eof() {
                match self.parser.finish() {
                    Ok(done) => self.finished = Some(done),
                    Err(diag) => return self.error(diag),
                }
                continue;
            }
            if let Err(diag) = self.parser.line(&mut self.cur) {
                return self.error(diag);
            }
        }
    }
}

/// A `calls` block still reading item lines.
struct OpenBlock {
    /// Line and position of the `#> calls…:` header.
    header: Pos,
    mode: CallsMode,
    items: Vec<CallPattern>,
}

#[derive(Default)]
struct Parser {
    description: Vec<String>,
    /// The leading comment block is still being read.
    description_closed: bool,
    steps: Vec<Step>,
    replay: Option<(String, u32)>,
    block: Option<OpenBlock>,
    actions: usize,
    /// Plugins started by `#@ plugin`, with their lines.
    plugins: HashMap<String, u32>,
}

type Parsed = (String, Vec<Step>, Replay);

impl Parser {
    fn run(mut self, bytes: &[u8]) -> Result<Parsed, Diag> {
        let text = source::validate(bytes)?;
        let mut cur = Cursor::new(text, Pos { line: 1, column: 1 });
        while !cur.at_eof() {
            self.line(&mut cur)?;
        }
        let (description, replay) = self.finish()?;
        Ok((description, self.steps, replay))
    }

    /// Reads one line (or one action with its continuation lines).
    fn line(&mut self, cur: &mut Cursor<'_>) -> Result<(), Diag> {
        cur.skip_blanks();
        let pos = cur.pos();
        let rest = cur.rest();
        if rest.starts_with("#>") {
            cur.eat("#>");
            let start = cur.pos();
            let line = cur.take_line();
            self.expectation(line, start, pos)?;
        } else {
            self.close_block()?;
            if rest.is_empty() || rest.starts_with('\n') {
                if !self.description.is_empty() {
                    self.description_closed = true;
                }
            } else if rest.starts_with("#@") {
                self.description_closed = true;
                cur.eat("#@");
                let start = cur.pos();
                let line = cur.take_line();
                self.directive(line, start, pos)?;
            } else if rest.starts_with('#') {
                let line = cur.take_line();
                let shebang = pos.line == 1 && pos.column == 1 && line.starts_with("#!");
                if !self.description_closed && !shebang {
                    let text = &line[1..];
                    self.description.push(
                        text.strip_prefix(' ')
                            .unwrap_or(text)
                            .trim_end()
                            .to_string(),
                    );
                }
            } else if is_docker_line(rest) {
                self.description_closed = true;
                return self.action(cur); // the action consumed its line end
            } else {
                return Err(Diag::new(
                    pos,
                    "expected a `docker …` command, a `# comment`, a `#@` directive or a `#>` expectation",
                ));
            }
        }
        cur.eat("\n");
        Ok(())
    }

    /// Closes the last expectation block; the description and replay setting.
    fn finish(&mut self) -> Result<(String, Replay), Diag> {
        self.close_block()?;
        let replay = match self.replay.take() {
            None => Replay::Replayable,
            Some((reason, line)) => Replay::Skip { reason, line },
        };
        Ok((self.description.join("\n").trim().to_string(), replay))
    }

    fn action(&mut self, cur: &mut Cursor<'_>) -> Result<(), Diag> {
        let start = cur.pos();
        let from = cur.offset();
        let (words, end) = words(cur, WordMode::Shell)?;
        let text = cur.since(from).trim_end().to_string();
        if end == WordsEnd::Comment {
            let at = cur.pos();
            if cur.rest().starts_with("#>") || cur.rest().starts_with("#@") {
                return Err(Diag::new(
                    at,
                    "`#>` and `#@` lines must stand on their own line (sh reads this as a comment)",
                ));
            }
            cur.take_line();
            cur.eat("\n");
        }
        let command = command::parse_command(&words)?;
        self.actions += 1;
        self.steps.push(Step {
            line: start.line,
            text,
            kind: StepKind::Action(Action {
                index: self.actions,
                argv: words.into_iter().map(|w| w.text).collect(),
                command,
            }),
            expectations: Vec::new(),
        });
        Ok(())
    }

    fn directive(&mut self, line: &str, start: Pos, at: Pos) -> Result<(), Diag> {
        let directive = match directive::parse_directive(line, start)? {
            directive::Parsed::ReplaySkip(reason) => {
                if let Some((_, first)) = &self.replay {
                    return Err(Diag::new(
                        at,
                        format!("a second `#@ replay` directive (the first is at line {first})"),
                    ));
                }
                self.replay = Some((reason, at.line));
                return Ok(());
            }
            directive::Parsed::Step(directive) => directive,
        };
        match &directive {
            Directive::Plugin(plugin) => {
                if let Some(first) = self.plugins.insert(plugin.name.clone(), at.line) {
                    return Err(Diag::new(
                        at,
                        format!(
                            "plugin `{}` is already started at line {first}",
                            plugin.name
                        ),
                    ));
                }
            }
            Directive::RestartPlugin(name) if !self.plugins.contains_key(name) => {
                return Err(Diag::new(
                    at,
                    format!("`#@ restart-plugin {name}`: no `#@ plugin {name} …` above starts it"),
                ));
            }
            Directive::Fault(FaultDirective::Kill { plugin, .. })
                if !self.plugins.contains_key(plugin) =>
            {
                return Err(Diag::new(
                    at,
                    format!("`#@ fault {plugin} kill`: no `#@ plugin {plugin} …` above starts it"),
                ));
            }
            Directive::Fault(FaultDirective::StaleSocket(plugin)) => {
                if let Some(line) = self.plugins.get(plugin) {
                    return Err(Diag::new(
                        at,
                        format!("`#@ fault {plugin} stale-socket`: plugin `{plugin}` is started at line {line}; `#@ fault {plugin} kill` leaves its socket stale"),
                    ));
                }
            }
            _ => {}
        }
        self.steps.push(Step {
            line: at.line,
            text: format!("#@{}", line.trim_end()),
            kind: StepKind::Directive(directive),
            expectations: Vec::new(),
        });
        Ok(())
    }

    /// `line` is the text after `#>`, starting at `start`; `at` is the `#`.
    fn expectation(&mut self, line: &str, start: Pos, at: Pos) -> Result<(), Diag> {
        match expect::parse_expect_line(line, start)? {
            expect::Line::Item(item) => match &mut self.block {
                Some(block) => block.items.push(item),
                None => {
                    return Err(Diag::new(
                        at,
                        "an indented `#>` call line outside a `#> calls:` block",
                    ))
                }
            },
            expect::Line::Whole(kind) => {
                self.close_block()?;
                self.attach(at, kind)?;
            }
            expect::Line::BlockHeader(mode) => {
                self.close_block()?;
                self.target(at)?;
                self.block = Some(OpenBlock {
                    header: at,
                    mode,
                    items: Vec::new(),
                });
            }
        }
        Ok(())
    }

    /// The step the expectation at `at` belongs to.
    fn target(&mut self, at: Pos) -> Result<&mut Step, Diag> {
        let Some(step) = self.steps.last_mut() else {
            return Err(Diag::new(
                at,
                "expectation before any action: a `#>` line checks the `docker` command above it",
            ));
        };
        if let StepKind::Directive(directive) = &step.kind {
            if !matches!(
                directive,
                Directive::RestartDaemon | Directive::RestartPlugin(_)
            ) {
                return Err(Diag::new(
                    at,
                    format!(
                        "a `#>` line checks the `docker` command (or `#@ restart-daemon`/`#@ restart-plugin`) above it, but this one follows `{}` (line {})",
                        step.text, step.line
                    ),
                ));
            }
        }
        Ok(step)
    }

    fn attach(&mut self, at: Pos, kind: ExpectKind) -> Result<(), Diag> {
        let step = self.target(at)?;
        let conflict = step.expectations.iter().find(|e| {
            matches!(
                (&e.kind, &kind),
                (ExpectKind::Ok, ExpectKind::Error(_)) | (ExpectKind::Error(_), ExpectKind::Ok)
            )
        });
        if let Some(other) = conflict {
            return Err(Diag::new(
                at,
                format!(
                    "conflicting expectations: line {} already expects {}",
                    other.line,
                    if other.kind == ExpectKind::Ok {
                        "success"
                    } else {
                        "an error"
                    }
                ),
            ));
        }
        step.expectations.push(Expectation {
            line: at.line,
            kind,
        });
        Ok(())
    }

    fn close_block(&mut self) -> Result<(), Diag> {
        let Some(block) = self.block.take() else {
            return Ok(());
        };
        if block.items.is_empty() {
            return Err(Diag::new(
                block.header,
                "unterminated expectation: a `#> calls…:` header needs at least one indented `#>   PLUGIN METHOD …` line after it (use `#> no calls` for none)",
            ));
        }
        self.attach(
            block.header,
            ExpectKind::Calls {
                mode: block.mode,
                calls: block.items,
            },
        )
    }
}

/// `docker` as a whole first word.
fn is_docker_line(rest: &str) -> bool {
    rest.strip_prefix("docker")
        .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t', '\n']))
}
