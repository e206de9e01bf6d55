//! The words Go's `encoding/json` uses for a malformed document, so that a
//! client sending bad JSON reads what dockerd would have answered
//! (`invalid character 'o' in literal null (expecting 'u')`, recorded in
//! tests/golden/api/raw-router.jsonl).
//!
//! [`check`] scans the first JSON value of a text the way Go's scanner
//! does and reports the first thing Go would object to. It only runs on
//! bodies serde already refused, so it favours plainness over speed.

/// What Go's scanner makes of the first value in `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// A complete value (what follows it is not looked at, as
    /// `json.Decoder` reads one value).
    Complete,
    /// The text ends inside the value (Go: `unexpected EOF` from a decoder,
    /// `unexpected end of JSON input` from `json.Unmarshal`).
    Truncated,
    /// A syntax error, worded as Go words it.
    Invalid(String),
}

/// Scans the first JSON value of `text`.
pub fn check(text: &[u8]) -> Scan {
    scan(text, false)
}

/// What `json.Unmarshal` makes of `text`: one value and nothing after it.
pub fn check_document(text: &[u8]) -> Scan {
    scan(text, true)
}

/// The first value of `text`; with `whole`, also what follows it.
fn scan(text: &[u8], whole: bool) -> Scan {
    let mut s = Scanner { text, at: 0 };
    match s.value() {
        Ok(()) if !whole => Scan::Complete,
        Ok(()) => {
            s.skip_space();
            match s.peek() {
                None => Scan::Complete,
                Some(c) => Scan::Invalid(invalid(c, "after top-level value").expect("a message")),
            }
        }
        Err(None) => Scan::Truncated,
        Err(Some(message)) => Scan::Invalid(message),
    }
}

/// `Err(None)`: the text ended; `Err(Some(m))`: Go's message.
type Step = Result<(), Option<String>>;

struct Scanner<'t> {
    text: &'t [u8],
    at: usize,
}

/// `invalid character 'c' <context>`, the character quoted as Go quotes it.
fn invalid(c: u8, context: &str) -> Option<String> {
    let quoted = match c {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        b'\n' => "'\\n'".to_owned(),
        b'\r' => "'\\r'".to_owned(),
        b'\t' => "'\\t'".to_owned(),
        0x20..=0x7e => format!("'{}'", c as char),
        c if c < 0x20 || c == 0x7f => format!("'\\x{c:02x}'"),
        // A byte of a multi-byte character: Go shows the character; the
        // byte is close enough for a message.
        c => format!("'\\u{:04x}'", c),
    };
    Some(format!("invalid character {quoted} {context}"))
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, Option<String>> {
        let c = self.peek().ok_or(None)?;
        self.at += 1;
        Ok(c)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The next non-space byte, consumed.
    fn token(&mut self) -> Result<u8, Option<String>> {
        self.skip_space();
        self.next()
    }

    fn value(&mut self) -> Step {
        let c = self.token()?;
        self.value_from(c)
    }

    fn value_from(&mut self, c: u8) -> Step {
        match c {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(c),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(invalid(c, "looking for beginning of value")),
        }
    }

    fn object(&mut self) -> Step {
        let mut c = self.token()?;
        if c == b'}' {
            return Ok(());
        }
        loop {
            if c != b'"' {
                return Err(invalid(c, "looking for beginning of object key string"));
            }
            self.string()?;
            let colon = self.token()?;
            if colon != b':' {
                return Err(invalid(colon, "after object key"));
            }
            self.value()?;
            match self.token()? {
                b',' => c = self.token()?,
                b'}' => return Ok(()),
                other => return Err(invalid(other, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Step {
        let c = self.token()?;
        if c == b']' {
            return Ok(());
        }
        self.value_from(c)?;
        loop {
            match self.token()? {
                b',' => self.value()?,
                b']' => return Ok(()),
                other => return Err(invalid(other, "after array element")),
            }
        }
    }

    fn string(&mut self) -> Step {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let h = self.next()?;
                            if !h.is_ascii_hexdigit() {
                                return Err(invalid(h, "in \\u hexadecimal character escape"));
                            }
                        }
                    }
                    other => return Err(invalid(other, "in string escape code")),
                },
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                _ => {}
            }
        }
    }

    fn literal(&mut self, word: &str) -> Step {
        for expected in word.bytes().skip(1) {
            let c = self.next()?;
            if c != expected {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting '{}')", expected as char),
                ));
            }
        }
        Ok(())
    }

    fn number(&mut self, first: u8) -> Step {
        let mut c = first;
        if c == b'-' {
            c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in numeric literal"));
            }
        }
        if c != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let d = self.next()?;
            if !d.is_ascii_digit() {
                return Err(invalid(d, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let mut d = self.next()?;
            if d == b'+' || d == b'-' {
                d = self.next()?;
            }
            if !d.is_ascii_digit() {
                return Err(invalid(d, "in exponent of numeric literal"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> String {
        match check(text.as_bytes()) {
            Scan::Invalid(m) => m,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_read_as_go_writes_them() {
        // Recorded: vol-list-filters-notjson.
        assert_eq!(
            message("notjson"),
            "invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(
            message("x"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            message("{a"),
            "invalid character 'a' looking for beginning of object key string"
        );
        assert_eq!(
            message(r#"{"a" 1}"#),
            "invalid character '1' after object key"
        );
        assert_eq!(
            message(r#"{"a":1 "b"}"#),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(
            message("[1 2]"),
            "invalid character '2' after array element"
        );
        assert_eq!(message("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            message("\"a\nb\""),
            "invalid character '\\n' in string literal"
        );
    }

    #[test]
    fn complete_and_truncated_values() {
        assert_eq!(
            check(b"{\"a\":[1,2.5e3,true,null,\"\\u00e9\"]}"),
            Scan::Complete
        );
        // A decoder reads one value: what follows is not its business.
        assert_eq!(check(b"{} trailing"), Scan::Complete);
        assert_eq!(check(b"{"), Scan::Truncated);
        assert_eq!(check(b"{\"a\":\"b"), Scan::Truncated);
        assert_eq!(check(b"   "), Scan::Truncated);
        assert_eq!(
            check_document(b"{} x"),
            Scan::Invalid("invalid character 'x' after top-level value".into())
        );
    }
}
