//! Fault injection: stop the plugin at a chosen write point, as `kill -9`
//! would, or make the write before it fail.
//!
//! Durability claims are only worth what their tests show. Every place where the
//! plugin writes something that must survive (a journal record, a snapshot, a
//! directory) is a [`WritePoint`]. Setting [`crate::Config::fault`] to a
//! [`Fault::kill`] makes the state writer stop dead when it reaches that point
//! for the n-th time: no more I/O, no replies (pending calls fail with
//! [`crate::Error::Stopped`]). A test then
//! drops the plugin, reopens the same directories and checks that it finds the old
//! or the new state — never a corrupt one — and every acknowledged operation.
//!
//! What an in-process stop cannot imitate is a *power* loss, where unsynced
//! writes vanish too. The tests cover that by cutting the journal's unsynced tail
//! at every byte after such a stop; the snapshot's rename is covered by design
//! (see [`WritePoint`]).
//!
//! [`Fault::io_error`] instead makes the step before the point fail, to test
//! what the plugin does with a failed `write` or `fsync` (it stops accepting
//! changes until restarted: see `writer.rs`).

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

/// A fault to inject: what happens the `hit`-th time (1-based) the writer
/// reaches `point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Where.
    pub point: WritePoint,
    /// Which arrival at `point`: 1 is the first.
    pub hit: u32,
    /// What happens there.
    pub effect: Effect,
}

/// What an injected [`Fault`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The plugin stops dead, as if killed: no further I/O, no answers.
    Kill,
    /// The step just before the point reports an I/O error (after it did its
    /// work, as a failed `write` or `fsync` may have). At journal points this
    /// poisons the writer; at snapshot points the snapshot is abandoned and
    /// retried later; at `JournalTruncated` it poisons; at the directory points
    /// the one command fails (a trashed directory is moved back first).
    IoError,
}

impl Fault {
    /// Kill the plugin at the `hit`-th arrival at `point`.
    pub fn kill(point: WritePoint, hit: u32) -> Fault {
        Fault {
            point,
            hit,
            effect: Effect::Kill,
        }
    }

    /// Fail the step before `point` with an I/O error, at its `hit`-th arrival.
    pub fn io_error(point: WritePoint, hit: u32) -> Fault {
        Fault {
            point,
            hit,
            effect: Effect::IoError,
        }
    }
}

/// The writer's fault-injection state: counts arrivals at the configured point.
#[derive(Debug)]
pub(crate) struct Faults {
    fault: Option<Fault>,
    hits: u32,
}

/// The writer must stop now, without further I/O.
#[derive(Debug)]
pub(crate) struct Killed;

/// What [`Faults::reached`] injected.
#[derive(Debug)]
pub(crate) enum Injected {
    Killed,
    Failed(std::io::Error),
}

impl Faults {
    pub fn new(fault: Option<Fault>) -> Self {
        Faults { fault, hits: 0 }
    }

    /// Called by the writer at each write point.
    pub fn reached(&mut self, point: WritePoint) -> Result<(), Injected> {
        let Some(fault) = self.fault.filter(|f| f.point == point) else {
            return Ok(());
        };
        self.hits += 1;
        if self.hits != fault.hit {
            return Ok(());
        }
        tracing::warn!(?point, effect = ?fault.effect, "injecting a fault");
        Err(match fault.effect {
            Effect::Kill => Injected::Killed,
            Effect::IoError => Injected::Failed(std::io::Error::other(format!(
                "injected fault at {point:?}"
            ))),
        })
    }
}
