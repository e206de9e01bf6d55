//! Persistence: a snapshot plus an append-only journal in the state directory.
//!
//! # Files
//! * `state.json` — a snapshot: every volume, and `last_seq`, the sequence
//!   number of the last change it contains. Pretty JSON, so people can read it.
//! * `journal.log` — changes since (or around) the snapshot, one per line:
//!   `<crc32 as 8 hex digits> <json>\n`, e.g.
//!   `1f0c33a2 {"seq":7,"op":"mount","name":"v1","id":"53c2…"}`.
//! * `state.json.tmp` — a snapshot being written; deleted at open.
//!
//! # Why a journal
//! Mount and Unmount change persisted state, and a `docker run --rm -v v:/d`
//! makes two of them. Rewriting a snapshot per change costs a file write, two
//! fsyncs and a rename; appending one line costs one `fdatasync`, and
//! concurrent calls share it (the writer batches them, see `writer.rs`).
//!
//! # Why it is always either the old or the new state
//! * A change is acknowledged only after its record is written and synced.
//! * A crash can only tear the *last* record (appends are sequential). Each
//!   record carries a checksum, so a torn or zero-filled tail is recognised and
//!   cut off at open. A damaged record *followed by* good ones is not a crash
//!   artefact; open refuses with [`Error::Corrupt`] rather than guessing.
//! * Every record has a sequence number. Replay skips records the snapshot
//!   already holds (`seq <= last_seq`) and insists on `last_seq + 1, + 2, …`
//!   after that, so the journal may be truncated at any moment after the new
//!   snapshot is durable — or not at all, if the plugin died first.
//! * A snapshot is written to `state.json.tmp`, fsynced, renamed over
//!   `state.json`, and the directory fsynced: a reader sees the old file or the
//!   new one, never half of one.

use crate::config::Durability;
use crate::crash::{Faults, Injected, WritePoint};
use crate::error::Error;
use crate::name::{MountId, VolumeName};
use crate::options::{Mode, Size, VolumeOptions};
use crate::state::{Change, State, VolumeState};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The snapshot file's name in the state directory.
pub const SNAPSHOT: &str = "state.json";
/// The temporary snapshot's name.
pub const SNAPSHOT_TMP: &str = "state.json.tmp";
/// The journal's name.
pub const JOURNAL: &str = "journal.log";
/// The snapshot format marker; bump when the layout changes.
const FORMAT: &str = "drydock-volume-state/1";

/// Why a write stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A crash was injected: stop without further I/O.
    Killed,
    /// A write or sync failed; what is on disk is unknown.
    Failed(Error),
}

/// Passes write point `point`, turning an injected fault into a [`Stop`]:
/// an injected I/O error is reported as a failure of `action` on `path`.
fn reached(
    faults: &mut Faults,
    point: WritePoint,
    action: &'static str,
    path: &Path,
) -> Result<(), Stop> {
    faults.reached(point).map_err(|injected| match injected {
        Injected::Killed => Stop::Killed,
        Injected::Failed(source) => Stop::Failed(Error::Io {
            action,
            path: path.to_owned(),
            source,
        }),
    })
}

/// The open journal and what the writer needs to append to it and compact it.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    journal: File,
    /// Sequence number of the last change written (snapshot or journal).
    last_seq: u64,
    /// Records in the journal file; compaction starts when it reaches `compact_at`.
    journal_records: usize,
    compact_at: usize,
    compact_after: usize,
    durability: Durability,
}

