//! Discovery forms and precedence (protocol.md §1).

use drydock_engine::plugins::discovery::{DiscoveryError, PluginRoots, SourceKind};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

struct Roots {
    _dir: tempfile::TempDir,
    roots: PluginRoots,
}

fn roots() -> Roots {
    let dir = tempfile::tempdir().unwrap();
    let roots = PluginRoots {
        sockets_dir: dir.path().join("run"),
        spec_dirs: vec![dir.path().join("etc"), dir.path().join("lib")],
    };
    for d in [&roots.sockets_dir, &roots.spec_dirs[0], &roots.spec_dirs[1]] {
        std::fs::create_dir_all(d).unwrap();
    }
    Roots { _dir: dir, roots }
}

fn socket(path: &Path) -> UnixListener {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    UnixListener::bind(path).unwrap()
}

fn write(path: PathBuf, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[test]
fn each_form_is_found_with_its_address() {
    let r = roots();
    let run = &r.roots.sockets_dir;
    let _a = socket(&run.join("a.sock"));
    let _b = socket(&run.join("b/b.sock"));
    write(
        r.roots.spec_dirs[0].join("c.spec"),
        "  tcp://127.0.0.1:9999\n",
    );
    write(r.roots.spec_dirs[1].join("d/d.spec"), "unix:///x/d.sock");
    write(
        r.roots.spec_dirs[0].join("e.json"),
        r#"{"Name": "ignored", "Addr": "https://127.0.0.1:1", "TLSConfig": {"InsecureSkipVerify": false, "CAFile": "/ca.pem"}}"#,
    );
    write(
        r.roots.spec_dirs[0].join("f/f.json"),
        r#"{"addr": "http://h:2"}"#,
    );

    let a = r.roots.find("a").unwrap();
    assert_eq!(
        (a.kind, a.addr.clone()),
        (
            SourceKind::Socket,
            format!("unix://{}", run.join("a.sock").display())
        )
    );
    assert!(a.tls.unwrap().insecure_skip_verify);
    assert_eq!(r.roots.find("b").unwrap().kind, SourceKind::SocketInDir);
    let c = r.roots.find("c").unwrap();
    assert_eq!(
        (c.kind, c.addr.as_str()),
        (SourceKind::Spec, "tcp://127.0.0.1:9999")
    );
    assert_eq!(r.roots.find("d").unwrap().addr, "unix:///x/d.sock");
    let e = r.roots.find("e").unwrap();
    assert_eq!(
        e.name, "e",
        "the name comes from the file, never from the JSON"
    );
    let tls = e.tls.unwrap();
    assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/ca.pem")));
    assert!(!tls.insecure_skip_verify);
    // Keys match case-insensitively; no TLSConfig means Go's default verification.
    let f = r.roots.find("f").unwrap();
    assert_eq!((f.addr.as_str(), f.tls), ("http://h:2", None));
}

#[test]
fn precedence_socket_then_subdir_then_spec_then_json_then_next_dir() {
    let r = roots();
    let run = &r.roots.sockets_dir;
    let (etc, lib) = (&r.roots.spec_dirs[0], &r.roots.spec_dirs[1]);
    write(lib.join("p.spec"), "tcp://lib:1");
    assert_eq!(r.roots.find("p").unwrap().addr, "tcp://lib:1");
    write(etc.join("p/p.json"), r#"{"Addr":"tcp://etc-dir-json:1"}"#);
    assert_eq!(
        r.roots.find("p").unwrap().addr,
        "tcp://etc-dir-json:1",
        "/etc beats /usr/lib"
    );
    write(etc.join("p.json"), r#"{"Addr":"tcp://etc-json:1"}"#);
    assert_eq!(r.roots.find("p").unwrap().addr, "tcp://etc-json:1");
    write(etc.join("p/p.spec"), "tcp://etc-dir-spec:1");
    assert_eq!(
        r.roots.find("p").unwrap().addr,
        "tcp://etc-dir-spec:1",
        ".spec beats .json"
    );
    write(etc.join("p.spec"), "tcp://etc-spec:1");
    assert_eq!(r.roots.find("p").unwrap().addr, "tcp://etc-spec:1");
    let _d = socket(&run.join("p/p.sock"));
    assert_eq!(
        r.roots.find("p").unwrap().kind,
        SourceKind::SocketInDir,
        "sockets beat specs"
    );
    let _s = socket(&run.join("p.sock"));
    assert_eq!(r.roots.find("p").unwrap().kind, SourceKind::Socket);
}

#[test]
fn a_regular_file_named_like_a_socket_is_skipped() {
    let r = roots();
    write(r.roots.sockets_dir.join("q.sock"), "not a socket");
    write(r.roots.spec_dirs[0].join("q.spec"), "tcp://x:1");
    assert_eq!(r.roots.find("q").unwrap().kind, SourceKind::Spec);
}

#[test]
fn errors_use_dockerd_texts_and_do_not_fall_through() {
    let r = roots();
    let etc = &r.roots.spec_dirs[0];
    assert_eq!(
        r.roots.find("nope").unwrap_err().to_string(),
        "could not find plugin nope in v1 plugin registry: plugin not found"
    );
    assert!(r.roots.find("nope").unwrap_err().is_not_found());
    assert_eq!(
        r.roots.find("").unwrap_err().to_string(),
        "Unable to find plugin without name"
    );
    // A spec without a scheme is an error, even if a later candidate is valid.
    write(etc.join("bar.spec"), "/just/a/path");
    write(etc.join("bar.json"), r#"{"Addr":"tcp://x:1"}"#);
    assert!(matches!(
        r.roots.find("bar"),
        Err(DiscoveryError::UnknownProtocol { .. })
    ));
    assert_eq!(
        r.roots.find("bar").unwrap_err().to_string(),
        "Unknown protocol"
    );
    write(etc.join("bad.json"), "{not json");
    let err = r.roots.find("bad").unwrap_err().to_string();
    assert!(
        err.contains("invalid JSON") && err.contains("bad.json"),
        "{err}"
    );
}

#[test]
fn scan_lists_like_dockerd() {
    let r = roots();
    let run = &r.roots.sockets_dir;
    let (etc, lib) = (&r.roots.spec_dirs[0], &r.roots.spec_dirs[1]);
    let _s1 = socket(&run.join("zeta.sock"));
    let _s2 = socket(&run.join("alpha.socket"));
    let _s3 = socket(&run.join("dir1/dir1.sock"));
    let _s4 = socket(&run.join("dir2/other.sock"));
    write(run.join("plain.sock"), "regular file");
    write(etc.join("s1.spec"), "tcp://x:1");
    write(etc.join("j1.json"), "{}");
    write(etc.join("readme.txt"), "");
    write(etc.join("sub/sub.spec"), "tcp://x:1");
    write(etc.join("odd/foo.spec"), "tcp://x:1");
    write(lib.join("zeta.spec"), "tcp://x:1");
    let names = r.roots.scan().unwrap();
    // Sockets (sorted, any extension stripped), then each spec dir sorted;
    // `dir2/other.sock` and `odd/foo.spec` are not plugins; duplicates stay.
    assert_eq!(names, ["alpha", "dir1", "zeta", "j1", "s1", "sub", "zeta"]);
}

#[test]
fn scan_of_missing_dirs_is_empty() {
    let roots = PluginRoots {
        sockets_dir: "/nonexistent/run".into(),
        spec_dirs: vec!["/nonexistent/etc".into()],
    };
    assert_eq!(roots.scan().unwrap(), Vec::<String>::new());
}
