//! The volume options this plugin understands (`docker volume create -o k=v`).
//!
//! | option | value | effect |
//! |---|---|---|
//! | `mode` | 3 or 4 octal digits, e.g. `0750`, `1777` | permissions of the volume directory (default `0755`), set explicitly so the umask does not matter |
//! | `size` | a number with an optional binary unit: `512`, `64k`, `10M`, `1.5g`, `2GiB` | recorded and shown in `docker volume inspect` as `Status.options.size`; **not enforced** (a directory has no quota) |
//!
//! Anything else is refused, naming the option and listing the supported ones,
//! so a typo (`-o mod=700`) fails loudly instead of being silently ignored.

use std::collections::BTreeMap;
use std::fmt;

/// The names of all supported options, for error messages.
pub const SUPPORTED: &[&str] = &["mode", "size"];

/// Permissions for a volume directory when the `mode` option is absent.
pub const DEFAULT_MODE: Mode = Mode(0o755);

/// The validated options of one volume. Absent fields were not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VolumeOptions {
    /// `mode`: the directory's permission bits.
    pub mode: Option<Mode>,
    /// `size`: an advisory size.
    pub size: Option<Size>,
}

/// Why an option map was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// A key this plugin does not know.
    #[error("unknown option {0:?}; supported options: {supported}", supported = SUPPORTED.join(", "))]
    Unknown(String),
    /// A known key with a value that does not parse.
    #[error("invalid value {value:?} for option {option:?}: {reason}")]
    BadValue {
        /// The option name.
        option: &'static str,
        /// The value as given.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

impl VolumeOptions {
    /// Parses dockerd's `Opts` (`None` when dockerd sent `null`).
    pub fn parse(opts: Option<&BTreeMap<String, String>>) -> Result<VolumeOptions, OptionError> {
        let mut out = VolumeOptions::default();
        for (key, value) in opts.into_iter().flatten() {
            match key.as_str() {
                "mode" => out.mode = Some(Mode::parse(value)?),
                "size" => out.size = Some(Size::parse(value)?),
                _ => return Err(OptionError::Unknown(key.clone())),
            }
        }
        Ok(out)
    }

    /// Whether no option was given.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.size.is_none()
    }

    /// The permissions the directory gets.
    pub fn effective_mode(&self) -> Mode {
        self.mode.unwrap_or(DEFAULT_MODE)
    }
}

impl fmt::Display for VolumeOptions {
    /// `mode=0750 size=10MiB`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(m) = self.mode {
            parts.push(format!("mode={m}"));
        }
        if let Some(s) = self.size {
            parts.push(format!("size={s}"));
        }
        if parts.is_empty() {
            f.write_str("no options")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// Unix permission bits (at most `0o7777`), shown as four octal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(u32);

impl Mode {
    /// Parses 3 or 4 octal digits (`750`, `0750`, `1777`).
    pub fn parse(value: &str) -> Result<Mode, OptionError> {
        let bad = || OptionError::BadValue {
            option: "mode",
            value: value.to_owned(),
            reason: "expected 3 or 4 octal digits such as 0755",
        };
        if !(3..=4).contains(&value.len()) || !value.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(bad());
        }
        u32::from_str_radix(value, 8).map(Mode).map_err(|_| bad())
    }

    /// The permission bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// An advisory size in bytes, shown in the largest binary unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(u64);

const UNITS: &[(&str, u64)] = &[
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

impl Size {
    /// Parses `<number>[unit]`: the number may have a fraction (`1.5g`); units
    /// are `b`, `k`, `m`, `g`, `t`, optionally followed by `b` or `ib`, any case,
    /// all powers of 1024 as docker's own size flags are. The result is rounded
    /// down to whole bytes and must be at least one byte.
    pub fn parse(value: &str) -> Result<Size, OptionError> {
        let bad = |reason| OptionError::BadValue {
            option: "size",
            value: value.to_owned(),
            reason,
        };
        let syntax = "expected a number with an optional unit (b, k, m, g, t), such as 10M or 1.5g";
        let split = value
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(value.len());
        let (number, unit) = value.split_at(split);
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(bad(syntax)),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty()
            || fraction.contains('.')
            || (number.contains('.') && fraction.is_empty())
        {
            return Err(bad(syntax));
        }
        let too_big = "larger than 2^64 bytes";
        let whole: u64 = whole.parse().map_err(|_| bad(too_big))?;
        if fraction.len() > 18 {
            return Err(bad("at most 18 digits after the decimal point"));
        }
        // The fraction is computed in integers (multiplier × digits / 10^n,
        // rounded down), so `1.5g` is exactly 1536 MiB and `0.1k` is 102 bytes:
        // no float rounding surprises.
        let digits: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| bad(syntax))?
        };
        let part = u128::from(multiplier) * digits / 10u128.pow(fraction.len() as u32);
        let bytes = whole
            .checked_mul(multiplier)
            .and_then(|b| b.checked_add(part as u64))
            .ok_or_else(|| bad(too_big))?;
        if bytes == 0 {
            return Err(bad("the size must be at least one byte"));
        }
        Ok(Size(bytes))
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// A size of exactly `bytes` (at least 1).
    pub(crate) fn from_bytes(bytes: u64) -> Option<Size> {
        (bytes > 0).then_some(Size(bytes))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, factor) in UNITS {
            if self.0 % factor == 0 {
                return write!(f, "{}{unit}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<VolumeOptions, OptionError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VolumeOptions::parse(Some(&map))
    }

    #[test]
    fn absent_and_empty_options_are_the_same() {
        assert_eq!(VolumeOptions::parse(None), Ok(VolumeOptions::default()));
        assert_eq!(opts(&[]), Ok(VolumeOptions::default()));
    }

    #[test]
    fn unknown_option_names_it_and_the_supported_set() {
        let err = opts(&[("mod", "700")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown option "mod"; supported options: mode, size"#
        );
    }

    #[test]
    fn modes() {
        let mode = |v: &str| Mode::parse(v).map(|m| m.to_string());
        assert_eq!(mode("750"), Ok("0750".into()));
        assert_eq!(mode("0700"), Ok("0700".into()));
        assert_eq!(mode("1777"), Ok("1777".into()));
        for bad in ["", "75", "0o755", "0789", "12345", "rwx", "-755"] {
            let err = Mode::parse(bad).unwrap_err().to_string();
            assert!(err.contains("octal digits"), "{bad}: {err}");
        }
    }

    #[test]
    fn sizes() {
        let size = |v: &str| Size::parse(v).map(|s| (s.bytes(), s.to_string()));
        assert_eq!(size("512"), Ok((512, "512B".into())));
        assert_eq!(size("64k"), Ok((65536, "64KiB".into())));
        assert_eq!(size("10M"), Ok((10 << 20, "10MiB".into())));
        assert_eq!(size("2GiB"), Ok((2 << 30, "2GiB".into())));
        assert_eq!(size("1.5g"), Ok((3 << 29, "1536MiB".into())));
        assert_eq!(size("0.1k"), Ok((102, "102B".into())));
        assert_eq!(size("1tb"), Ok((1 << 40, "1TiB".into())));
        for bad in [
            "", "M", "10X", "-1", "1..5m", "1.m", ".5m", "1 m", "0", "0.0001b",
        ] {
            assert!(Size::parse(bad).is_err(), "{bad} should be refused");
        }
        let huge = Size::parse("99999999999t").unwrap_err().to_string();
        assert!(huge.contains("larger than 2^64"), "{huge}");
    }
}
