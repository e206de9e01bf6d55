//! `--shard K/N` as a CI matrix uses it: every shard gets the same command
//! line and runs its own share, and the shares make up the whole run.

use drydock::shard::Shard;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const DRYDOCK: &str = env!("CARGO_BIN_EXE_drydock");

/// Runs drydock in `dir`: exit code, stdout, stderr.
fn drydock(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(DRYDOCK)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("drydock runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Scenario files that pass quickly, some in subdirectories, under `root`;
/// returns their paths relative to `root`.
fn scenarios(root: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let rel = format!("{}/s{i:02}.scenario", ["a", "b/c", "d"][i % 3]);
            let path = root.join(&rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                &path,
                format!("docker volume create v{i}\n#> output \"v{i}\"\n"),
            )
            .unwrap();
            rel
        })
        .collect()
}

/// The files shard `k` of `n` ran under `root`, relative to `root`, from
/// its JSON report.
fn ran(cwd: &Path, root: &str, shard: &str) -> BTreeSet<String> {
    let (code, stdout, stderr) = drydock(cwd, &["run", "--shard", shard, "--format", "json", root]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let (k, n) = shard.split_once('/').unwrap();
    assert_eq!(doc["shard"]["index"].to_string(), k);
    assert_eq!(doc["shard"]["count"].to_string(), n);
    let files: BTreeSet<String> = doc["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let path = s["path"].as_str().unwrap();
            assert_eq!(s["passed"], true, "{path}");
            let rel = path.strip_prefix(root).unwrap().trim_start_matches('/');
            rel.to_owned()
        })
        .collect();
    assert_eq!(doc["shard"]["files"], files.len());
    files
}

#[test]
fn run_shards_split_a_directory_into_disjoint_complete_stable_shares() {
    let tmp = tempfile::tempdir().unwrap();
    let all: BTreeSet<String> = scenarios(&tmp.path().join("suite"), 12)
        .into_iter()
        .collect();
    let shares: Vec<BTreeSet<String>> = (1..=3)
        .map(|k| ran(tmp.path(), "suite", &format!("{k}/3")))
        .collect();
    let mut union = BTreeSet::new();
    for (i, share) in shares.iter().enumerate() {
        for f in share {
            assert!(union.insert(f.clone()), "{f} ran in two shards");
            // The share is the one the hash of the relative path names.
            assert_eq!(Shard::of_key(f, 3), i as u32 + 1, "{f}");
        }
    }
    assert_eq!(union, all);
    // The same tree checked out elsewhere and named by an absolute path
    // splits the same way: only the path under the argument counts.
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("elsewhere/checkout");
    scenarios(&copy, 12);
    for (i, share) in shares.iter().enumerate() {
        let k = format!("{}/3", i + 1);
        assert_eq!(
            &ran(tmp.path(), copy.to_str().unwrap(), &k),
            share,
            "shard {k}"
        );
    }
}

#[test]
fn an_empty_shard_says_so_and_passes_with_a_junit_suite_named_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let files = scenarios(tmp.path(), 2);
    let n = 8;
    let empty = (1..=n)
        .find(|&k| files.iter().all(|f| Shard::of_key(f, n) != k))
        .expect("2 files leave most of 8 shards empty");
    let shard = format!("{empty}/{n}");
    let (code, stdout, stderr) = drydock(
        tmp.path(),
        &["run", "--shard", &shard, "--format", "junit", "."],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("shard {shard} has none of the 2 scenario files")),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "<testsuite name=\"drydock shard {shard}\" id=\"{empty}\" tests=\"0\" failures=\"0\""
        )),
        "{stdout}"
    );
    let (code, stdout, _) = drydock(tmp.path(), &["run", "--shard", &shard, "."]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("shard {shard}: 0 of 2 scenario files")),
        "{stdout}"
    );

    // A shard with files names its suite too, and each of its cases.
    let full = Shard::of_key(&files[0], n);
    let (code, stdout, _) = drydock(
        tmp.path(),
        &[
            "run",
            "--shard",
            &format!("{full}/{n}"),
            "--format",
            "junit",
            ".",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(&format!("<testsuite name=\"drydock shard {full}/{n}\"")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("name=\"./{}\"", files[0])),
        "{stdout}"
    );
}

