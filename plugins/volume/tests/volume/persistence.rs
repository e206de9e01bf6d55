//! Persistence across restarts, and how the plugin treats damaged state files.

use crate::util::{hex_id, Harness, Model, Op};
use drydock_volume::{files, Error, VolumePlugin};
use serde_json::json;
use std::io::Write;

/// A few volumes with options and outstanding mounts, applied to both.
async fn populate(h: &Harness, model: &mut Model) {
    let ops = [
        Op::Create("a".into(), None),
        Op::Create("b".into(), Some(1)),
        Op::Create("c".into(), Some(2)),
        Op::Mount("a".into(), hex_id(1)),
        Op::Mount("a".into(), hex_id(1)),
        Op::Mount("b".into(), hex_id(2)),
        Op::Mount("a".into(), hex_id(3)),
        Op::Unmount("a".into(), hex_id(3)),
        Op::Create("gone".into(), None),
        Op::Remove("gone".into()),
    ];
    for op in &ops {
        assert!(model.apply(op));
        let a = h.run(op).await;
        assert!(a.status == 200 && a.err().is_empty(), "{op:?}: {a:?}");
    }
}

#[tokio::test]
async fn a_reopened_plugin_lists_gets_and_mounts_what_it_had() {
    for compact_after in [1, 4, 10_000] {
        let h = Harness::with(|c| c.compact_after = compact_after);
        let mut model = Model::default();
        populate(&h, &mut model).await;
        let before = h.list().await;
        assert_eq!(before, h.expected_list(&model));

        let h = h.reopen();
        assert_eq!(h.list().await, before, "compact_after={compact_after}");
        let got = h.ok("Get", json!({"Name": "b"})).await;
        assert_eq!(got["Volume"], before[1]);

        // Outstanding mounts survived: the counts still need their Unmounts.
        h.ok("Unmount", json!({"Name": "a", "ID": hex_id(1)})).await;
        h.ok("Unmount", json!({"Name": "a", "ID": hex_id(1)})).await;
        h.refused("Unmount", json!({"Name": "a", "ID": hex_id(1)}))
            .await;
        h.refused("Remove", json!({"Name": "b"})).await;
        h.ok("Mount", json!({"Name": "c", "ID": hex_id(9)})).await;
        h.ok("Remove", json!({"Name": "a"})).await;

        let after = h.list().await;
        let h = h.reopen();
        assert_eq!(h.list().await, after, "compact_after={compact_after}");
    }
}

#[tokio::test]
async fn the_state_files_are_a_snapshot_and_a_readable_journal() {
    let h = Harness::with(|c| c.compact_after = 3);
    h.ok("Create", json!({"Name": "v", "Opts": {"size": "1k"}}))
        .await;
    h.ok("Mount", json!({"Name": "v", "ID": "m1"})).await;
    h.ok("Unmount", json!({"Name": "v", "ID": "m1"})).await; // third record: compaction
    h.ok("Mount", json!({"Name": "v", "ID": "m2"})).await;

    let dir = h.state_dir();
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(files::SNAPSHOT)).unwrap()).unwrap();
    assert_eq!(
        snapshot,
        json!({
            "format": "drydock-volume-state/1",
            "last_seq": 3,
            "volumes": [{"name": "v", "created_at": "2026-11-22T03:03:39Z", "size": 1024, "mounts": []}],
        })
    );
    let journal = std::fs::read_to_string(dir.join(files::JOURNAL)).unwrap();
    let (crc, record) = journal.trim_end().split_once(' ').unwrap();
    assert_eq!(crc.len(), 8);
    assert_eq!(record, r#"{"seq":4,"op":"mount","name":"v","id":"m2"}"#);
}

#[tokio::test]
async fn a_torn_journal_tail_is_cut_off_and_the_plugin_carries_on() {
    let h = Harness::new();
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    let before = h.list().await;
    let closed = h.close();
    let journal = closed.state_dir().join(files::JOURNAL);
    // Half a record and zero fill, as a crash mid-write can leave.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    f.write_all(b"0badc0de {\"seq\":2,\"op\":\"mou\0\0\0\0")
        .unwrap();
    drop(f);

    let h = closed.reopen();
    assert_eq!(h.list().await, before);
    h.ok("Mount", json!({"Name": "v", "ID": "m"})).await;
    let h = h.reopen();
    assert_eq!(h.list().await[0]["Status"]["mounts"], json!(["m"]));
}

#[tokio::test]
async fn damaged_state_refuses_to_open_rather_than_forget_volumes() {
    let h = Harness::with(|c| c.compact_after = 4);
    for name in ["a", "b", "c", "d", "e"] {
        h.ok("Create", json!({"Name": name, "Opts": null})).await; // snapshot after d
    }
    h.ok("Mount", json!({"Name": "e", "ID": "m"})).await; // two records in the journal
    let closed = h.close();
    let (dir, config) = (closed.state_dir(), closed.config.clone());

    // A flipped byte in the first journal record, with a good one after it.
    let journal = dir.join(files::JOURNAL);
    let good = std::fs::read(&journal).unwrap();
    let mut bad = good.clone();
    bad[12] ^= 0x01;
    std::fs::write(&journal, &bad).unwrap();
    let err = VolumePlugin::open(config.clone()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("line 1: checksum mismatch, and valid records follow it"),
        "{err}"
    );
    std::fs::write(&journal, &good).unwrap();

    // A snapshot that is not JSON.
    let snapshot = dir.join(files::SNAPSHOT);
    let good = std::fs::read(&snapshot).unwrap();
    std::fs::write(&snapshot, &good[..good.len() / 2]).unwrap();
    let err = VolumePlugin::open(config.clone()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("state file {} is corrupt", snapshot.display())),
        "{err}"
    );
    std::fs::write(&snapshot, &good).unwrap();

    // Restored files open again, with everything in them.
    let h = closed.reopen();
    assert_eq!(h.list().await.as_array().unwrap().len(), 5);
}
