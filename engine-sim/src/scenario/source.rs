//! Reading a scenario's text: byte validation, positions, and shell words.
//!
//! Positions are 1-based lines and 1-based columns counted in characters
//! (Unicode scalar values), which is what editors show for UTF-8 text.

use std::fmt;

/// Longest accepted physical line, in bytes. Far above any real command or
/// pattern; it bounds the work a pathological file can cause.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A place in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Pos {
    /// The position `n` characters to the right on the same line.
    pub(crate) fn shift(self, n: usize) -> Pos {
        Pos {
            line: self.line,
            column: self
                .column
                .saturating_add(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A parse problem before the file path is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Diag {
    pub pos: Pos,
    pub message: String,
}

impl Diag {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Diag {
            pos,
            message: message.into(),
        }
    }
}

pub(crate) type Result<T, E = Diag> = std::result::Result<T, E>;

/// Checks that `bytes` is text a shell would read as we do: UTF-8, no NUL or
/// other control characters (tabs excepted), LF line endings, no byte order
/// mark, no line over [`MAX_LINE_BYTES`]. Reports the first offending byte.
pub(crate) fn validate(bytes: &[u8]) -> Result<&str> {
    if bytes.starts_with("\u{feff}".as_bytes()) {
        return Err(Diag::new(
            Pos { line: 1, column: 1 },
            "the file starts with a byte order mark; remove it (sh would read it as part of the first command)",
        ));
    }
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let at = |column: usize| Pos {
            line: line_no,
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        };
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(err) => {
                let valid = &line[..err.valid_up_to()];
                // The prefix is valid UTF-8 by construction.
                let chars = std::str::from_utf8(valid).map_or(0, |s| s.chars().count());
                return Err(Diag::new(
                    at(chars),
                    format!(
                        "invalid UTF-8 (byte 0x{:02x}); scenario files must be UTF-8 text",
                        line[err.valid_up_to()]
                    ),
                ));
            }
        };
        for (column, c) in text.chars().enumerate() {
            let problem = match c {
                '\0' => "a NUL byte; scenario files must be text".to_string(),
                '\r' => "a carriage return; save the file with LF line endings (sh reads CR as part of the command)".to_string(),
                '\t' => continue,
                c if c.is_control() => {
                    format!("control character U+{:04X}; scenario files must be text", c as u32)
                }
                _ => continue,
            };
            return Err(Diag::new(at(column), format!("unexpected {problem}")));
        }
        if line.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return Err(Diag::new(
                at(text[..cut].chars().count()),
                format!(
                    "line is {} bytes long; lines are limited to {MAX_LINE_BYTES} bytes",
                    line.len()
                ),
            ));
        }
    }
    // Every line is valid UTF-8 and the separators are ASCII.
    std::str::from_utf8(bytes).map_err(|_| Diag::new(Pos { line: 1, column: 1 }, "invalid UTF-8"))
}

/// A position-tracking reader over (a slice of) the source.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    src: &'a str,
    offset: usize,
    pos: Pos,
}

impl<'a> Cursor<'a> {
    /// A cursor over `src`, whose first character is at `start`.
    pub fn new(src: &'a str, start: Pos) -> Self {
        Cursor {
            src,
            offset: 0,
            pos: start,
        }
    }

    pub fn pos(&self) -> Pos {
        self.pos
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn rest(&self) -> &'a str {
        &self.src[self.offset..]
    }

    /// The text between byte offsets `from` and the current offset.
    pub fn since(&self, from: usize) -> &'a str {
        &self.src[from..self.offset]
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn at_eof(&self) -> bool {
        self.offset == self.src.len()
    }

    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    /// Consumes `prefix` if the rest starts with it.
    pub fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            for _ in prefix.chars() {
                self.bump();
            }
            true
        } else {
            false
        }
    }

    pub fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Consumes and returns characters while `keep` holds.
    pub fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let from = self.offset;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        self.since(from)
    }

    /// Consumes up to (not including) the next newline.
    pub fn take_line(&mut self) -> &'a str {
        self.take_while(|c| c != '\n')
    }
}

/// One shell word after quote removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    /// Where the word starts in the file (its first character or quote).
    pub pos: Pos,
}

/// Where shell words come from, which decides what is special.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WordMode {
    /// A `docker` line that sh will execute: continuation lines and quoted
    /// newlines are allowed, a `#` starting a word begins a comment, and
    /// anything sh would expand or treat as an operator is refused, so the
    /// command means the same to sh as to drydock.
    Shell,
    /// A `#@` line: a comment to sh, so only quoting matters and the words
    /// end at the end of the line.
    Comment,
}

/// How a run of shell words ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WordsEnd {
    /// At an unquoted newline (consumed) or the end of input.
    LineEnd,
    /// At a trailing `# comment` (Shell mode), left unconsumed.
    Comment,
}

