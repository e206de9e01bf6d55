//! Validated identifiers: [`VolumeName`] and [`MountId`].
//!
//! dockerd passes volume names to plugins unvalidated (protocol.md §4.1: only the
//! built-in `local` driver checks them), so a name arriving over the socket may be
//! `../../etc` or contain a NUL. This plugin turns names into directory names, so
//! every name is checked here, once, before anything touches the filesystem. Code
//! that holds a `VolumeName` can join it onto the root without further checks.

use std::fmt;

/// The longest accepted name, in bytes: the usual `NAME_MAX` of Linux filesystems,
/// so a valid name is always a valid directory name.
pub const MAX_NAME_LEN: usize = 255;

/// The accepted name syntax, for error messages and docs. It is the `local`
/// driver's rule (which also accepts one-character names here), and it matches
/// the 64-hex names dockerd gives anonymous volumes.
pub const NAME_SYNTAX: &str = "[A-Za-z0-9][A-Za-z0-9_.-]*";

/// A volume name that is safe to use as a single directory name under the root.
///
/// Accepted: 1 to 255 bytes matching `[A-Za-z0-9][A-Za-z0-9_.-]*`. That rules out
/// `.` and `..` (they start with a dot), `/` anywhere, NUL and every other
/// control or non-ASCII character.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeName(String);

/// Why a volume name was rejected. Each variant is one class of hostile input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The empty string.
    #[error("the name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_LEN`] bytes.
    #[error("the name is {0} bytes long; the limit is {MAX_NAME_LEN}")]
    TooLong(usize),
    /// `.` or `..`: would address the root or its parent.
    #[error("`.` and `..` are not volume names")]
    DotPath,
    /// Contains `/`: would address a path below or outside the root.
    #[error("the name contains `/`")]
    Slash,
    /// Contains a NUL byte, which no path can hold.
    #[error("the name contains a NUL byte")]
    Nul,
    /// Any other character outside the syntax, or a bad first character.
    #[error("{0:?} is not allowed at byte {1}")]
    BadChar(char, usize),
}

impl VolumeName {
    /// Checks `name` against the documented syntax.
    pub fn parse(name: &str) -> Result<VolumeName, NameError> {
        // The specific classes come first so the error says what is wrong,
        // not only that the syntax does not match.
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong(name.len()));
        }
        if name == "." || name == ".." {
            return Err(NameError::DotPath);
        }
        if name.contains('/') {
            return Err(NameError::Slash);
        }
        if name.contains('\0') {
            return Err(NameError::Nul);
        }
        for (i, c) in name.char_indices() {
            let ok = c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(NameError::BadChar(c, i));
            }
        }
        Ok(VolumeName(name.to_owned()))
    }

    /// The name as sent by dockerd.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The caller's identifier for one Mount (protocol.md §4.5).
///
/// dockerd sends 64 hex characters, unique per container, mount point and start,
/// and repeats the ID for `docker cp` into a running container. The plugin only
/// compares IDs, so any non-empty string of at most 255 bytes without control
/// characters is accepted; the limits keep the state file and `Status` sane.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountId(String);

/// Why a mount ID was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountIdError {
    /// The empty string: dockerd never sends one, so a caller is confused.
    #[error("the mount ID is empty")]
    Empty,
    /// Longer than 255 bytes.
    #[error("the mount ID is {0} bytes long; the limit is 255")]
    TooLong(usize),
    /// Contains a control character.
    #[error("the mount ID contains the control character {0:?}")]
    Control(char),
}

impl MountId {
    /// Checks `id`.
    pub fn parse(id: &str) -> Result<MountId, MountIdError> {
        if id.is_empty() {
            return Err(MountIdError::Empty);
        }
        if id.len() > 255 {
            return Err(MountIdError::TooLong(id.len()));
        }
        if let Some(c) = id.chars().find(|c| c.is_control()) {
            return Err(MountIdError::Control(c));
        }
        Ok(MountId(id.to_owned()))
    }

    /// The ID as sent by dockerd.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Result<(), NameError>) {
        assert_eq!(
            VolumeName::parse(name).map(|_| ()),
            expected,
            "name {name:?}"
        );
    }

    #[test]
    fn names() {
        check("v1", Ok(()));
        check("a", Ok(()));
        check("My_vol.2-x", Ok(()));
        check("a..b", Ok(()));
        check(&"f".repeat(64), Ok(()));
        check(&"x".repeat(255), Ok(()));
        check("", Err(NameError::Empty));
        check(&"x".repeat(256), Err(NameError::TooLong(256)));
        check(".", Err(NameError::DotPath));
        check("..", Err(NameError::DotPath));
        check("../etc", Err(NameError::Slash));
        check("a/b", Err(NameError::Slash));
        check("/abs", Err(NameError::Slash));
        check("a\0b", Err(NameError::Nul));
        check(".hidden", Err(NameError::BadChar('.', 0)));
        check("-flag", Err(NameError::BadChar('-', 0)));
        check("_x", Err(NameError::BadChar('_', 0)));
        check("a b", Err(NameError::BadChar(' ', 1)));
        check("a\\b", Err(NameError::BadChar('\\', 1)));
        check("a\nb", Err(NameError::BadChar('\n', 1)));
        check("caf\u{e9}", Err(NameError::BadChar('\u{e9}', 3)));
    }

    #[test]
    fn mount_ids() {
        assert!(MountId::parse(&"a".repeat(64)).is_ok());
        assert_eq!(MountId::parse(""), Err(MountIdError::Empty));
        assert_eq!(
            MountId::parse(&"a".repeat(256)),
            Err(MountIdError::TooLong(256))
        );
        assert_eq!(MountId::parse("a\nb"), Err(MountIdError::Control('\n')));
    }
}