#[test]
fn bad_shards_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    for (shard, why) in [
        ("0/3", "shards count from 1"),
        ("4/3", "no shard 4 of 3"),
        ("1/0", "must be at least 1"),
        ("half", "is not K/N"),
    ] {
        let (code, _, stderr) = drydock(tmp.path(), &["run", "--shard", shard, "."]);
        assert_eq!(code, 2, "{shard}: {stderr}");
        assert!(stderr.contains(why), "{shard}: {stderr}");
        let (code, _, stderr) = drydock(
            tmp.path(),
            &[
                "fuzz", "--plugin", "p", "--kind", "volume", "--seed", "1", "--shard", shard,
            ],
        );
        assert_eq!(code, 2, "{shard}: {stderr}");
        assert!(stderr.contains(why), "{shard}: {stderr}");
    }
    // Without a common seed the shards would draw different cases.
    let (code, _, stderr) = drydock(
        tmp.path(),
        &[
            "fuzz", "--plugin", "p", "--kind", "volume", "--shard", "1/2",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--seed"), "{stderr}");
}

/// `drydock fuzz` of the reference volume plugin, 10 cases of seed 11, as JSON.
fn fuzz(dir: &Path, shard: Option<&str>) -> Value {
    let mut args = vec![
        "fuzz",
        "--plugin",
        "p",
        "--kind",
        "volume",
        "--cases",
        "10",
        "--seed",
        "11",
        "--sequential",
        "--format",
        "json",
    ];
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    let (code, stdout, stderr) = drydock(dir, &args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn fuzz_shards_run_the_cases_of_the_whole_run_once_each() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = fuzz(tmp.path(), None);
    assert_eq!(whole["cases"], 10);
    assert_eq!(whole["shard"], Value::Null);
    let shards: Vec<Value> = (1..=3)
        .map(|k| fuzz(tmp.path(), Some(&format!("{k}/3"))))
        .collect();
    // Case i is shard (i mod 3) + 1's: 0 3 6 9 | 1 4 7 | 2 5 8.
    assert_eq!(
        shards[0]["shard"]["line"],
        "shard 1/3: cases 0, 3, 6, 9 (case i with i mod 3 = 0; 4 of 10)"
    );
    assert_eq!(
        shards[1]["shard"]["line"],
        "shard 2/3: cases 1, 4, 7 (case i with i mod 3 = 1; 3 of 10)"
    );
    let count = |k: &str| {
        shards
            .iter()
            .map(|s| s[k].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(count("cases"), [4, 3, 3]);
    // The same cases, not just as many: their plugin calls and checks add
    // up to the whole run's.
    for k in ["calls", "checks"] {
        assert_eq!(
            count(k).iter().sum::<u64>(),
            whole[k].as_u64().unwrap(),
            "{k}"
        );
    }
}

#[test]
fn fuzz_shard_is_in_the_text_and_junit_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let base = [
        "fuzz", "--plugin", "p", "--kind", "volume", "--cases", "40", "--seed", "3", "--steps",
        "3", "--shard", "2/4",
    ];
    let (code, stdout, stderr) = drydock(tmp.path(), &base);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("shard 2/4: cases 1, 5, 9, …, 37 (case i with i mod 4 = 1; 10 of 40)"),
        "{stdout}"
    );
    let (code, stdout, _) = drydock(tmp.path(), &[&base[..], &["--format", "junit"]].concat());
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout
            .contains(r#"<testsuite name="drydock fuzz shard 2/4" id="2" tests="1" failures="0""#),
        "{stdout}"
    );
    assert!(
        stdout.contains("p invariants (seed 3, shard 2/4)"),
        "{stdout}"
    );
}