impl Store {
    /// Opens (or creates) the state in `dir`: loads the snapshot, replays the
    /// journal, cuts a torn tail off it.
    pub fn open(
        dir: &Path,
        durability: Durability,
        compact_after: usize,
    ) -> Result<(Store, State), Error> {
        fs::create_dir_all(dir).map_err(Error::io("create state directory", dir))?;
        let tmp = dir.join(SNAPSHOT_TMP);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(Error::io("remove stale snapshot", tmp)(e))
            }
            _ => {}
        }
        let (mut state, snapshot_seq) = load_snapshot(&dir.join(SNAPSHOT))?;

        let path = dir.join(JOURNAL);
        let mut journal = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(Error::io("open journal", &path))?;
        let mut bytes = Vec::new();
        journal
            .read_to_end(&mut bytes)
            .map_err(Error::io("read journal", &path))?;
        let (records, good_len) = parse_journal(&bytes, &path)?;
        if good_len < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = bytes.len() - good_len,
                "journal ends in a torn record (a crash during a write that was never acknowledged); cutting it off"
            );
            journal
                .set_len(good_len as u64)
                .and_then(|()| journal.sync_all())
                .map_err(Error::io("truncate journal", &path))?;
        }
        let mut last_seq = snapshot_seq;
        for (line, (seq, change)) in records.iter().enumerate() {
            if *seq <= snapshot_seq {
                continue; // already in the snapshot; the journal was not yet truncated
            }
            let corrupt = |reason: String| Error::Corrupt {
                path: path.clone(),
                reason: format!("line {}: {reason}", line + 1),
            };
            if *seq != last_seq + 1 {
                return Err(corrupt(format!("sequence {seq} follows {last_seq}")));
            }
            state.apply(change).map_err(corrupt)?;
            last_seq = *seq;
        }
        // The journal may have just been created: its directory entry must be
        // durable before the first record synced into it is acknowledged.
        if durability.syncs() {
            sync_dir(dir)?;
        }
        let store = Store {
            dir: dir.to_owned(),
            journal,
            last_seq,
            journal_records: records.len(),
            compact_at: compact_after,
            compact_after,
            durability,
        };
        Ok((store, state))
    }

    /// Appends `changes` as one write and syncs it (per [`Durability`]).
    pub fn append(&mut self, changes: &[Change], faults: &mut Faults) -> Result<(), Stop> {
        let mut buf = Vec::with_capacity(160 * changes.len());
        for change in changes {
            self.last_seq += 1;
            encode_record(&mut buf, self.last_seq, change);
        }
        let path = &self.dir.join(JOURNAL);
        let (write, sync) = ("append to journal", "fdatasync journal");
        self.journal
            .write_all(&buf)
            .map_err(|e| Stop::Failed(Error::io(write, path)(e)))?;
        reached(faults, WritePoint::JournalWritten, write, path)?;
        if self.durability.syncs() {
            self.journal
                .sync_data()
                .map_err(|e| Stop::Failed(Error::io(sync, path)(e)))?;
        }
        reached(faults, WritePoint::JournalSynced, sync, path)?;
        self.journal_records += changes.len();
        Ok(())
    }

    /// Whether the journal has grown enough to be folded into a snapshot.
    pub fn wants_compaction(&self) -> bool {
        self.journal_records >= self.compact_at
    }

    /// Writes `state` (which must include every appended change) as the new
    /// snapshot and truncates the journal.
    ///
    /// Failures before the journal is touched leave a consistent old snapshot
    /// plus journal, so they are only logged and retried later; a failed
    /// truncation leaves the journal in an unknown state and stops the writer.
    pub fn compact(&mut self, state: &State, faults: &mut Faults) -> Result<(), Stop> {
        match self.write_snapshot(state, faults) {
            Ok(()) => {}
            Err(Stop::Failed(e)) => {
                tracing::warn!(error = %e, "snapshot failed; keeping the journal and retrying later");
                self.compact_at = self.journal_records + self.compact_after;
                return Ok(());
            }
            Err(killed) => return Err(killed),
        }
        let path = self.dir.join(JOURNAL);
        self.journal
            .set_len(0)
            .and_then(|()| {
                if self.durability.syncs() {
                    self.journal.sync_all()
                } else {
                    Ok(())
                }
            })
            .map_err(|e| Stop::Failed(Error::io("truncate journal", &path)(e)))?;
        reached(
            faults,
            WritePoint::JournalTruncated,
            "truncate journal",
            &path,
        )?;
        self.journal_records = 0;
        self.compact_at = self.compact_after;
        Ok(())
    }

    fn write_snapshot(&mut self, state: &State, faults: &mut Faults) -> Result<(), Stop> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let failed = |action, path: &Path| {
            let path = path.to_owned();
            move |e| Stop::Failed(Error::io(action, path)(e))
        };
        let mut file = File::create(&tmp).map_err(failed("create", &tmp))?;
        file.write_all(&encode_snapshot(state, self.last_seq))
            .map_err(failed("write", &tmp))?;
        reached(faults, WritePoint::SnapshotWritten, "write", &tmp)?;
        if self.durability.syncs() {
            file.sync_all().map_err(failed("fsync", &tmp))?;
        }
        reached(faults, WritePoint::SnapshotSynced, "fsync", &tmp)?;
        let snapshot = self.dir.join(SNAPSHOT);
        fs::rename(&tmp, &snapshot).map_err(failed("rename snapshot onto", &snapshot))?;
        reached(
            faults,
            WritePoint::SnapshotRenamed,
            "rename snapshot onto",
            &snapshot,
        )?;
        if self.durability.syncs() {
            sync_dir(&self.dir).map_err(Stop::Failed)?;
        }
        reached(
            faults,
            WritePoint::SnapshotDirSynced,
            "fsync directory",
            &self.dir,
        )?;
        Ok(())
    }
}

/// fsyncs a directory, making renames and new entries in it durable.
fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync directory", dir))
}

// ---------------------------------------------------------------------------
// On-disk format. These structs exist only at this boundary: the in-memory
// types (`State`, `Change`) know nothing about JSON.

