//! The volume directories under the root: create, check, throw away.
//!
//! Names are validated before they get here ([`VolumeName`]), so `root/NAME` is
//! always a direct child of the root. What remains is something *planted* under
//! the root — a symlink `root/v -> /etc` — which the plugin must neither
//! follow nor hand to dockerd. Every check uses `symlink_metadata` (which
//! does not follow links) and removal renames the entry itself, link or not.

use crate::error::Error;
use crate::name::VolumeName;
use crate::options::Mode;
use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where removed volumes wait to be deleted, inside the root so the move is
/// an atomic rename on the same filesystem. The leading dot keeps it apart from
/// volume names, which never start with one.
pub const TRASH: &str = ".drydock-trash";

/// Makes sure `root/name` is a plain directory, creating it with `mode` if it
/// is missing. Returns whether it was created. With `set_mode`, an existing
/// directory gets `mode` too.
pub fn ensure(root: &Path, name: &VolumeName, mode: Mode, set_mode: bool) -> Result<bool, Error> {
    let path = root.join(name.as_str());
    // Look before making: on every first Mount the directory is usually there
    // already, and one lstat is then the whole cost (mkdir-then-lstat was two
    // system calls per lifecycle).
    let created = match fs::symlink_metadata(&path) {
        Ok(meta) => {
            check_is_dir(&path, &meta)?;
            false
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match DirBuilder::new().mode(mode.bits()).create(&path) {
                Ok(()) => true,
                // Made by someone else in between: check what it is.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta = fs::symlink_metadata(&path).map_err(Error::io("inspect", &path))?;
                    check_is_dir(&path, &meta)?;
                    false
                }
                Err(e) => return Err(Error::io("create volume directory", path)(e)),
            }
        }
        Err(e) => return Err(Error::io("inspect", path)(e)),
    };
    if created || set_mode {
        // mkdir's mode is filtered by the umask; set it explicitly so `mode`
        // means what the user said. The path was just checked (or made) to be
        // a real directory, so this does not follow a planted link.
        fs::set_permissions(&path, Permissions::from_mode(mode.bits()))
            .map_err(Error::io("set permissions of", &path))?;
    }
    Ok(created)
}

/// Refuses anything at a volume's path but a real directory (a planted
/// symbolic link would make dockerd mount whatever it points to).
fn check_is_dir(path: &Path, meta: &fs::Metadata) -> Result<(), Error> {
    if meta.is_dir() {
        return Ok(());
    }
    let found = if meta.file_type().is_symlink() {
        "a symbolic link"
    } else {
        "not a directory"
    };
    Err(Error::NotADirectory {
        path: path.to_path_buf(),
        found,
    })
}

/// Moves `root/name` (whatever it is) into the trash. Returns the trash path,
/// or `None` if there was nothing to move.
pub fn trash(root: &Path, name: &VolumeName) -> Result<Option<PathBuf>, Error> {
    // Unique within this process; the trash is emptied at every start, so
    // names from an earlier run cannot collide.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = root.join(name.as_str());
    let bin = root.join(TRASH);
    match fs::create_dir(&bin) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(Error::io("create trash directory", bin)(e))
        }
        _ => {}
    }
    let target = bin.join(format!("{name}.{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    match fs::rename(&path, &target) {
        Ok(()) => Ok(Some(target)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("move to trash", path)(e)),
    }
}

/// Deletes a trashed entry. `remove_dir_all` does not follow symlinks, so a
/// planted link is removed, not its target.
pub fn delete(path: &Path) {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not delete removed volume");
    }
}

/// Deletes everything left in the trash by an earlier run.
pub fn empty_trash(root: &Path) {
    let bin = root.join(TRASH);
    if let Ok(entries) = fs::read_dir(&bin) {
        for entry in entries.flatten() {
            delete(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_creates_with_mode_despite_umask_and_refuses_planted_links() {
        let root = tempfile::tempdir().unwrap();
        let v = VolumeName::parse("v").unwrap();
        let mode = Mode::parse("0707").unwrap();
        assert!(ensure(root.path(), &v, mode, false).unwrap());
        let meta = fs::metadata(root.path().join("v")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o707);
        assert!(!ensure(root.path(), &v, mode, false).unwrap());

        let outside = tempfile::tempdir().unwrap();
        let evil = VolumeName::parse("evil").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("evil")).unwrap();
        let err = ensure(root.path(), &evil, mode, true).unwrap_err();
        assert!(matches!(
            err,
            Error::NotADirectory {
                found: "a symbolic link",
                ..
            }
        ));
        let outside_mode = fs::metadata(outside.path()).unwrap().permissions().mode();
        assert_ne!(
            outside_mode & 0o7777,
            0o707,
            "the link target was not touched"
        );

        // Trashing and deleting the link removes the link, not the target.
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let trashed = trash(root.path(), &evil).unwrap().unwrap();
        delete(&trashed);
        assert!(outside.path().join("keep").exists());
        assert!(!root.path().join("evil").exists());
    }
}
