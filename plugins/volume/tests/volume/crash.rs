//! Crash injection at every write point (see `drydock_volume::crash`).
//!
//! For each write point and each time the workload reaches it, the plugin is
//! killed there, reopened, and its state compared with the model: it must open
//! (never corrupt), hold every acknowledged operation, and hold the operation in
//! flight exactly when its record reached the journal.

use crate::util::{hex_id, Closed, Harness, Model, Op};
use drydock_volume::{files, Durability, Fault, WritePoint};

/// Exercises every write point with `compact_after = 3`: directory creation,
/// trashing, journal appends, and several snapshots. Ends with a harmless probe
/// (a Create of an existing volume) that notices a kill after the last change.
fn workload() -> Vec<Op> {
    let (m1, m2, m3) = (hex_id(1), hex_id(2), hex_id(3));
    let s = |x: &str| x.to_owned();
    vec![
        Op::Create(s("a"), None),
        Op::Create(s("b"), Some(1)),
        Op::Mount(s("a"), m1.clone()),
        Op::Mount(s("a"), m1.clone()),
        Op::Mount(s("b"), m2.clone()),
        Op::Remove(s("b")), // refused: in use
        Op::Unmount(s("a"), m1.clone()),
        Op::Create(s("c"), Some(2)),
        Op::Mount(s("c"), m3.clone()),
        Op::Unmount(s("c"), m3),
        Op::Remove(s("c")),
        Op::Unmount(s("a"), m1),
        Op::Remove(s("a")),
        Op::Create(s("a"), None),
        Op::Create(s("a"), None), // probe
    ]
}

/// Opens the state and returns its `List`, as JSON.
async fn reopened_list(closed: &Closed) -> serde_json::Value {
    closed.clone().reopen().list().await
}

/// The same directories, reopened without fsync: the hundreds of reopens of
/// the power-loss variants read the same bytes either way, just faster.
fn unsynced(closed: &Closed) -> Closed {
    let mut closed = closed.clone();
    closed.config.durability = drydock_volume::Durability::Buffered;
    closed
}

#[tokio::test]
async fn a_kill_at_any_write_point_loses_nothing_acknowledged_fsync() {
    kill_everywhere(Durability::Fsync).await;
}

/// The same with the inline writer (`Buffered`). The power-loss cuts run too:
/// the files are the same, though this mode does not promise to survive one.
#[tokio::test]
async fn a_kill_at_any_write_point_loses_nothing_acknowledged_buffered() {
    kill_everywhere(Durability::Buffered).await;
}

async fn kill_everywhere(durability: Durability) {
    let mut kills = Vec::new();
    for point in WritePoint::ALL {
        for hit in 1.. {
            let h = Harness::with(|c| {
                c.durability = durability;
                c.compact_after = 3;
                c.fault = Some(Fault::kill(point, hit));
            });
            let mut acked = Model::default();
            let mut in_flight = None;
            for op in workload() {
                let answer = h.run(&op).await;
                if answer.stopped() {
                    in_flight = Some(op);
                    break;
                }
                let accepted = acked.apply(&op);
                assert_eq!(answer.err().is_empty(), accepted, "{op:?}: {answer:?}");
            }
            let Some(op) = in_flight else {
                assert!(hit > 1, "the workload never reaches {point:?}");
                break;
            };
            kills.push((point, hit));
            let mut with_op = acked.clone();
            with_op.apply(&op);
            let root = h.root();
            let closed = h.close();
            // Reopening replays, cuts torn tails and compacts: keep the files
            // exactly as the kill left them for the power-loss variants.
            let left = Files::read(&closed);

            // A process crash keeps what was written; a record written (synced
            // or not) is there after restart, anything before the journal is not.
            let expected = match point {
                WritePoint::JournalWritten | WritePoint::JournalSynced => &with_op,
                _ => &acked,
            };
            let ctx = format!("{durability:?}: kill at {point:?} #{hit}, during {op:?}");
            assert_eq!(reopened_list(&closed).await, expected.list(&root), "{ctx}");

            // A power loss may also drop or tear what was not yet synced.
            match point {
                WritePoint::JournalWritten => {
                    power_loss_in_journal(&closed, &left, &acked, &with_op, &ctx).await
                }
                WritePoint::SnapshotWritten => {
                    power_loss_in_snapshot(&closed, &left, &acked, &ctx).await
                }
                _ => {}
            }
        }
    }
    // Every point was hit at least once (the loop asserts it), most several times.
    assert!(kills.len() >= 30, "{} kills: {kills:?}", kills.len());
}