#[derive(Serialize, Deserialize)]
struct DiskRecord {
    seq: u64,
    op: DiskOp,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum DiskOp {
    Create,
    Remove,
    Mount,
    Unmount,
}

#[derive(Serialize, Deserialize)]
struct DiskSnapshot {
    format: String,
    last_seq: u64,
    volumes: Vec<DiskVolume>,
}

#[derive(Serialize, Deserialize)]
struct DiskVolume {
    name: String,
    created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(default)]
    mounts: Vec<DiskMount>,
}

#[derive(Serialize, Deserialize)]
struct DiskMount {
    id: String,
    count: u32,
}

fn encode_record(out: &mut Vec<u8>, seq: u64, change: &Change) {
    let (op, name, id, create) = match change {
        Change::Create {
            name,
            created_at,
            options,
        } => (DiskOp::Create, name, None, Some((created_at, options))),
        Change::Remove { name } => (DiskOp::Remove, name, None, None),
        Change::Mount { name, id } => (DiskOp::Mount, name, Some(id), None),
        Change::Unmount { name, id } => (DiskOp::Unmount, name, Some(id), None),
    };
    let record = DiskRecord {
        seq,
        op,
        name: name.to_string(),
        id: id.map(MountId::to_string),
        created_at: create.map(|(at, _)| at.clone()),
        mode: create.and_then(|(_, o)| o.mode).map(|m| m.to_string()),
        size: create.and_then(|(_, o)| o.size).map(Size::bytes),
    };
    let json = serde_json::to_vec(&record).expect("records always serialise");
    write!(out, "{:08x} ", crc32(&json)).expect("writing to a Vec");
    out.extend_from_slice(&json);
    out.push(b'\n');
}