/// Splits words as POSIX sh does, from the cursor to the end of the command.
pub(crate) fn words(cur: &mut Cursor<'_>, mode: WordMode) -> Result<(Vec<Word>, WordsEnd)> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    loop {
        let pos = cur.pos();
        let Some(c) = cur.peek() else {
            break;
        };
        match c {
            ' ' | '\t' => {
                cur.bump();
                words.extend(current.take());
            }
            '\n' => {
                cur.bump();
                words.extend(current.take());
                return Ok((words, WordsEnd::LineEnd));
            }
            '#' if current.is_none() && mode == WordMode::Shell => {
                return Ok((words, WordsEnd::Comment));
            }
            '\\' => {
                cur.bump();
                match cur.peek() {
                    Some('\n') if mode == WordMode::Shell => {
                        // Line continuation: both characters vanish.
                        cur.bump();
                    }
                    None | Some('\n') => {
                        let what = if mode == WordMode::Shell {
                            "a backslash at the end of the file escapes nothing"
                        } else {
                            "a backslash at the end of a `#@` line escapes nothing (directives are one line)"
                        };
                        return Err(Diag::new(pos, what));
                    }
                    Some(next) => {
                        cur.bump();
                        start(&mut current, pos).text.push(next);
                    }
                }
            }
            '\'' => {
                cur.bump();
                let word = start(&mut current, pos);
                loop {
                    match cur.bump() {
                        Some('\'') => break,
                        Some('\n') if mode == WordMode::Comment => {
                            return Err(unterminated(pos, "single"))
                        }
                        Some(c) => word.text.push(c),
                        None => return Err(unterminated(pos, "single")),
                    }
                }
            }
            '"' => {
                cur.bump();
                let word = start(&mut current, pos);
                double_quoted(cur, mode, pos, &mut word.text)?;
            }
            _ if mode == WordMode::Shell => {
                if let Some(problem) = shell_special(c, current.is_none()) {
                    return Err(Diag::new(pos, problem));
                }
                cur.bump();
                start(&mut current, pos).text.push(c);
            }
            _ => {
                cur.bump();
                start(&mut current, pos).text.push(c);
            }
        }
    }
    words.extend(current.take());
    Ok((words, WordsEnd::LineEnd))
}

fn start(current: &mut Option<Word>, pos: Pos) -> &mut Word {
    current.get_or_insert_with(|| Word {
        text: String::new(),
        pos,
    })
}

fn unterminated(pos: Pos, kind: &str) -> Diag {
    Diag::new(
        pos,
        format!("unterminated {kind}-quoted string (the quote opened here is never closed)"),
    )
}

/// Reads the inside of `"…"` (the opening quote already consumed) as sh does:
/// a backslash escapes only `$`, `` ` ``, `"`, `\` and newline.
fn double_quoted(cur: &mut Cursor<'_>, mode: WordMode, open: Pos, out: &mut String) -> Result<()> {
    loop {
        let pos = cur.pos();
        match cur.bump() {
            None => return Err(unterminated(open, "double")),
            Some('"') => return Ok(()),
            Some('\n') if mode == WordMode::Comment => return Err(unterminated(open, "double")),
            Some('\\') => match cur.peek() {
                Some('\n') if mode == WordMode::Shell => {
                    cur.bump();
                }
                Some(c @ ('$' | '`' | '"' | '\\')) => {
                    cur.bump();
                    out.push(c);
                }
                _ => out.push('\\'),
            },
            Some(c @ ('$' | '`')) if mode == WordMode::Shell => {
                return Err(Diag::new(
                    pos,
                    format!(
                        "{} inside double quotes would be expanded by sh; use single quotes or write {}",
                        code(&c.to_string()),
                        code(&format!("\\{c}"))
                    ),
                ));
            }
            Some(c) => out.push(c),
        }
    }
}

/// What sh would do with an unquoted `c` that drydock does not imitate.
fn shell_special(c: char, word_start: bool) -> Option<String> {
    match c {
        ';' | '&' | '|' | '<' | '>' | '(' | ')' | '`' => {
            let c = code(&c.to_string());
            Some(format!(
                "unquoted {c} is shell syntax; a scenario action is a single docker command (quote the argument if {c} is part of it)"
            ))
        }
        '$' => Some(
            "unquoted `$` would be expanded by sh; quote the argument with single quotes"
                .to_string(),
        ),
        '*' | '?' | '[' => Some(format!(
            "unquoted `{c}` is a shell glob; quote the argument"
        )),
        '~' if word_start => Some(
            "unquoted `~` at the start of a word is expanded by sh; quote the argument".to_string(),
        ),
        _ => None,
    }
}

/// `text` as Markdown-style code, with a wider fence if it holds a backquote.
pub(crate) fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}
