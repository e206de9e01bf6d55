//! [`Error`]: everything that can go wrong, and how each case reaches dockerd.

use crate::name::{MountIdError, NameError};
use crate::options::OptionError;
use drydock_sdk::PluginError;
use std::path::PathBuf;

/// An error from opening the plugin or from one RPC.
///
/// Two families, answered differently by the `From<Error> for PluginError`
/// conversion:
/// * *refusals* — the request is wrong for the current state (unknown volume,
///   in use, bad name or option). They travel **in band** (HTTP 200,
///   `{"Err": "..."}`), exactly as the recording plugin in the golden traces did,
///   so dockerd shows the bare message: `remove v1: volume v1 is in use (…)`.
/// * *failures* — the plugin could not do its job (I/O, corrupt state). They
///   travel **out of band** (HTTP 500), as go-plugins-helpers does for every error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Get/Path/Mount/Unmount/Remove of a name the plugin does not know. The text
    /// matches the golden recordings.
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    /// A name outside the documented syntax.
    #[error(
        "invalid volume name {name:?}: {reason}; names must match {syntax} and be at most {max} bytes",
        syntax = crate::name::NAME_SYNTAX,
        max = crate::name::MAX_NAME_LEN
    )]
    InvalidName {
        /// The name as received.
        name: String,
        /// Which rule it broke.
        reason: NameError,
    },
    /// A mount ID that is empty, overlong or contains control characters.
    #[error("invalid mount ID {id:?} for volume {volume}: {reason}")]
    InvalidMountId {
        /// The volume the Mount/Unmount was for.
        volume: String,
        /// The ID as received.
        id: String,
        /// Which rule it broke.
        reason: MountIdError,
    },
    /// An unknown option or a bad option value.
    #[error("volume {volume}: {reason}")]
    InvalidOption {
        /// The volume being created.
        volume: String,
        /// What was wrong.
        reason: OptionError,
    },
    /// Create of an existing volume with different, non-empty options.
    #[error("volume {volume} already exists with {existing}; it was asked for {requested}")]
    OptionsConflict {
        /// The volume.
        volume: String,
        /// Its recorded options.
        existing: String,
        /// The options in the refused Create.
        requested: String,
    },
    /// Remove of a volume with outstanding mounts.
    #[error("volume {volume} is in use (mount IDs: {})", ids.join(", "))]
    InUse {
        /// The volume.
        volume: String,
        /// Its outstanding mount IDs, once per outstanding Mount.
        ids: Vec<String>,
    },
    /// Unmount with an ID that has no outstanding Mount on this volume.
    #[error("volume {volume} has no mount with ID {id} (outstanding mount IDs: [{}])", outstanding.join(", "))]
    UnknownMountId {
        /// The volume.
        volume: String,
        /// The ID in the refused Unmount.
        id: String,
        /// The IDs that are outstanding.
        outstanding: Vec<String>,
    },
    /// Something other than a plain directory sits where a volume directory
    /// belongs (e.g. a symlink planted under the root). The plugin never follows it.
    #[error("{path} is {found}, not a plain directory; refusing to use it as a volume")]
    NotADirectory {
        /// The path under the root.
        path: PathBuf,
        /// What was found there, e.g. "a symbolic link".
        found: &'static str,
    },
    /// An I/O operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the plugin was doing, e.g. "create directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state files in the state directory cannot be read back. The plugin
    /// refuses to start rather than guess (and silently forget volumes).
    #[error("state file {path} is corrupt: {reason}")]
    Corrupt {
        /// The state or journal file.
        path: PathBuf,
        /// What is wrong, with a line number where there is one.
        reason: String,
    },
    /// A state write failed earlier. After a failed write or fsync the file's
    /// contents are unknown, so the plugin stops changing state until it is
    /// restarted (which replays the files and trusts only what they hold).
    #[error("state writes are disabled after an earlier failure ({0}); restart the plugin")]
    Poisoned(String),
    /// The state writer is gone (the plugin was killed by a [`crate::Fault`]
    /// test hook, or its thread panicked).
    #[error("the volume plugin's state writer has stopped")]
    Stopped,
}

impl Error {
    /// Whether this is a refusal (the caller's request is wrong) rather than a
    /// failure of the plugin.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Error::NotADirectory { .. }
                | Error::Io { .. }
                | Error::Corrupt { .. }
                | Error::Poisoned(_)
                | Error::Stopped
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

impl From<Error> for PluginError {
    fn from(e: Error) -> PluginError {
        if e.is_refusal() {
            PluginError::in_band(e.to_string())
        } else {
            PluginError::new(e.to_string())
        }
    }
}