/// The state files as a kill left them.
struct Files {
    journal: Vec<u8>,
    snapshot: Option<Vec<u8>>,
    tmp: Option<Vec<u8>>,
}

impl Files {
    fn read(closed: &Closed) -> Files {
        let dir = closed.state_dir();
        Files {
            journal: std::fs::read(dir.join(files::JOURNAL)).unwrap(),
            snapshot: std::fs::read(dir.join(files::SNAPSHOT)).ok(),
            tmp: std::fs::read(dir.join(files::SNAPSHOT_TMP)).ok(),
        }
    }

    /// Puts the files back, with `journal` and `tmp` instead of the originals.
    fn restore(&self, closed: &Closed, journal: &[u8], tmp: Option<&[u8]>) {
        let dir = closed.state_dir();
        std::fs::write(dir.join(files::JOURNAL), journal).unwrap();
        let put = |name: &str, bytes: Option<&[u8]>| match bytes {
            Some(b) => std::fs::write(dir.join(name), b).unwrap(),
            None => {
                let _ = std::fs::remove_file(dir.join(name));
            }
        };
        put(files::SNAPSHOT, self.snapshot.as_deref());
        put(files::SNAPSHOT_TMP, tmp);
    }
}

/// Cuts the journal at every byte of its last (unsynced) record (and
/// zero-fills one variant): each cut must open to the acknowledged state, and
/// only the complete journal to the state with the operation in flight.
async fn power_loss_in_journal(
    closed: &Closed,
    left: &Files,
    acked: &Model,
    with_op: &Model,
    ctx: &str,
) {
    let closed = &unsynced(closed);
    let full = &left.journal;
    // Calls are sequential here, so the unsynced batch is the last record.
    let synced_len = full[..full.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let root = closed.clone().reopen().root();
    for cut in synced_len..=full.len() {
        left.restore(closed, &full[..cut], None);
        let expected = if cut == full.len() { with_op } else { acked };
        assert_eq!(
            reopened_list(closed).await,
            expected.list(&root),
            "{ctx}: journal cut at {cut} of {}",
            full.len()
        );
    }
    let mut zeroed = full[..synced_len].to_vec();
    zeroed.resize(full.len(), 0);
    left.restore(closed, &zeroed, None);
    assert_eq!(
        reopened_list(closed).await,
        acked.list(&root),
        "{ctx}: zero-filled tail"
    );
}

/// An unsynced temporary snapshot may hold garbage after a power loss; it is
/// never read, and not left behind.
async fn power_loss_in_snapshot(closed: &Closed, left: &Files, acked: &Model, ctx: &str) {
    let closed = &unsynced(closed);
    let tmp = left
        .tmp
        .as_deref()
        .expect("the kill left the temporary snapshot");
    left.restore(closed, &left.journal, Some(&tmp[..tmp.len() / 3]));
    let h = closed.clone().reopen();
    assert_eq!(
        h.list().await,
        acked.list(&h.root()),
        "{ctx}: garbage temp snapshot"
    );
    let _ = h.close(); // a compaction at open may be writing a new one until then
    let path = closed.state_dir().join(files::SNAPSHOT_TMP);
    assert!(
        !path.exists(),
        "{ctx}: no temporary snapshot is left behind"
    );
}