/// What is wrong with one journal line.
enum LineError {
    /// Checksum missing or wrong: what a crash mid-write leaves behind.
    Damaged(&'static str),
    /// Checksum right, content wrong: the writer never produces this.
    Invalid(String),
}

fn decode_record(line: &[u8]) -> Result<(u64, Change), LineError> {
    let (crc, json) = match line.iter().position(|b| *b == b' ') {
        Some(9..) | None => return Err(LineError::Damaged("no checksum")),
        Some(i) => (&line[..i], &line[i + 1..]),
    };
    let crc = std::str::from_utf8(crc)
        .ok()
        .filter(|s| s.len() == 8)
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or(LineError::Damaged("bad checksum field"))?;
    if crc != crc32(json) {
        return Err(LineError::Damaged("checksum mismatch"));
    }
    let r: DiskRecord =
        serde_json::from_slice(json).map_err(|e| LineError::Invalid(e.to_string()))?;
    let name = parse_name(&r.name).map_err(LineError::Invalid)?;
    let id = || {
        let id = r.id.as_deref().ok_or("missing mount ID")?;
        MountId::parse(id).map_err(|e| format!("mount ID {id:?}: {e}"))
    };
    let change = match r.op {
        DiskOp::Create => Change::Create {
            name,
            created_at: parse_created_at(r.created_at.as_deref().unwrap_or_default())
                .map_err(LineError::Invalid)?,
            options: parse_options(r.mode.as_deref(), r.size).map_err(LineError::Invalid)?,
        },
        DiskOp::Remove => Change::Remove { name },
        DiskOp::Mount => Change::Mount {
            name,
            id: id().map_err(LineError::Invalid)?,
        },
        DiskOp::Unmount => Change::Unmount {
            name,
            id: id().map_err(LineError::Invalid)?,
        },
    };
    Ok((r.seq, change))
}

/// Splits the journal into records, returning them and the length of the
/// intact prefix. A damaged line is tolerated only at the end.
fn parse_journal(bytes: &[u8], path: &Path) -> Result<(Vec<(u64, Change)>, usize), Error> {
    let corrupt = |line: usize, reason: String| Error::Corrupt {
        path: path.to_owned(),
        reason: format!("line {line}: {reason}"),
    };
    let mut records = Vec::new();
    let mut pos = 0;
    let mut lines = bytes.split_inclusive(|b| *b == b'\n').enumerate();
    while let Some((i, raw)) = lines.next() {
        let Some(line) = raw.strip_suffix(b"\n") else {
            break; // the last line has no newline: torn
        };
        match decode_record(line) {
            Ok(record) => records.push(record),
            Err(LineError::Invalid(reason)) => return Err(corrupt(i + 1, reason)),
            Err(LineError::Damaged(reason)) => {
                // A torn write can only be the last record; good records after
                // a damaged one mean the file was damaged some other way.
                let later_good = lines.any(|(_, l)| {
                    l.strip_suffix(b"\n")
                        .is_some_and(|l| decode_record(l).is_ok())
                });
                if later_good {
                    return Err(corrupt(
                        i + 1,
                        format!("{reason}, and valid records follow it"),
                    ));
                }
                break;
            }
        }
        pos += raw.len();
    }
    Ok((records, pos))
}

fn encode_snapshot(state: &State, last_seq: u64) -> Vec<u8> {
    let snapshot = DiskSnapshot {
        format: FORMAT.to_owned(),
        last_seq,
        volumes: state
            .volumes
            .iter()
            .map(|(name, v)| DiskVolume {
                name: name.to_string(),
                created_at: v.created_at.clone(),
                mode: v.options.mode.map(|m| m.to_string()),
                size: v.options.size.map(Size::bytes),
                mounts: v
                    .mounts
                    .iter()
                    .map(|(id, count)| DiskMount {
                        id: id.to_string(),
                        count: *count,
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&snapshot).expect("snapshots always serialise");
    out.push(b'\n');
    out
}

fn load_snapshot(path: &Path) -> Result<(State, u64), Error> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((State::default(), 0)),
        Err(e) => return Err(Error::io("read snapshot", path)(e)),
    };
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let snapshot: DiskSnapshot =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if snapshot.format != FORMAT {
        return Err(corrupt(format!(
            "format {:?}; this plugin reads {FORMAT:?}",
            snapshot.format
        )));
    }
    let mut state = State::default();
    for v in snapshot.volumes {
        let name = parse_name(&v.name).map_err(corrupt)?;
        let mut mounts = Vec::with_capacity(v.mounts.len());
        for m in v.mounts {
            let id =
                MountId::parse(&m.id).map_err(|e| corrupt(format!("mount ID {:?}: {e}", m.id)))?;
            if m.count == 0 {
                return Err(corrupt(format!("mount {id} of {name} has count 0")));
            }
            mounts.push((id, m.count));
        }
        let volume = VolumeState {
            created_at: parse_created_at(&v.created_at).map_err(corrupt)?,
            options: parse_options(v.mode.as_deref(), v.size).map_err(corrupt)?,
            mounts,
        };
        if state.volumes.insert(name.clone(), volume).is_some() {
            return Err(corrupt(format!("volume {name} appears twice")));
        }
    }
    Ok((state, snapshot.last_seq))
}

fn parse_name(name: &str) -> Result<VolumeName, String> {
    VolumeName::parse(name).map_err(|e| format!("volume name {name:?}: {e}"))
}

fn parse_created_at(s: &str) -> Result<String, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|_| s.to_owned())
        .map_err(|e| format!("created_at {s:?}: {e}"))
}

fn parse_options(mode: Option<&str>, size: Option<u64>) -> Result<VolumeOptions, String> {
    Ok(VolumeOptions {
        mode: mode
            .map(Mode::parse)
            .transpose()
            .map_err(|e| e.to_string())?,
        size: size
            .map(|b| Size::from_bytes(b).ok_or("size 0"))
            .transpose()?,
    })
}

/// CRC-32 (IEEE, as in zlib and `cksum -a crc32b`), for telling a torn journal
/// record from a whole one.
fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn mount(seq_name: &str, id: &str) -> Change {
        Change::Mount {
            name: VolumeName::parse(seq_name).unwrap(),
            id: MountId::parse(id).unwrap(),
        }
    }

    #[test]
    fn records_round_trip_and_read_like_the_docs_say() {
        let mut buf = Vec::new();
        let change = mount("v1", "abc");
        encode_record(&mut buf, 7, &change);
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.ends_with(" {\"seq\":7,\"op\":\"mount\",\"name\":\"v1\",\"id\":\"abc\"}\n"),
            "{text}"
        );
        let (records, len) = parse_journal(&buf, Path::new("j")).unwrap();
        assert_eq!(records, vec![(7, change)]);
        assert_eq!(len, buf.len());
    }

    #[test]
    fn only_a_damaged_tail_is_tolerated() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, &mount("v", "a"));
        let first = buf.len();
        encode_record(&mut buf, 2, &mount("v", "b"));
        // Every cut inside the second record, and zero fill, leaves the first.
        for cut in first..buf.len() {
            let (records, len) = parse_journal(&buf[..cut], Path::new("j")).unwrap();
            assert_eq!((records.len(), len), (1, first), "cut at {cut}");
        }
        let mut zeroed = buf[..first].to_vec();
        zeroed.extend_from_slice(&[0; 300]);
        assert_eq!(parse_journal(&zeroed, Path::new("j")).unwrap().1, first);

        // A flipped byte in the first record, with a good one after it, is corruption.
        let mut flipped = buf.clone();
        flipped[first - 5] ^= 0x20;
        let err = parse_journal(&flipped, Path::new("j"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1: checksum mismatch, and valid records follow"),
            "{err}"
        );
    }
}
