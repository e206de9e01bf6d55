//! Path patterns of the policy (`path=/containers/*/start,/volumes/**`),
//! compiled once when the policy is loaded.
//!
//! `*` is any run of characters without `/`, `**` any run at all (slashes
//! included, anywhere in the pattern: `/a**b` matches `/a/x/b`); every other
//! character stands for itself. A pattern becomes an anchored regular
//! expression (`*` → `[^/]*`, `**` → `.*`, the rest escaped). The `regex`
//! crate matches in time linear in the path whatever the pattern, which
//! matters because the path is the client's: the first matcher here
//! backtracked, and a 20,000-character URI against `/**a**a**a**a**b` kept a
//! worker busy for minutes. (globset cannot express these rules: there `**`
//! means "any directories" only as a whole path component.)

use regex::Regex;
use std::fmt;

/// One compiled path pattern. Compares and prints as the text it was written as.
#[derive(Clone)]
pub struct PathGlob {
    text: String,
    regex: Regex,
}

impl PathGlob {
    /// Compiles `pattern`. Fails only if the pattern is too large to compile
    /// (tens of thousands of wildcards); the message says so.
    pub fn new(pattern: &str) -> Result<PathGlob, String> {
        let mut re = String::with_capacity(pattern.len() + 16);
        re.push_str(r"\A");
        let mut rest = pattern;
        while let Some(star) = rest.find('*') {
            re.push_str(&regex::escape(&rest[..star]));
            rest = &rest[star..];
            if rest.starts_with("**") {
                re.push_str("(?s:.*)");
                rest = &rest[2..];
            } else {
                re.push_str("[^/]*");
                rest = &rest[1..];
            }
        }
        re.push_str(&regex::escape(rest));
        re.push_str(r"\z");
        let regex = Regex::new(&re).map_err(|e| {
            // A long pattern is shown by its start only.
            let shown = match pattern.char_indices().nth(60) {
                Some((cut, _)) => format!("`{}…` ({} bytes)", &pattern[..cut], pattern.len()),
                None => format!("`{pattern}`"),
            };
            match e {
                regex::Error::CompiledTooBig(_) => {
                    format!("path pattern {shown} is too large to compile (too many wildcards)")
                }
                e => format!("path pattern {shown} cannot be compiled: {e}"),
            }
        })?;
        Ok(PathGlob {
            text: pattern.to_owned(),
            regex,
        })
    }

    /// Whether `path` (a normalised, version-less request path) matches.
    pub fn matches(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }

    /// The pattern as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for PathGlob {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::PathGlob;

    fn glob(pattern: &str, path: &str) -> bool {
        PathGlob::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn one_star_stays_within_a_segment() {
        assert!(glob("/containers/*/start", "/containers/abc/start"));
        assert!(glob("/containers/*/start", "/containers//start"));
        assert!(!glob("/containers/*/start", "/containers/a/b/start"));
        assert!(!glob("/volumes/*", "/volumes"));
        assert!(glob("/volumes/*", "/volumes/"));
        assert!(glob("/c*s", "/containers"));
        assert!(!glob("/c*s", "/c/s"));
    }

    #[test]
    fn two_stars_cross_slashes_anywhere_in_the_pattern() {
        assert!(glob("/volumes/**", "/volumes/a/b"));
        assert!(glob("/volumes/**", "/volumes/"));
        assert!(!glob("/volumes/**", "/volumes"));
        assert!(glob("/a**b", "/a/x/y/b"));
        assert!(glob("/**/start", "/containers/x/start"));
        assert!(!glob("/**/start", "/containers/x/restart"));
        // Three stars are `**` then `*`: still anything.
        assert!(glob("/x***", "/x/y/z"));
    }

    #[test]
    fn everything_else_is_literal_and_the_whole_path_must_match() {
        assert!(glob("/a.b", "/a.b"));
        assert!(!glob("/a.b", "/aXb"));
        assert!(glob("/a?b[c](d)+$^|{1}\\", "/a?b[c](d)+$^|{1}\\"));
        assert!(!glob("/a?b", "/axb"));
        assert!(!glob("/containers", "/containers/x"));
        assert!(!glob("/containers", "/x/containers"));
        assert!(glob("/café/*", "/café/crème"));
        assert!(glob("/", "/"));
    }

    #[test]
    fn a_hostile_path_is_answered_promptly() {
        // The backtracking matcher this replaced took minutes on this (with
        // two `**` it was already quadratic: 0.37 s); the test harness's
        // timeout is the bound here.
        let pattern = PathGlob::new("/**a**a**a**a**b").unwrap();
        let path = format!("/{}", "a".repeat(20_000));
        assert!(!pattern.matches(&path));
        let path = format!("/{}", "a/".repeat(10_000));
        assert!(!pattern.matches(&path));
        let hit = format!("/{}b", "a".repeat(20_000));
        assert!(pattern.matches(&hit));
        let one_star = PathGlob::new("/*a*a*a*a*a*a*b").unwrap();
        assert!(!one_star.matches(&format!("/{}", "a".repeat(20_000))));
    }
}
