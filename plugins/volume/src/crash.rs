//! Crash injection: stop the plugin at a chosen write point, as `kill -9` would.
//!
//! Durability claims are only worth what their tests show. Every place where the
//! plugin writes something that must survive (a journal record, a snapshot, a
//! directory) is a [`WritePoint`]. Setting [`crate::Config::kill_at`] makes the
//! state writer stop dead when it reaches that point for the n-th time: no more
//! I/O, no replies (pending calls fail with [`crate::Error::Stopped`]). A test then
//! drops the plugin, reopens the same directories and checks that it finds the old
//! or the new state — never a corrupt one — and every acknowledged operation.
//!
//! What an in-process stop cannot imitate is a *power* loss, where unsynced
//! writes vanish too. The tests cover that by cutting the journal's unsynced tail
//! at every byte after such a stop; the snapshot's rename is covered by design
//! (see [`WritePoint`]).

/// A point in the write path where a crash can be injected, in the order the
/// writer passes them. The doc of each says what a restart finds if the plugin
/// dies right there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WritePoint {
    /// A volume directory was just created (Create, or the first Mount of a
    /// volume whose directory is missing), before the change is journaled.
    /// Restart: the volume does not exist yet; an empty directory is left, which
    /// a later Create of that name adopts.
    DirectoryCreated,
    /// A volume directory was moved into the root's trash (Remove), before the
    /// removal is journaled. Restart: the trash is emptied; the volume still
    /// exists, empty, and a retried Remove finishes the job.
    DirectoryTrashed,
    /// The batch's journal records are written but not yet fsynced.
    /// Restart: the records are there (a process crash keeps the page cache).
    /// After a power loss they may be gone or torn: a torn last record is
    /// discarded. Nothing was acknowledged, so either is correct.
    JournalWritten,
    /// The journal is synced; readers and callers have not been told yet.
    /// Restart: the changes are there.
    JournalSynced,
    /// A snapshot was written to its temporary file, not yet synced.
    /// Restart: the temporary file is deleted; the old snapshot plus the
    /// journal give the same state.
    SnapshotWritten,
    /// The temporary snapshot is synced, not yet renamed. As above.
    SnapshotSynced,
    /// The snapshot was renamed over the old one; the directory is not synced.
    /// Restart: the new snapshot, and journal records it already holds are
    /// skipped by sequence number. (After a power loss the rename may be
    /// undone; the old snapshot plus the untouched journal still add up.)
    SnapshotRenamed,
    /// The state directory is synced: the new snapshot is durable. The journal
    /// has not been truncated. Restart: as above.
    SnapshotDirSynced,
    /// The journal was truncated after a snapshot (and synced). Restart: the
    /// snapshot alone.
    JournalTruncated,
}

impl WritePoint {
    /// Every write point, in write-path order.
    pub const ALL: [WritePoint; 9] = [
        WritePoint::DirectoryCreated,
        WritePoint::DirectoryTrashed,
        WritePoint::JournalWritten,
        WritePoint::JournalSynced,
        WritePoint::SnapshotWritten,
        WritePoint::SnapshotSynced,
        WritePoint::SnapshotRenamed,
        WritePoint::SnapshotDirSynced,
        WritePoint::JournalTruncated,
    ];
}

/// Stop the plugin the `hit`-th time (1-based) its writer reaches `point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillAt {
    /// Where to stop.
    pub point: WritePoint,
    /// Which arrival at `point` stops the plugin: 1 is the first.
    pub hit: u32,
}

/// The writer's crash-injection state: counts arrivals at the configured point.
#[derive(Debug)]
pub(crate) struct KillSwitch {
    at: Option<KillAt>,
    hits: u32,
}

/// The writer must stop now, without further I/O.
#[derive(Debug)]
pub(crate) struct Killed;

impl KillSwitch {
    pub fn new(at: Option<KillAt>) -> Self {
        KillSwitch { at, hits: 0 }
    }

    /// Called by the writer at each write point.
    pub fn reached(&mut self, point: WritePoint) -> Result<(), Killed> {
        match self.at {
            Some(at) if at.point == point => {
                self.hits += 1;
                if self.hits == at.hit {
                    tracing::warn!(?point, "kill_at: simulating a crash");
                    return Err(Killed);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
