//! Tests of the scenario language, data-driven through a few entry points:
//! [`check_err`] (a file must be refused with exactly this message),
//! [`check_cmd`] (a docker line must parse to this command), [`words_of`]
//! (the tokenizer), and [`run_check`] (expectations against observed calls).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::source::{words, Cursor, WordMode};
use super::*;

const PATH: &str = "t.scenario";

fn parse_ok(src: &str) -> Scenario {
    match parse(PATH, src.as_bytes()) {
        Ok(scenario) => scenario,
        Err(err) => panic!("expected {src:?} to parse, got: {err}"),
    }
}

/// The input must be refused with exactly `expected` (`t.scenario:L:C: …`).
#[track_caller]
fn check_err(src: impl AsRef<[u8]>, expected: &str) {
    match parse(PATH, src.as_ref()) {
        Ok(scenario) => panic!("expected error {expected:?}, parsed: {scenario:#?}"),
        Err(err) => assert_eq!(err.to_string(), expected),
    }
}

/// The one-line scenario `line` must parse to `expected`.
#[track_caller]
fn check_cmd(line: &str, expected: DockerCommand) {
    let scenario = parse_ok(line);
    let (_, action) = scenario.actions().next().expect("one action");
    assert_eq!(action.command, expected, "for {line:?}");
}

/// Shell words of `src` with their (line, column).
fn words_of(src: &str) -> Result<Vec<(String, u32, u32)>, String> {
    let mut cur = Cursor::new(src, Pos { line: 1, column: 1 });
    words(&mut cur, WordMode::Shell)
        .map(|(ws, _)| {
            ws.into_iter()
                .map(|w| (w.text, w.pos.line, w.pos.column))
                .collect()
        })
        .map_err(|d| format!("{}: {}", d.pos, d.message))
}

fn w(text: &str, line: u32, column: u32) -> (String, u32, u32) {
    (text.to_string(), line, column)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn call(plugin: &str, method: &str, request: Value, response: Value) -> ObservedCall {
    ObservedCall {
        plugin: plugin.to_string(),
        method: method.to_string(),
        request,
        response: Some(response),
        status: Some(200),
        attempts: 1,
        empty_body_retry: false,
        engine_time: std::time::Duration::ZERO,
    }
}

/// Parses `src` (one action with expectations) and checks them against the
/// outcome and calls; returns the mismatch text as `line N: message`.
fn run_check(
    src: &str,
    outcome: &Outcome,
    calls: &[ObservedCall],
    vars: &mut Vars,
) -> Result<(), String> {
    let scenario = parse_ok(src);
    for step in &scenario.steps {
        step.check(outcome, calls, vars)
            .map_err(|m| format!("line {}: {}", m.line, m.message))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- tokenizer

#[test]
fn tokenizer_splits_words_with_positions() {
    assert_eq!(
        words_of("docker  volume\tcreate v1").unwrap(),
        vec![
            w("docker", 1, 1),
            w("volume", 1, 9),
            w("create", 1, 16),
            w("v1", 1, 23)
        ]
    );
}

#[test]
fn tokenizer_quoting_and_escapes() {
    let cases: &[(&str, &[&str])] = &[
        ("a 'b c' d", &["a", "b c", "d"]),
        ("a 'it''s'", &["a", "its"]),
        (r#"a "b \"c\" \\ \$ \x""#, &["a", r#"b "c" \ $ \x"#]),
        (r"a b\ c \'", &["a", "b c", "'"]),
        ("a '' \"\"", &["a", "", ""]),
        ("x'a'\"b\"c", &["xabc"]),
        ("a 'line\nbreak'", &["a", "line\nbreak"]),
        ("a \"d\\\nq\"", &["a", "dq"]),
        ("a 'sq\\\nkept'", &["a", "sq\\\nkept"]),
        ("a b\\\n  c", &["a", "b", "c"]),
        ("a b\\\nc", &["a", "bc"]),
        ("a x#y # comment", &["a", "x#y"]),
        ("a 'é ü' ∂", &["a", "é ü", "∂"]),
        ("a '{{.Name}}' a~ '~x'", &["a", "{{.Name}}", "a~", "~x"]),
    ];
    for (src, expected) in cases {
        let got: Vec<String> = words_of(src)
            .unwrap_or_else(|e| panic!("{src:?}: {e}"))
            .into_iter()
            .map(|(t, _, _)| t)
            .collect();
        assert_eq!(got, strings(expected), "for {src:?}");
    }
}

#[test]
fn tokenizer_positions_across_continuations_and_unicode() {
    assert_eq!(
        words_of("docker run \\\n  --name 'é' \\\n  img").unwrap(),
        vec![
            w("docker", 1, 1),
            w("run", 1, 8),
            w("--name", 2, 3),
            w("é", 2, 10),
            w("img", 3, 3)
        ]
    );
    assert_eq!(words_of("é∂ x").unwrap(), vec![w("é∂", 1, 1), w("x", 1, 4)]);
}

#[test]
fn tokenizer_refuses_what_sh_would_interpret() {
    let cases = [
        ("a 'open", "1:3: unterminated single-quoted string (the quote opened here is never closed)"),
        ("a \"open\nmore", "1:3: unterminated double-quoted string (the quote opened here is never closed)"),
        ("a \\", "1:3: a backslash at the end of the file escapes nothing"),
        ("a b|c", "1:4: unquoted `|` is shell syntax; a scenario action is a single docker command (quote the argument if `|` is part of it)"),
        ("a > f", "1:3: unquoted `>` is shell syntax; a scenario action is a single docker command (quote the argument if `>` is part of it)"),
        ("a; b", "1:2: unquoted `;` is shell syntax; a scenario action is a single docker command (quote the argument if `;` is part of it)"),
        ("a $HOME", "1:3: unquoted `$` would be expanded by sh; quote the argument with single quotes"),
        ("a \"x$y\"", "1:5: `$` inside double quotes would be expanded by sh; use single quotes or write `\\$`"),
        ("a \"`x`\"", "1:4: `` ` `` inside double quotes would be expanded by sh; use single quotes or write `` \\` ``"),
        ("a `x`", "1:3: unquoted `` ` `` is shell syntax; a scenario action is a single docker command (quote the argument if `` ` `` is part of it)"),
        ("a *.txt", "1:3: unquoted `*` is a shell glob; quote the argument"),
        ("a ~/x", "1:3: unquoted `~` at the start of a word is expanded by sh; quote the argument"),
    ];
    for (src, expected) in cases {
        assert_eq!(words_of(src), Err(expected.to_string()), "for {src:?}");
    }
}

// ------------------------------------------------------- commands and flags

#[test]
fn volume_commands() {
    check_cmd(
        "docker volume create -d gvol -o size=1G --opt=mode=fast -o flag --label a=b v1",
        DockerCommand::Volume(VolumeCommand::Create {
            name: Some("v1".into()),
            driver: Some("gvol".into()),
            opts: map(&[("size", "1G"), ("mode", "fast"), ("flag", "")]),
            labels: map(&[("a", "b")]),
        }),
    );
    check_cmd(
        "docker volume create --driver=gvol",
        DockerCommand::Volume(VolumeCommand::Create {
            name: None,
            driver: Some("gvol".into()),
            opts: map(&[]),
            labels: map(&[]),
        }),
    );
    check_cmd(
        "docker volume create -dgvol -o=a=b v1",
        DockerCommand::Volume(VolumeCommand::Create {
            name: Some("v1".into()),
            driver: Some("gvol".into()),
            opts: map(&[("a", "b")]),
            labels: map(&[]),
        }),
    );
    check_cmd(
        "docker volume ls -q -f driver=gvol --filter name=v --filter=name=w",
        DockerCommand::Volume(VolumeCommand::Ls {
            quiet: true,
            filters: vec![kv("driver", "gvol"), kv("name", "v"), kv("name", "w")],
        }),
    );
    check_cmd(
        "docker volume list -qf driver=gvol",
        DockerCommand::Volume(VolumeCommand::Ls {
            quiet: true,
            filters: vec![kv("driver", "gvol")],
        }),
    );
    check_cmd(
        "docker volume inspect -f '{{.Scope}}' v1 v2",
        DockerCommand::Volume(VolumeCommand::Inspect {
            format: Some("{{.Scope}}".into()),
            names: strings(&["v1", "v2"]),
        }),
    );
    check_cmd(
        "docker volume rm v1 -f v2",
        DockerCommand::Volume(VolumeCommand::Rm {
            force: true,
            names: strings(&["v1", "v2"]),
        }),
    );
    check_cmd(
        "docker volume rm -- -odd",
        DockerCommand::Volume(VolumeCommand::Rm {
            force: false,
            names: strings(&["-odd"]),
        }),
    );
    check_cmd(
        "docker volume prune --force --filter label=x=y",
        DockerCommand::Volume(VolumeCommand::Prune {
            all: false,
            filters: vec![kv("label", "x=y")],
        }),
    );
    check_cmd(
        "docker volume prune -af",
        DockerCommand::Volume(VolumeCommand::Prune {
            all: true,
            filters: vec![],
        }),
    );
}

#[test]
fn container_commands() {
    check_cmd(
        "docker run --rm -v v1:/data bb:latest sh -c 'echo hi > /data/f'",
        DockerCommand::Run {
            spec: ContainerSpec {
                volumes: vec![VolumeMount {
                    source: VolumeSource::Named("v1".into()),
                    target: "/data".into(),
                    read_only: false,
                }],
                rm: true,
                image: "bb:latest".into(),
                command: strings(&["sh", "-c", "echo hi > /data/f"]),
                ..ContainerSpec::default()
            },
            detach: false,
        },
    );
    check_cmd(
        "docker run -d --name=c1 --volume v1:/a:ro -v /anon -v /anon2:rw --volume-driver gvol \
         --volumes-from c0:ro --volumes-from c9 --net n1 --ip 10.0.0.7 img -d --rm",
        DockerCommand::Run {
            spec: ContainerSpec {
                name: Some("c1".into()),
                volumes: vec![
                    VolumeMount {
                        source: VolumeSource::Named("v1".into()),
                        target: "/a".into(),
                        read_only: true,
                    },
                    VolumeMount {
                        source: VolumeSource::Anonymous,
                        target: "/anon".into(),
                        read_only: false,
                    },
                    VolumeMount {
                        source: VolumeSource::Anonymous,
                        target: "/anon2".into(),
                        read_only: false,
                    },
                ],
                volume_driver: Some("gvol".into()),
                volumes_from: vec![
                    VolumesFrom {
                        container: "c0".into(),
                        read_only: Some(true),
                    },
                    VolumesFrom {
                        container: "c9".into(),
                        read_only: None,
                    },
                ],
                network: Some("n1".into()),
                ip: Some("10.0.0.7".into()),
                rm: false,
                restart: None,
                workdir: None,
                image: "img".into(),
                command: strings(&["-d", "--rm"]),
            },
            detach: true,
        },
    );
    check_cmd(
        "docker create --rm=false --network=n2 -- img",
        DockerCommand::Create(ContainerSpec {
            network: Some("n2".into()),
            image: "img".into(),
            ..ContainerSpec::default()
        }),
    );
    check_cmd(
        "docker run -d --name c --restart always -w /d -v v:/d img sleep 30",
        DockerCommand::Run {
            spec: ContainerSpec {
                name: Some("c".into()),
                volumes: vec![VolumeMount {
                    source: VolumeSource::Named("v".into()),
                    target: "/d".into(),
                    read_only: false,
                }],
                restart: Some(RestartPolicy::Always),
                workdir: Some("/d".into()),
                image: "img".into(),
                command: strings(&["sleep", "30"]),
                ..ContainerSpec::default()
            },
            detach: true,
        },
    );
    for (flag, policy) in [
        ("no", RestartPolicy::No),
        ("unless-stopped", RestartPolicy::UnlessStopped),
        ("on-failure", RestartPolicy::OnFailure { max_retries: None }),
        (
            "on-failure:3",
            RestartPolicy::OnFailure {
                max_retries: Some(3),
            },
        ),
    ] {
        check_cmd(
            &format!("docker create --restart={flag} img"),
            DockerCommand::Create(ContainerSpec {
                restart: Some(policy),
                image: "img".into(),
                ..ContainerSpec::default()
            }),
        );
    }
    check_cmd(
        "docker container create --name c1 img",
        DockerCommand::Create(ContainerSpec {
            name: Some("c1".into()),
            image: "img".into(),
            ..ContainerSpec::default()
        }),
    );
    let containers = strings(&["c1", "c2"]);
    check_cmd(
        "docker start c1 c2",
        DockerCommand::Start {
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker stop -t 3 c1 c2",
        DockerCommand::Stop {
            time: Some(3),
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker restart --time=0 c1 c2",
        DockerCommand::Restart {
            time: Some(0),
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker kill c1 c2",
        DockerCommand::Kill {
            signal: None,
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker kill -s HUP c1 c2",
        DockerCommand::Kill {
            signal: Some("HUP".into()),
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker container pause c1 c2",
        DockerCommand::Pause {
            pause: true,
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker unpause c1 c2",
        DockerCommand::Pause {
            pause: false,
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker rename c1 c2",
        DockerCommand::Rename {
            container: "c1".into(),
            name: "c2".into(),
        },
    );
    check_cmd(
        "docker wait c1 c2",
        DockerCommand::Wait {
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker rm -fv c1 c2",
        DockerCommand::Rm {
            force: true,
            volumes: true,
            containers: containers.clone(),
        },
    );
    check_cmd(
        "docker container rm --volumes c1 c2",
        DockerCommand::Rm {
            force: false,
            volumes: true,
            containers,
        },
    );
    check_cmd(
        "docker cp ./f c1:/data/f",
        DockerCommand::Cp(CpCommand {
            direction: CpDirection::ToContainer,
            container: "c1".into(),
            container_path: "/data/f".into(),
            host_path: "./f".into(),
        }),
    );
    check_cmd(
        "docker cp c1:/data/f /tmp/out",
        DockerCommand::Cp(CpCommand {
            direction: CpDirection::FromContainer,
            container: "c1".into(),
            container_path: "/data/f".into(),
            host_path: "/tmp/out".into(),
        }),
    );
    check_cmd(
        "docker ps -aq",
        DockerCommand::Ps {
            all: true,
            quiet: true,
        },
    );
    check_cmd(
        "docker container ls --all",
        DockerCommand::Ps {
            all: true,
            quiet: false,
        },
    );
    check_cmd("docker version", DockerCommand::Version { format: None });
    check_cmd(
        "docker version --format '{{.Server.Version}}'",
        DockerCommand::Version {
            format: Some("{{.Server.Version}}".into()),
        },
    );
}

#[test]
fn network_commands() {
    check_cmd(
        "docker network create -d bridge --ipam-driver gipam --ipam-opt a=1 --subnet 10.1.0.0/16 \
         --subnet=10.2.0.0/16 --gateway 10.1.0.254 --ip-range 10.1.1.0/24 --aux-address r=10.1.0.2 \
         --ipv6 -o com.x=y n1",
        DockerCommand::Network(NetworkCommand::Create(NetworkCreate {
            name: "n1".into(),
            driver: Some("bridge".into()),
            ipam_driver: Some("gipam".into()),
            ipam_opts: map(&[("a", "1")]),
            subnets: strings(&["10.1.0.0/16", "10.2.0.0/16"]),
            gateways: strings(&["10.1.0.254"]),
            ip_ranges: strings(&["10.1.1.0/24"]),
            aux_addresses: map(&[("r", "10.1.0.2")]),
            ipv6: true,
            opts: map(&[("com.x", "y")]),
        })),
    );
    check_cmd(
        "docker network rm n1 n2",
        DockerCommand::Network(NetworkCommand::Rm {
            names: strings(&["n1", "n2"]),
        }),
    );
    check_cmd(
        "docker network ls -q",
        DockerCommand::Network(NetworkCommand::Ls {
            quiet: true,
            filters: vec![],
        }),
    );
    check_cmd(
        "docker network inspect --format='{{.IPAM}}' n1",
        DockerCommand::Network(NetworkCommand::Inspect {
            format: Some("{{.IPAM}}".into()),
            names: strings(&["n1"]),
        }),
    );
    check_cmd(
        "docker network connect --ip 10.1.0.9 n1 c1",
        DockerCommand::Network(NetworkCommand::Connect {
            ip: Some("10.1.0.9".into()),
            network: "n1".into(),
            container: "c1".into(),
        }),
    );
    check_cmd(
        "docker network disconnect -f n1 c1",
        DockerCommand::Network(NetworkCommand::Disconnect {
            force: true,
            network: "n1".into(),
            container: "c1".into(),
        }),
    );
}

#[test]
fn action_keeps_text_argv_and_index() {
    let scenario = parse_ok(
        "# Two steps.\n\ndocker volume create \\\n  -d gvol v1   # trailing comment\n#@ restart-daemon\ndocker volume ls\n",
    );
    assert_eq!(scenario.description, "Two steps.");
    let actions: Vec<(u32, &str, usize, Vec<String>)> = scenario
        .actions()
        .map(|(step, action)| {
            (
                step.line,
                step.text.as_str(),
                action.index,
                action.argv.clone(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            (
                3,
                "docker volume create \\\n  -d gvol v1",
                1,
                strings(&["docker", "volume", "create", "-d", "gvol", "v1"])
            ),
            (
                6,
                "docker volume ls",
                2,
                strings(&["docker", "volume", "ls"])
            ),
        ]
    );
    assert_eq!(
        scenario.steps[1].kind,
        StepKind::Directive(Directive::RestartDaemon)
    );
    assert_eq!(scenario.steps[1].text, "#@ restart-daemon");
}

#[test]
fn command_errors_name_line_column_and_what_is_supported() {
    let cases = [
        ("docker run --privileged img", "t.scenario:1:12: unknown flag `--privileged` for `docker run` (supported: --name, -v/--volume, --volume-driver, --volumes-from, --network, --ip, --rm, --restart, -w/--workdir, -d/--detach)"),
        ("\n  docker ps -ax", "t.scenario:2:15: unknown flag `-x` in `-ax` for `docker ps` (supported: -a/--all, -q/--quiet)"),
        ("docker start -a c1", "t.scenario:1:14: unknown flag `-a` for `docker start` (it takes no flags)"),
        ("docker run --name", "t.scenario:1:12: flag --name of `docker run` needs a value"),
        ("docker volume create -d", "t.scenario:1:22: flag -d/--driver of `docker volume create` needs a value"),
        ("docker run --rm=maybe img", "t.scenario:1:17: invalid value `maybe` for --rm of `docker run`: it is a switch (true or false)"),
        ("docker", "t.scenario:1:1: `docker` needs a command (supported: create, run, start, stop, kill, restart, wait, rm, cp, ps, pause, unpause, rename, version, volume, network, container)"),
        ("docker pull img", "t.scenario:1:8: unknown command `docker pull` (supported: create, run, start, stop, kill, restart, wait, rm, cp, ps, pause, unpause, rename, version, volume, network, container)"),
        ("docker -H x ps", "t.scenario:1:8: docker option `-H` is not supported; write `docker COMMAND …` (the engine is the only daemon)"),
        ("docker volume", "t.scenario:1:8: `docker volume` needs a subcommand (supported: create, ls, inspect, rm, prune)"),
        ("docker volume mount v", "t.scenario:1:15: unknown command `docker volume mount` (supported: create, ls, inspect, rm, prune)"),
        ("docker network attach n c", "t.scenario:1:16: unknown command `docker network attach` (supported: create, rm, ls, inspect, connect, disconnect)"),
        ("docker container top c", "t.scenario:1:18: unknown command `docker container top` (supported: create, run, start, stop, kill, restart, wait, rm, cp, pause, unpause, rename, ls, ps)"),
        ("docker run", "t.scenario:1:8: `docker run` needs an IMAGE (and optionally a COMMAND)"),
        ("docker run -d", "t.scenario:1:8: `docker run` needs an IMAGE (and optionally a COMMAND)"),
        ("docker create -d img", "t.scenario:1:15: unknown flag `-d` for `docker create` (supported: --name, -v/--volume, --volume-driver, --volumes-from, --network, --ip, --rm, --restart, -w/--workdir)"),
        ("docker start", "t.scenario:1:8: `docker start` needs at least one CONTAINER"),
        ("docker volume rm", "t.scenario:1:15: `docker volume rm` needs at least one VOLUME"),
        ("docker volume create a b", "t.scenario:1:24: `docker volume create` takes at most one NAME, got another: `b`"),
        ("docker volume ls x", "t.scenario:1:18: `docker volume ls` takes no arguments, got `x`"),
        ("docker volume ls -f driver", "t.scenario:1:21: invalid --filter `driver`: expected KEY=VALUE"),
        ("docker volume ls --filter=driver", "t.scenario:1:27: invalid --filter `driver`: expected KEY=VALUE"),
        ("docker volume ls -qfdriver", "t.scenario:1:21: invalid --filter `driver`: expected KEY=VALUE"),
        ("docker volume ls -f=driver", "t.scenario:1:21: invalid --filter `driver`: expected KEY=VALUE"),
        ("docker volume prune", "t.scenario:1:15: `docker volume prune` asks for confirmation; add -f/--force so the scenario replays unattended"),
        ("docker stop -t soon c", "t.scenario:1:16: invalid value `soon` for -t/--time: expected a whole number of seconds"),
        ("docker run --restart sometimes img", "t.scenario:1:22: invalid --restart `sometimes` (supported: no, always, unless-stopped, on-failure[:N])"),
        ("docker run --restart on-failure:x img", "t.scenario:1:22: invalid --restart `on-failure:x` (supported: no, always, unless-stopped, on-failure[:N])"),
        ("docker run --rm --restart=always img", "t.scenario:1:27: conflicting options: --restart and --rm (docker refuses a restart policy on a container it removes)"),
        ("docker run -v v1 img", "t.scenario:1:15: invalid -v/--volume `v1`: the container path must be absolute (expected NAME:/PATH[:ro|:rw] or /PATH)"),
        ("docker run -v v1:/a:z img", "t.scenario:1:15: invalid -v/--volume `v1:/a:z`: unsupported mode `z` (expected NAME:/PATH[:ro|:rw] or /PATH)"),
        ("docker run -v /host:/a img", "t.scenario:1:15: invalid -v/--volume `/host:/a`: bind mounts are not supported; the engine simulates volumes only (expected NAME:/PATH[:ro|:rw] or /PATH)"),
        ("docker run -v :/a img", "t.scenario:1:15: invalid -v/--volume `:/a`: empty volume name (expected NAME:/PATH[:ro|:rw] or /PATH)"),
        ("docker run -v a:/b:ro:x img", "t.scenario:1:15: invalid -v/--volume `a:/b:ro:x`: too many `:` (expected NAME:/PATH[:ro|:rw] or /PATH)"),
        ("docker run --volumes-from c:z img", "t.scenario:1:27: invalid --volumes-from `c:z`: unsupported mode `z` (expected CONTAINER[:ro|:rw])"),
        ("docker cp a b", "t.scenario:1:11: `docker cp` needs one side written CONTAINER:PATH"),
        ("docker cp c1:/a c2:/b", "t.scenario:1:11: `docker cp` copies between a container and the host; both sides name a container"),
        ("docker cp - c1:/a", "t.scenario:1:11: `docker cp` cannot copy from stdin or to stdout (`-`)"),
        ("docker cp c1:/a", "t.scenario:1:8: `docker cp` needs SRC DST"),
        ("docker cp c1: /x", "t.scenario:1:11: invalid `c1:`: expected CONTAINER:PATH"),
        ("docker network connect n", "t.scenario:1:16: `docker network connect` needs NETWORK CONTAINER"),
        ("docker network connect n c x", "t.scenario:1:28: `docker network connect` takes NETWORK CONTAINER; unexpected extra argument `x`"),
        ("docker network create --aux-address r n", "t.scenario:1:37: invalid --aux-address `r`: expected NAME=IP"),
        ("docker ps #> ok", "t.scenario:1:11: `#>` and `#@` lines must stand on their own line (sh reads this as a comment)"),
        ("sudo docker ps", "t.scenario:1:1: expected a `docker …` command, a `# comment`, a `#@` directive or a `#>` expectation"),
        ("dockerd -D", "t.scenario:1:1: expected a `docker …` command, a `# comment`, a `#@` directive or a `#>` expectation"),
        ("docker volume create 'v1", "t.scenario:1:22: unterminated single-quoted string (the quote opened here is never closed)"),
        ("docker run img sh -c \"echo $HOME\"", "t.scenario:1:28: `$` inside double quotes would be expanded by sh; use single quotes or write `\\$`"),
    ];
    for (src, expected) in cases {
        check_err(src, expected);
    }
}

#[test]
fn unknown_flag_message_lists_every_supported_flag() {
    let err = parse(PATH, b"docker network create --internal n1\n").unwrap_err();
    insta::assert_snapshot!(err.to_string());
}

// ---------------------------------------------------------------- directives

#[test]
fn check_directive() {
    let scenario = parse_ok(
        "#@ check gvol\n\
         #@ check gvol volume.mounted-iff-held engine.unmount-was-mounted\n",
    );
    let kinds: Vec<&StepKind> = scenario.steps.iter().map(|s| &s.kind).collect();
    let check = |invariants: &[&str]| {
        StepKind::Directive(Directive::Check(CheckDirective {
            plugin: "gvol".into(),
            invariants: strings(invariants),
        }))
    };
    assert_eq!(
        kinds,
        [
            &check(&[]),
            &check(&["volume.mounted-iff-held", "engine.unmount-was-mounted"])
        ]
    );
    let at_once = parse_ok("#@ at-once 3\n");
    assert_eq!(
        at_once.steps[0].kind,
        StepKind::Directive(Directive::AtOnce(3))
    );
}

#[test]
fn directives() {
    let scenario = parse_ok(
        "#@ plugin gvol volume root=/tmp/x 'label=a b'\n\
         #@ plugin third exec -- /usr/bin/plug --sock {socket} --state={state_dir} '{name}'\n\
         #@ authorization-plugin gauthz second\n\
         #@ authorization-plugin\n\
         #@ restart-plugin gvol\n\
         #@ user alice\n\
         #@ user 'CN with spaces'\n\
         #@ user none\n\
         #@ replay skip: restarts a plugin, which a replay cannot do\n\
         #@ restart-daemon\n",
    );
    let kinds: Vec<&StepKind> = scenario.steps.iter().map(|s| &s.kind).collect();
    let d = |d: Directive| StepKind::Directive(d);
    assert_eq!(
        kinds,
        vec![
            &d(Directive::Plugin(PluginDirective {
                name: "gvol".into(),
                launch: PluginLaunch::Builtin {
                    kind: "volume".into(),
                    settings: vec![kv("root", "/tmp/x"), kv("label", "a b")],
                },
            })),
            &d(Directive::Plugin(PluginDirective {
                name: "third".into(),
                launch: PluginLaunch::Exec {
                    argv: strings(&[
                        "/usr/bin/plug",
                        "--sock",
                        "{socket}",
                        "--state={state_dir}",
                        "{name}"
                    ]),
                },
            })),
            &d(Directive::AuthorizationPlugins(strings(&[
                "gauthz", "second"
            ]))),
            &d(Directive::AuthorizationPlugins(vec![])),
            &d(Directive::RestartPlugin("gvol".into())),
            &d(Directive::User(Some("alice".into()))),
            &d(Directive::User(Some("CN with spaces".into()))),
            &d(Directive::User(None)),
            &d(Directive::RestartDaemon),
        ]
    );
    assert_eq!(
        scenario.replay,
        Replay::Skip {
            reason: "restarts a plugin, which a replay cannot do".into(),
            line: 9
        }
    );
    assert_eq!(parse_ok("docker ps").replay, Replay::Replayable);
}

#[test]
fn directive_errors() {
    let cases = [
        ("#@", "t.scenario:1:3: empty `#@` directive (supported: plugin, authorization-plugin, restart-daemon, restart-plugin, user, check, at-once, fault, sleep, replay)"),
        ("#@ faults gvol Mount", "t.scenario:1:4: unknown directive `#@ faults` (supported: plugin, authorization-plugin, restart-daemon, restart-plugin, user, check, at-once, fault, sleep, replay)"),
        ("#@ plugin gvol", "t.scenario:1:11: `#@ plugin` needs a NAME and a KIND (usage: #@ plugin NAME KIND [key=value…] | #@ plugin NAME exec -- COMMAND [ARG…])"),
        ("#@ plugin g/vol volume", "t.scenario:1:11: invalid plugin name `g/vol`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
        ("#@ plugin gvol Volume", "t.scenario:1:16: invalid plugin KIND `Volume`: expected an identifier such as volume, authz or ipam, or `exec` (usage: #@ plugin NAME KIND [key=value…] | #@ plugin NAME exec -- COMMAND [ARG…])"),
        ("#@ plugin gvol volume root", "t.scenario:1:23: plugin setting `root` is not key=value (usage: #@ plugin NAME KIND [key=value…] | #@ plugin NAME exec -- COMMAND [ARG…])"),
        ("#@ plugin p exec /bin/p", "t.scenario:1:18: write `exec -- COMMAND …` (usage: #@ plugin NAME KIND [key=value…] | #@ plugin NAME exec -- COMMAND [ARG…])"),
        ("#@ plugin p exec --", "t.scenario:1:18: `exec --` needs a COMMAND (usage: #@ plugin NAME KIND [key=value…] | #@ plugin NAME exec -- COMMAND [ARG…])"),
        ("#@ plugin p exec -- /bin/p {sock}", "t.scenario:1:28: unknown placeholder `{sock}` (supported: {socket}, {state_dir}, {spec_dir}, {name})"),
        ("#@ plugin p volume\n#@ plugin p ipam", "t.scenario:2:1: plugin `p` is already started at line 1"),
        ("#@ restart-plugin gvol", "t.scenario:1:1: `#@ restart-plugin gvol`: no `#@ plugin gvol …` above starts it"),
        ("#@ restart-plugin", "t.scenario:1:4: `#@ restart-plugin` needs a NAME (usage: #@ restart-plugin NAME)"),
        ("#@ restart-daemon now", "t.scenario:1:19: `#@ restart-daemon` takes no arguments (usage: #@ restart-daemon)"),
        ("#@ user a b", "t.scenario:1:11: `#@ user` takes one CN (quote a CN that has spaces) (usage: #@ user CN | #@ user none)"),
        ("#@ user", "t.scenario:1:4: `#@ user` needs a CN or `none` (usage: #@ user CN | #@ user none)"),
        ("#@ user 'bob", "t.scenario:1:9: unterminated single-quoted string (the quote opened here is never closed)"),
        ("#@ user bob\\", "t.scenario:1:12: a backslash at the end of a `#@` line escapes nothing (directives are one line)"),
        ("#@ at-once", "t.scenario:1:4: `#@ at-once` needs how many commands (usage: #@ at-once N)"),
        ("#@ at-once 1", "t.scenario:1:12: N must be a number from 2 to 16, not `1` (usage: #@ at-once N)"),
        ("#@ at-once 2 3", "t.scenario:1:14: `#@ at-once` takes one number (usage: #@ at-once N)"),
        ("#@ check", "t.scenario:1:4: `#@ check` needs a PLUGIN (usage: #@ check PLUGIN [INVARIANT…])"),
        ("#@ check p/q", "t.scenario:1:10: invalid plugin name `p/q`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
        ("#@ check p Volume.Mount", "t.scenario:1:12: `Volume.Mount` is not an invariant name such as volume.mounted-iff-held (usage: #@ check PLUGIN [INVARIANT…])"),
        ("#@ replay", "t.scenario:1:10: expected `skip:` and a reason (usage: #@ replay skip: REASON)"),
        ("#@ replay skip:   ", "t.scenario:1:16: say why the file cannot be replayed (usage: #@ replay skip: REASON)"),
        ("#@ replay skip: a\n#@ replay skip: b", "t.scenario:2:1: a second `#@ replay` directive (the first is at line 1)"),
    ];
    for (src, expected) in cases {
        check_err(src, expected);
    }
}

// -------------------------------------------------------------- expectations

#[test]
fn expectations_parse_into_kinds() {
    let scenario = parse_ok(
        "docker volume rm v1\n\
         #> error \"remove v1: volume is in use - [$c1]\"\n\
         #> output ~ \"a\\\"b\\\\c\\$d\\n\\u00e9\"\n\
         #> calls unordered:\n\
         #>   gvol VolumeDriver.Get {\"Name\": \"v1\"} -> {\"Err\": _}\n\
         #>   gvol VolumeDriver.Remove -> {}\n\
         #>\tgvol Plugin.Activate\n\
         #> count gvol VolumeDriver.Get 2\n\
         #> no calls\n\
         #>calls include :\n\
         #>  p X.Y [1, -2.5e3, true, false, null, $v, _, {}, []]\n\
         docker ps\n\
         #> ok\n\
         #> output $out\n",
    );
    let kinds: Vec<&ExpectKind> = scenario.steps[0]
        .expectations
        .iter()
        .map(|e| &e.kind)
        .collect();
    let lit = |s: &str| TextPart::Literal(s.to_string());
    assert_eq!(
        kinds,
        vec![
            &ExpectKind::Error(TextPattern {
                mode: TextMode::Exact,
                parts: vec![
                    lit("remove v1: volume is in use - ["),
                    TextPart::Var("c1".into()),
                    lit("]")
                ],
            }),
            &ExpectKind::Output(TextPattern {
                mode: TextMode::Contains,
                parts: vec![lit("a\"b\\c$d\né")],
            }),
            &ExpectKind::Calls {
                mode: CallsMode::Unordered,
                calls: vec![
                    CallPattern {
                        line: 5,
                        plugin: "gvol".into(),
                        method: "VolumeDriver.Get".into(),
                        request: Some(Pattern::Object(vec![(
                            "Name".into(),
                            Pattern::String("v1".into())
                        )])),
                        response: Some(Pattern::Object(vec![("Err".into(), Pattern::Any)])),
                    },
                    CallPattern {
                        line: 6,
                        plugin: "gvol".into(),
                        method: "VolumeDriver.Remove".into(),
                        request: None,
                        response: Some(Pattern::Object(vec![])),
                    },
                    CallPattern {
                        line: 7,
                        plugin: "gvol".into(),
                        method: "Plugin.Activate".into(),
                        request: None,
                        response: None,
                    },
                ],
            },
            &ExpectKind::Count {
                plugin: "gvol".into(),
                method: "VolumeDriver.Get".into(),
                count: 2
            },
            &ExpectKind::NoCalls,
            &ExpectKind::Calls {
                mode: CallsMode::Include,
                calls: vec![CallPattern {
                    line: 11,
                    plugin: "p".into(),
                    method: "X.Y".into(),
                    request: Some(Pattern::Array(vec![
                        Pattern::Number(1.into()),
                        Pattern::Number(serde_json::Number::from_f64(-2500.0).unwrap()),
                        Pattern::Bool(true),
                        Pattern::Bool(false),
                        Pattern::Null,
                        Pattern::Var("v".into()),
                        Pattern::Any,
                        Pattern::Object(vec![]),
                        Pattern::Array(vec![]),
                    ])),
                    response: None,
                }],
            },
        ]
    );
    assert_eq!(scenario.steps[0].expectations[0].line, 2);
    assert_eq!(
        scenario.steps[1]
            .expectations
            .iter()
            .map(|e| &e.kind)
            .collect::<Vec<_>>(),
        vec![
            &ExpectKind::Ok,
            &ExpectKind::Output(TextPattern {
                mode: TextMode::Exact,
                parts: vec![TextPart::Var("out".into())]
            })
        ]
    );
}

#[test]
fn expectations_may_follow_restart_directives() {
    let scenario = parse_ok(
        "#@ plugin gvol volume\n#@ restart-plugin gvol\n#> no calls\n#@ restart-daemon\n#> calls:\n#>   gvol VolumeDriver.Get\n",
    );
    assert_eq!(scenario.steps[1].expectations.len(), 1);
    assert_eq!(scenario.steps[2].expectations.len(), 1);
}

#[test]
fn expectation_errors() {
    let cases = [
        ("#> ok", "t.scenario:1:1: expectation before any action: a `#>` line checks the `docker` command above it"),
        ("# about\n\n  #> calls:\n#>   a B.C", "t.scenario:3:3: expectation before any action: a `#>` line checks the `docker` command above it"),
        ("#@ user bob\n#> ok", "t.scenario:2:1: a `#>` line checks the `docker` command (or `#@ restart-daemon`/`#@ restart-plugin`) above it, but this one follows `#@ user bob` (line 1)"),
        ("docker ps\n#> calls:\ndocker ps", "t.scenario:2:1: unterminated expectation: a `#> calls…:` header needs at least one indented `#>   PLUGIN METHOD …` line after it (use `#> no calls` for none)"),
        ("docker ps\n#> calls unordered:", "t.scenario:2:1: unterminated expectation: a `#> calls…:` header needs at least one indented `#>   PLUGIN METHOD …` line after it (use `#> no calls` for none)"),
        ("docker ps\n#> calls:\n#> ok", "t.scenario:2:1: unterminated expectation: a `#> calls…:` header needs at least one indented `#>   PLUGIN METHOD …` line after it (use `#> no calls` for none)"),
        ("docker ps\n#>   gvol X.Y", "t.scenario:2:1: an indented `#>` call line outside a `#> calls:` block"),
        ("docker ps\n#> calls:\n#>   a X.Y\n# note\n#>   a X.Z", "t.scenario:5:1: an indented `#>` call line outside a `#> calls:` block"),
        ("docker ps\n#> calls", "t.scenario:2:9: expected `:` ending the calls header; the calls follow on indented `#>   PLUGIN METHOD …` lines"),
        ("docker ps\n#> calls sorted:", "t.scenario:2:10: unknown calls mode `sorted` (supported: `calls:`, `calls unordered:`, `calls include:`)"),
        ("docker ps\n#> succeeds", "t.scenario:2:4: unknown expectation `succeeds` (supported: ok, error, output, calls:, calls unordered:, calls include:, no calls, count, attempts)"),
        ("docker ps\n#>", "t.scenario:2:3: empty `#>` expectation (supported: ok, error, output, calls:, calls unordered:, calls include:, no calls, count, attempts)"),
        ("docker ps\n#> ok please", "t.scenario:2:7: unexpected `please` at the end of the expectation"),
        ("docker ps\n#> ok\n#> error \"x\"", "t.scenario:3:1: conflicting expectations: line 2 already expects success"),
        ("docker ps\n#> error ~ \"x\"\n#> ok", "t.scenario:3:1: conflicting expectations: line 2 already expects an error"),
        ("docker ps\n#> error", "t.scenario:2:9: expected a quoted text (`\"…\"`), `~ \"…\"` or `$var`, found the end of the line"),
        ("docker ps\n#> error 'x'", "t.scenario:2:10: expected a quoted text (`\"…\"`), `~ \"…\"` or `$var`, found `'`"),
        ("docker ps\n#> error \"open", "t.scenario:2:10: unterminated string (the quote opened here is never closed)"),
        ("docker ps\n#> output \"cost $5\"", "t.scenario:2:17: `$` must start a variable name like `$m1` (letters, digits, `_`); write `\\$` inside a string for a literal dollar"),
        ("docker ps\n#> output \"\\q\"", "t.scenario:2:12: invalid escape (use \\\" \\\\ \\/ \\$ \\b \\f \\n \\r \\t or \\uXXXX)"),
        ("docker ps\n#> output \"\\u12\"", "t.scenario:2:12: invalid \\u escape (expected 4 hex digits naming a character)"),
        ("docker ps\n#> output \"\\ud800x\"", "t.scenario:2:12: invalid \\u escape (expected 4 hex digits naming a character)"),
        ("docker ps\n#> no way", "t.scenario:2:7: expected `no calls`"),
        ("docker ps\n#> count gvol", "t.scenario:2:14: expected a METHOD such as VolumeDriver.Mount"),
        ("docker ps\n#> count gvol Mount 1", "t.scenario:2:15: invalid method `Mount`: expected Protocol.Method, e.g. VolumeDriver.Mount"),
        ("docker ps\n#> count gvol A.B two", "t.scenario:2:19: invalid count `two`: expected a whole number"),
        ("docker ps\n#> count gvol A.B", "t.scenario:2:18: expected a count N (usage: `#> count PLUGIN METHOD N`)"),
    ];
    for (src, expected) in cases {
        check_err(src, expected);
    }
}

#[test]
fn malformed_json_patterns() {
    let block = |item: &str| format!("docker ps\n#> calls:\n#>   gvol A.B {item}");
    let cases = [
        ("{\"Name\" \"v1\"}", "t.scenario:3:23: expected `:` after the object key, found `\"`"),
        ("{Name: 1}", "t.scenario:3:16: expected a quoted object key, found `N`"),
        ("{\"a\": 1,}", "t.scenario:3:23: expected a quoted object key, found `}`"),
        ("{\"a\": 1 \"b\": 2}", "t.scenario:3:23: expected `,` or `}`, found `\"`"),
        ("{\"a\": 1", "t.scenario:3:22: expected `,` or `}`, found the end of the line"),
        ("[1 2]", "t.scenario:3:18: expected `,` or `]`, found `2`"),
        ("{\"a\": 1, \"a\": 2}", "t.scenario:3:24: duplicate key \"a\""),
        ("{\"a\": v1}", "t.scenario:3:21: unexpected `v1` in pattern (strings need double quotes; variables start with `$`)"),
        ("{\"a\": 01x}", "t.scenario:3:21: invalid number `01x`"),
        ("{\"a\": $}", "t.scenario:3:21: `$` must start a variable name like `$m1` (letters, digits, `_`); write `\\$` inside a string for a literal dollar"),
        ("{\"a\": \"x}", "t.scenario:3:21: unterminated string (the quote opened here is never closed)"),
        ("{\"a\": 1} extra", "t.scenario:3:24: unexpected `extra` at the end of the expectation"),
        ("{\"a\": 1} ->", "t.scenario:3:26: expected a pattern, found the end of the line"),
        ("-> {\"Err\": }", "t.scenario:3:26: expected a pattern (JSON, `$var` or `_`), found `}`"),
    ];
    for (item, expected) in cases {
        check_err(block(item), expected);
    }
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    check_err(
        block(&deep),
        "t.scenario:3:80: pattern nested more than 64 levels deep",
    );
}

// ------------------------------------------------------------ bytes and size

#[test]
fn malformed_bytes() {
    check_err(
        b"docker ps\n# caf\xc3\xa9 \xff\xfe\n",
        "t.scenario:2:8: invalid UTF-8 (byte 0xff); scenario files must be UTF-8 text",
    );
    check_err(
        b"\x7fELF\x02\x01\x01\x00\x00",
        "t.scenario:1:1: unexpected control character U+007F; scenario files must be text",
    );
    check_err(
        b"\x89PNG\r\n",
        "t.scenario:1:1: invalid UTF-8 (byte 0x89); scenario files must be UTF-8 text",
    );
    check_err(
        b"docker ps\ndocker\x00 ps\n",
        "t.scenario:2:7: unexpected a NUL byte; scenario files must be text",
    );
    check_err(b"docker ps\r\n", "t.scenario:1:10: unexpected a carriage return; save the file with LF line endings (sh reads CR as part of the command)");
    check_err(
        b"# x\x07\n",
        "t.scenario:1:4: unexpected control character U+0007; scenario files must be text",
    );
    check_err("\u{feff}docker ps", "t.scenario:1:1: the file starts with a byte order mark; remove it (sh would read it as part of the first command)");
    let long = format!("docker ps\n# {}\n", "é".repeat(MAX_LINE_BYTES));
    check_err(
        long,
        &format!(
            "t.scenario:2:{}: line is {} bytes long; lines are limited to {MAX_LINE_BYTES} bytes",
            2 + (MAX_LINE_BYTES - 2) / 2 + 1,
            2 + 2 * MAX_LINE_BYTES
        ),
    );
    // Just under the limit is fine, and tabs are text.
    let ok = format!(
        "docker\tvolume create {}\n",
        "v".repeat(MAX_LINE_BYTES - 21)
    );
    assert_eq!(parse_ok(&ok).steps.len(), 1);
}

#[test]
fn empty_and_comment_only_files_have_no_steps() {
    for src in [
        "",
        "\n\n",
        "   ",
        "#!/bin/sh\n# Just words.\n#\n# More.\n\n# not description\n",
    ] {
        assert!(parse_ok(src).steps.is_empty(), "{src:?}");
    }
    assert_eq!(
        parse_ok("#!/bin/sh\n# Just words.\n#\n# More.\n\n# not description\ndocker ps")
            .description,
        "Just words.\n\nMore."
    );
}

#[test]
fn parse_file_reports_missing_files() {
    let err = parse_file("/nonexistent/x.scenario").unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }));
    assert!(
        err.to_string().starts_with("/nonexistent/x.scenario: "),
        "{err}"
    );
}

// ------------------------------------------------------------------ matching

const GET_V1: &str = "VolumeDriver.Get";

fn vol(name: &str) -> Value {
    json!({"Volume": {"Name": name, "Mountpoint": format!("/m/{name}")}, "Err": ""})
}

#[test]
fn variables_bind_at_mount_and_must_match_at_unmount() {
    let mut vars = Vars::new();
    let start = "docker start c1\n#> calls:\n#>   gvol VolumeDriver.Get {\"Name\": \"v1\"}\n#>   gvol VolumeDriver.Mount {\"Name\": \"v1\", \"ID\": $m1}\n";
    let calls = [
        call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
        call(
            "gvol",
            "VolumeDriver.Mount",
            json!({"Name": "v1", "ID": "abc"}),
            json!({"Mountpoint": "/m/v1", "Err": ""}),
        ),
    ];
    assert_eq!(
        run_check(start, &Outcome::ok("c1"), &calls, &mut vars),
        Ok(())
    );
    assert_eq!(vars.get("m1"), Some(&json!("abc")));
    assert_eq!(vars.binding("m1").map(|b| b.line), Some(4));

    let stop = "docker stop c1\n#> calls:\n#>   gvol VolumeDriver.Get _\n#>   gvol VolumeDriver.Unmount {\"ID\": $m1} -> {\"Err\": \"\"}\n";
    let unmount = |id: &str| {
        [
            call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
            call(
                "gvol",
                "VolumeDriver.Unmount",
                json!({"Name": "v1", "ID": id}),
                json!({"Err": ""}),
            ),
        ]
    };
    assert_eq!(
        run_check(stop, &Outcome::ok("c1"), &unmount("abc"), &mut vars),
        Ok(())
    );
    let err = run_check(stop, &Outcome::ok("c1"), &unmount("zzz"), &mut vars).unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn wildcard_and_partial_objects() {
    let mut vars = Vars::new();
    let src = "docker volume create -d gvol v1\n#> calls:\n#>   gvol VolumeDriver.Create {\"Name\": _, \"Opts\": null} -> _\n";
    let ok = [call(
        "gvol",
        "VolumeDriver.Create",
        json!({"Name": "v1", "Opts": null, "Extra": 1}),
        json!({}),
    )];
    assert_eq!(run_check(src, &Outcome::ok("v1"), &ok, &mut vars), Ok(()));
    let missing_key = [call(
        "gvol",
        "VolumeDriver.Create",
        json!({"Name": "v1"}),
        json!({}),
    )];
    let err = run_check(src, &Outcome::ok("v1"), &missing_key, &mut vars).unwrap_err();
    assert!(
        err.contains("item 1: request at .Opts: key missing (present: Name)"),
        "{err}"
    );
    let arrays = "docker ps\n#> calls:\n#>   p A.B {\"L\": [1, _]}\n";
    let obs = |v: Value| [call("p", "A.B", json!({ "L": v }), json!({}))];
    assert_eq!(
        run_check(arrays, &Outcome::ok(""), &obs(json!([1.0, "x"])), &mut vars),
        Ok(())
    );
    let err = run_check(arrays, &Outcome::ok(""), &obs(json!([1, 2, 3])), &mut vars).unwrap_err();
    assert!(
        err.contains("at .L: expected an array of 2 elements, got 3 elements: [1,2,3]"),
        "{err}"
    );
    let err = run_check(arrays, &Outcome::ok(""), &obs(json!([2, 2])), &mut vars).unwrap_err();
    assert!(err.contains("at .L[0]: expected 1, got 2"), "{err}");
}

#[test]
fn exact_calls_report_the_first_difference() {
    let src = "docker run --rm -v v1:/data img\n\
               #> calls:\n\
               #>   gvol VolumeDriver.Get {\"Name\": \"v1\"}\n\
               #>   gvol VolumeDriver.Mount {\"Name\": \"v1\", \"ID\": $m}\n\
               #>   gvol VolumeDriver.Get {\"Name\": \"v1\"}\n\
               #>   gvol VolumeDriver.Unmount {\"Name\": \"v1\", \"ID\": $m}\n";
    let calls = [
        call(
            "gauthz",
            "AuthZPlugin.AuthZReq",
            json!({"RequestUri": "/_ping"}),
            json!({"Allow": true}),
        ),
        call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
        call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
        call(
            "gvol",
            "VolumeDriver.Mount",
            json!({"Name": "v1", "ID": "id1"}),
            json!({"Mountpoint": "/m/v1", "Err": ""}),
        ),
    ];
    let mut vars = Vars::new();
    let err = run_check(src, &Outcome::ok(""), &calls, &mut vars).unwrap_err();
    insta::assert_snapshot!(err);
    assert_eq!(vars.get("m"), None, "a mismatch binds nothing");

    // Too many calls: the first extra one is marked.
    let one = "docker ps\n#> calls:\n#>   gvol VolumeDriver.Get\n";
    let err = run_check(one, &Outcome::ok(""), &calls, &mut vars).unwrap_err();
    assert!(
        err.contains("expected 1 calls to gvol, observed 3; first extra: observed 2"),
        "{err}"
    );
    assert!(
        err.contains("  >  2  gvol VolumeDriver.Get {\"Name\":\"v1\"}"),
        "{err}"
    );
}

#[test]
fn unordered_calls_backtrack_over_variable_assignments() {
    // dockerd iterates a map over a container's volumes, so the order of
    // the two Get+Mount pairs varies; `$a` must pair with the Mount of v1.
    let src = "docker start c1\n\
               #> calls unordered:\n\
               #>   gvol VolumeDriver.Mount {\"Name\": _, \"ID\": $a}\n\
               #>   gvol VolumeDriver.Mount {\"Name\": \"v2\", \"ID\": $b}\n\
               #>   gvol VolumeDriver.Get {\"Name\": \"v1\"}\n\
               #>   gvol VolumeDriver.Get {\"Name\": \"v2\"}\n";
    let mount = |name: &str, id: &str| {
        call(
            "gvol",
            "VolumeDriver.Mount",
            json!({"Name": name, "ID": id}),
            json!({"Err": ""}),
        )
    };
    let calls = [
        call("gvol", GET_V1, json!({"Name": "v2"}), vol("v2")),
        mount("v2", "id2"),
        call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
        mount("v1", "id1"),
    ];
    let mut vars = Vars::new();
    assert_eq!(
        run_check(src, &Outcome::ok("c1"), &calls, &mut vars),
        Ok(())
    );
    // A greedy matcher would give `$a` the first Mount (id2) and then fail.
    assert_eq!(vars.get("a"), Some(&json!("id1")));
    assert_eq!(vars.get("b"), Some(&json!("id2")));

    // Both IDs must now be distinct calls at stop; the same ID twice fails.
    let stop = "docker stop c1\n\
                #> calls unordered:\n\
                #>   gvol VolumeDriver.Unmount {\"ID\": $a}\n\
                #>   gvol VolumeDriver.Unmount {\"ID\": $b}\n";
    let unmount = |id: &str| {
        call(
            "gvol",
            "VolumeDriver.Unmount",
            json!({"Name": "v", "ID": id}),
            json!({"Err": ""}),
        )
    };
    assert_eq!(
        run_check(
            stop,
            &Outcome::ok(""),
            &[unmount("id2"), unmount("id1")],
            &mut vars
        ),
        Ok(())
    );
    let err = run_check(
        stop,
        &Outcome::ok(""),
        &[unmount("id1"), unmount("id1")],
        &mut vars,
    )
    .unwrap_err();
    insta::assert_snapshot!(err);

    // Same variable in two unbound items: only a consistent pairing passes.
    let same = "docker ps\n#> calls unordered:\n#>   p A.B {\"x\": $s, \"y\": 1}\n#>   p A.B {\"x\": $s, \"y\": 2}\n";
    let ab = |x: i64, y: i64| call("p", "A.B", json!({"x": x, "y": y}), json!({}));
    let mut vars = Vars::new();
    let err = run_check(same, &Outcome::ok(""), &[ab(1, 1), ab(2, 2)], &mut vars).unwrap_err();
    assert!(
        err.contains("every item matches some call, but no pairing gives each variable one value"),
        "{err}"
    );
    assert_eq!(
        run_check(same, &Outcome::ok(""), &[ab(5, 2), ab(5, 1)], &mut vars),
        Ok(())
    );
    assert_eq!(vars.get("s"), Some(&json!(5)));

    let err = run_check(same, &Outcome::ok(""), &[ab(5, 2)], &mut Vars::new()).unwrap_err();
    assert!(
        err.starts_with("line 2: expected 2 calls to p (in any order), observed 1"),
        "{err}"
    );
}

#[test]
fn unordered_search_stays_fast_on_many_identical_calls() {
    let mut src = String::from("docker ps\n#> calls unordered:\n");
    for _ in 0..40 {
        src.push_str("#>   p A.B {\"n\": 1}\n");
    }
    src.push_str("#>   p A.B {\"n\": 2}\n");
    let calls: Vec<ObservedCall> = (0..41)
        .map(|_| call("p", "A.B", json!({"n": 1}), json!({})))
        .collect();
    let err = run_check(&src, &Outcome::ok(""), &calls, &mut Vars::new()).unwrap_err();
    assert!(err.contains("item 41 matches no observed call"), "{err}");
}

#[test]
fn include_calls_find_an_ordered_subsequence_with_backtracking() {
    let src = "docker cp f c1:/a\n\
               #> calls include:\n\
               #>   gvol VolumeDriver.Mount {\"ID\": $m}\n\
               #>   gvol VolumeDriver.Unmount {\"ID\": $m}\n";
    let m = |method: &str, id: &str| {
        call(
            "gvol",
            method,
            json!({"Name": "v1", "ID": id}),
            json!({"Err": ""}),
        )
    };
    let calls = [
        m("VolumeDriver.Mount", "first"),
        call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
        m("VolumeDriver.Mount", "second"),
        m("VolumeDriver.Unmount", "second"),
    ];
    let mut vars = Vars::new();
    assert_eq!(run_check(src, &Outcome::ok(""), &calls, &mut vars), Ok(()));
    assert_eq!(vars.get("m"), Some(&json!("second")));

    let err = run_check(src, &Outcome::ok(""), &calls[..3], &mut Vars::new()).unwrap_err();
    insta::assert_snapshot!(err);
    let err = run_check(src, &Outcome::ok(""), &[], &mut Vars::new()).unwrap_err();
    assert!(
        err.starts_with("line 2: calls to gvol include no call matching item 1"),
        "{err}"
    );
}

#[test]
fn calls_blocks_only_consider_the_plugins_they_name() {
    let src = "docker volume ls\n#> calls:\n#>   gvol VolumeDriver.List\n";
    let calls = [
        call(
            "gauthz",
            "AuthZPlugin.AuthZReq",
            json!({}),
            json!({"Allow": true}),
        ),
        call(
            "gvol",
            "VolumeDriver.List",
            json!(null),
            json!({"Volumes": []}),
        ),
        call(
            "gauthz",
            "AuthZPlugin.AuthZRes",
            json!({}),
            json!({"Allow": true}),
        ),
    ];
    assert_eq!(
        run_check(src, &Outcome::ok(""), &calls, &mut Vars::new()),
        Ok(())
    );
    let no_calls = "docker volume ls\n#> no calls\n";
    let err = run_check(no_calls, &Outcome::ok(""), &calls, &mut Vars::new()).unwrap_err();
    assert!(err.starts_with("line 2: expected no plugin calls, observed 3:\n     1  gauthz AuthZPlugin.AuthZReq {} -> {\"Allow\":true}"), "{err}");
    assert_eq!(
        run_check(no_calls, &Outcome::ok(""), &[], &mut Vars::new()),
        Ok(())
    );
}

#[test]
fn response_patterns_and_missing_responses() {
    let src = "docker volume inspect v2\n#> error \"get v2: no such volume\"\n#> calls:\n#>   gvol VolumeDriver.Get {\"Name\":\"v2\"} -> {\"Err\": \"no such volume: v2\"}\n";
    let failed = Outcome::failed("get v2: no such volume");
    let answered = |err: &str| {
        [call(
            "gvol",
            GET_V1,
            json!({"Name": "v2"}),
            json!({ "Err": err }),
        )]
    };
    assert_eq!(
        run_check(
            src,
            &failed,
            &answered("no such volume: v2"),
            &mut Vars::new()
        ),
        Ok(())
    );
    let err = run_check(src, &failed, &answered("gone"), &mut Vars::new()).unwrap_err();
    assert!(
        err.contains("item 1: response at .Err: expected \"no such volume: v2\", got \"gone\""),
        "{err}"
    );
    let mut lost = answered("x");
    lost[0].response = None;
    lost[0].status = None;
    let err = run_check(src, &failed, &lost, &mut Vars::new()).unwrap_err();
    assert!(
        err.contains("item 1: there was no response, expected one"),
        "{err}"
    );
    assert!(
        err.contains("gvol VolumeDriver.Get {\"Name\":\"v2\"} -> (no response)"),
        "{err}"
    );
}

#[test]
fn count_expectations() {
    let src = "docker volume rm v1\n#> count gvol VolumeDriver.Get 2\n#> count gvol VolumeDriver.Path 0\n";
    let calls = [
        call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
        call("gvol", GET_V1, json!({"Name": "v1"}), vol("v1")),
        call(
            "gvol",
            "VolumeDriver.Remove",
            json!({"Name": "v1"}),
            json!({"Err": ""}),
        ),
    ];
    assert_eq!(
        run_check(src, &Outcome::ok("v1"), &calls, &mut Vars::new()),
        Ok(())
    );
    let err = run_check(src, &Outcome::ok("v1"), &calls[1..], &mut Vars::new()).unwrap_err();
    assert_eq!(
        err,
        "line 2: expected 2 calls of gvol VolumeDriver.Get, observed 1; calls to gvol:\n     1  gvol VolumeDriver.Get {\"Name\":\"v1\"} -> {\"Volume\":{\"Name\":\"v1\",\"Mountpoint\":\"/m/v1\"},\"Err\":\"\"}\n     2  gvol VolumeDriver.Remove {\"Name\":\"v1\"} -> {\"Err\":\"\"}\n"
    );
}

#[test]
fn outcome_expectations() {
    let cases: &[(&str, Outcome, Result<(), &str>)] = &[
        ("docker ps", Outcome::ok(""), Ok(())),
        (
            "docker ps",
            Outcome::failed("boom"),
            Err("line 1: expected success (the step has no `#> error`), got error \"boom\""),
        ),
        (
            "docker ps\n#> ok",
            Outcome::failed("boom"),
            Err("line 2: expected ok, got error \"boom\""),
        ),
        (
            "docker ps\n#> error \"boom\"",
            Outcome::failed("  boom\n"),
            Ok(()),
        ),
        (
            "docker ps\n#> error \"boom\"",
            Outcome::ok(""),
            Err("line 2: expected error \"boom\", but the step succeeded"),
        ),
        (
            "docker ps\n#> error \"boom\"",
            Outcome::failed("bang"),
            Err("line 2: expected error \"boom\"\n     got error \"bang\""),
        ),
        (
            "docker ps\n#> error ~ \"oo\"",
            Outcome::failed("boom"),
            Ok(()),
        ),
        (
            "docker ps\n#> error ~ \"xx\"",
            Outcome::failed("boom"),
            Err("line 2: expected error ~ \"xx\"\n     got error \"boom\""),
        ),
        (
            "docker ps\n#> output \"a\\nb\"",
            Outcome::ok("\na\nb\n\n"),
            Ok(()),
        ),
        ("docker ps\n#> output \"\"", Outcome::ok("  \n"), Ok(())),
        (
            "docker ps\n#> output \"a\"",
            Outcome::ok("ab"),
            Err("line 2: expected output \"a\"\n     got output \"ab\""),
        ),
        (
            "docker ps\n#> output ~ \"\\$5\"",
            Outcome::ok("cost $5."),
            Ok(()),
        ),
    ];
    for (src, outcome, expected) in cases {
        let got = run_check(src, outcome, &[], &mut Vars::new());
        assert_eq!(got, expected.map_err(str::to_string), "for {src:?}");
    }
}

#[test]
fn text_variables_capture_then_interpolate() {
    let mut vars = Vars::new();
    let id = "ae509537963b1f2ede848d9cd09223f57eb89cb83982adfa5d550b87f2b6293d";
    assert_eq!(
        run_check(
            "docker create img\n#> output $c1",
            &Outcome::ok(format!("{id}\n")),
            &[],
            &mut vars
        ),
        Ok(())
    );
    assert_eq!(vars.get("c1"), Some(&json!(id)));
    let rm = "docker volume rm v1\n#> error \"remove v1: volume is in use - [$c1]\"";
    assert_eq!(
        run_check(
            rm,
            &Outcome::failed(format!("remove v1: volume is in use - [{id}]")),
            &[],
            &mut vars
        ),
        Ok(())
    );
    let err = run_check(
        rm,
        &Outcome::failed("remove v1: volume is in use - [other]"),
        &[],
        &mut vars,
    )
    .unwrap_err();
    assert_eq!(
        err,
        format!("line 2: expected error \"remove v1: volume is in use - [$c1]\" (where $c1 = \"{id}\")\n     got error \"remove v1: volume is in use - [other]\"")
    );

    // Captures are tried longest first, repeats must agree, and a failed
    // match binds nothing.
    // (expectation, stdout, the bindings a match gives or None for no match)
    type Case<'a> = (&'a str, &'a str, Option<&'a [(&'a str, Value)]>);
    let cases: &[Case] = &[
        (
            "#> output \"$a-$b\"",
            "x-y-z",
            Some(&[("a", json!("x-y")), ("b", json!("z"))]),
        ),
        (
            "#> output \"$a and $a\"",
            "q and q",
            Some(&[("a", json!("q"))]),
        ),
        ("#> output \"$a and $a\"", "q and r", None),
        ("#> output \"[$a]\"", "[]", None),
        ("#> output \"id $a\"", "id has space", None),
        (
            "#> output ~ \"vol=$v,\"",
            "x vol=abc.d, y",
            Some(&[("v", json!("abc.d"))]),
        ),
        (
            "#> output ~ \"$v\"",
            "  ##  tail/x:1",
            Some(&[("v", json!("tail/x:1"))]),
        ),
    ];
    for (line, stdout, expected) in cases {
        let mut vars = Vars::new();
        let got = run_check(
            &format!("docker ps\n{line}"),
            &Outcome::ok(*stdout),
            &[],
            &mut vars,
        );
        match expected {
            Some(bindings) => {
                assert_eq!(got, Ok(()), "{line} vs {stdout:?}");
                for (name, value) in *bindings {
                    assert_eq!(vars.get(name), Some(value), "{line} vs {stdout:?}");
                }
            }
            None => {
                assert!(got.is_err(), "{line} vs {stdout:?} should not match");
                assert_eq!(vars.iter().count(), 0, "{line}: nothing bound");
            }
        }
    }

    // A variable bound from JSON (a number) interpolates as its JSON text.
    let mut vars = Vars::new();
    let src = "docker ps\n#> calls:\n#>   p A.B {\"n\": $n}\n#> output \"n=$n\"";
    let calls = [call("p", "A.B", json!({"n": 42}), json!({}))];
    assert_eq!(
        run_check(src, &Outcome::ok("n=42"), &calls, &mut vars),
        Ok(())
    );
}

#[test]
fn patterns_print_as_written() {
    let scenario = parse_ok(
        "docker ps\n#> calls:\n#>   p A.B {\"a\": [1, _, $v], \"b\\\"\": {\"c\": null}} -> true\n#> error ~ \"x\\\"$y\\$\"\n",
    );
    let ExpectKind::Calls { calls, .. } = &scenario.steps[0].expectations[0].kind else {
        panic!("calls");
    };
    assert_eq!(
        calls[0].request.as_ref().unwrap().to_string(),
        "{\"a\": [1, _, $v], \"b\\\"\": {\"c\": null}}"
    );
    let ExpectKind::Error(text) = &scenario.steps[0].expectations[1].kind else {
        panic!("error");
    };
    assert_eq!(text.to_string(), "~ \"x\\\"$y\\$\"");
}

// --------------------------------------------------------- golden trace

/// Replays a real dockerd trace (shared/golden/s-volume.jsonl) through the
/// matcher against `testdata/golden-volume.scenario`: the language must be
/// able to state exactly what dockerd 20.10 did.
#[test]
fn golden_volume_trace_matches_its_scenario() {
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/golden/s-volume.jsonl"
    );
    let Ok(trace) = std::fs::read_to_string(golden) else {
        // shared/ sits beside the repository in every checkout and in CI.
        panic!("missing {golden}");
    };
    let mut steps: Vec<(String, Vec<ObservedCall>, Outcome)> = Vec::new();
    for line in trace.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if let Some(mark) = record.get("mark").and_then(Value::as_str) {
            if mark.starts_with("docker") {
                steps.push((mark.to_string(), Vec::new(), Outcome::default()));
            }
        } else if let Some(result) = record.get("result") {
            let out = result["out"].as_str().unwrap_or_default();
            let step = &mut steps.last_mut().unwrap().2;
            *step = match out.strip_prefix("Error response from daemon: ") {
                Some(message) => Outcome::failed(message),
                None => Outcome::ok(out),
            };
        } else if let Some((_, calls, _)) = steps.last_mut() {
            calls.push(ObservedCall {
                plugin: record["plugin"].as_str().unwrap().to_string(),
                method: record["path"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string(),
                request: record["req"].clone(),
                response: Some(record["resp"].clone()),
                status: Some(200),
                attempts: 1,
                empty_body_retry: false,
                engine_time: std::time::Duration::ZERO,
            });
        }
    }
    let scenario = parse_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/scenario/testdata/golden-volume.scenario"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let actions: Vec<&Step> = scenario.actions().map(|(step, _)| step).collect();
    assert_eq!(actions.len(), steps.len());
    let mut vars = Vars::new();
    for (step, (mark, calls, outcome)) in actions.iter().zip(&steps) {
        // The recorded command and the scenario's must be the same words.
        let (_, action) = scenario
            .actions()
            .find(|(s, _)| s.line == step.line)
            .unwrap();
        assert_eq!(
            action.argv.join(" "),
            mark.replace('\'', ""),
            "line {}",
            step.line
        );
        if let Err(m) = step.check(outcome, calls, &mut vars) {
            panic!("{}:{}: {m}", scenario.path.display(), m.line);
        }
    }
    assert!(vars.get("c1").is_some() && vars.get("m1").is_some());
}

/// Every complete example in docs/scenarios.md parses.
#[test]
fn documentation_examples_parse() {
    let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/scenarios.md");
    let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let mut examples = 0;
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let end = body.find("```\n").expect("closed fence");
        let example = &body[..end];
        if let Err(e) = parse("docs/scenarios.md example", example.as_bytes()) {
            panic!("example {}:\n{example}\n{e}", examples + 1);
        }
        examples += 1;
        rest = &body[end..];
    }
    assert!(examples >= 3, "found {examples} examples");
}

// ------------------------------------------------------------------- fuzzing

mod fuzz {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse("fuzz", &bytes);
        }

        #[test]
        fn scenario_like_text_never_panics(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("docker ".to_string()),
                    Just("#> ".to_string()),
                    Just("#>   gvol A.B ".to_string()),
                    Just("#@ ".to_string()),
                    "[a-z -]{0,12}",
                    "[ -~]{0,40}",
                    "[{}\\[\\]\"'\\\\$_:,~ a-z0-9.=-]{0,40}",
                ],
                0..12,
            )
        ) {
            let text = lines.join("\n");
            if let Ok(scenario) = parse("fuzz", text.as_bytes()) {
                // Whatever parsed can be checked without panicking.
                let mut vars = Vars::new();
                for step in &scenario.steps {
                    let _ = step.check(&Outcome::ok("x"), &[], &mut vars);
                }
            }
        }
    }
}

#[test]
fn fault_directives_parse_into_rules() {
    use crate::plugins::fault::{CallFault, FaultAction, Scope};
    use std::time::Duration;
    let scenario = parse_ok(
        "#@ plugin p volume\n\
         #@ fault p VolumeDriver.Mount delay 1m30s\n\
         #@ fault p * hang always\n\
         #@ fault p VolumeDriver.Create status 500 '{\"Err\":\"x\"}' times 3\n\
         #@ fault p VolumeDriver.Create status 500 'plain\\n'\n\
         #@ fault p VolumeDriver.Get status 404 once\n\
         #@ fault p VolumeDriver.List empty\n\
         #@ fault p VolumeDriver.List invalid-json\n\
         #@ fault p Plugin.Activate implements NetworkDriver IpamDriver always\n\
         #@ fault p Plugin.Activate implements\n\
         #@ fault p VolumeDriver.Get created-at yesterday\n\
         #@ fault p VolumeDriver.Mount drop before-body\n\
         #@ fault p VolumeDriver.Mount drop after-body\n\
         #@ fault p VolumeDriver.Mount drop answer\n\
         #@ fault p VolumeDriver.Mount crash for 2s\n\
         #@ fault p kill\n\
         #@ fault p kill for 500ms\n\
         #@ fault q stale-socket\n\
         #@ fault q late 5s\n\
         #@ fault clear p\n\
         #@ fault clear\n\
         #@ fault p AuthZPlugin.AuthZReq~/v1.41/volumes drop after-body\n\
         #@ sleep 15s\n",
    );
    let call = |method: Option<&str>, action: FaultAction, scope: Scope| {
        FaultDirective::Call(CallFault {
            plugin: "p".into(),
            method: method.map(str::to_owned),
            body_contains: None,
            action,
            scope,
        })
    };
    let once = Scope::Next(1);
    let reply = |status: u16, body: &'static [u8]| FaultAction::Reply {
        status,
        body: bytes::Bytes::from_static(body),
    };
    let faults: Vec<FaultDirective> = scenario
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Directive(Directive::Fault(f)) => Some(f.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        faults,
        vec![
            call(
                Some("VolumeDriver.Mount"),
                FaultAction::Delay(Duration::from_secs(90)),
                once
            ),
            call(None, FaultAction::Hang, Scope::Always),
            call(
                Some("VolumeDriver.Create"),
                reply(500, br#"{"Err":"x"}"#),
                Scope::Next(3)
            ),
            call(Some("VolumeDriver.Create"), reply(500, b"plain\n"), once),
            call(
                Some("VolumeDriver.Get"),
                reply(404, b"404 page not found\n"),
                once
            ),
            call(Some("VolumeDriver.List"), reply(200, b""), once),
            call(
                Some("VolumeDriver.List"),
                reply(200, crate::plugins::fault::INVALID_JSON),
                once
            ),
            call(
                Some("Plugin.Activate"),
                FaultAction::Implements(strings(&["NetworkDriver", "IpamDriver"])),
                Scope::Always
            ),
            call(
                Some("Plugin.Activate"),
                FaultAction::Implements(vec![]),
                once
            ),
            call(
                Some("VolumeDriver.Get"),
                FaultAction::CreatedAt("yesterday".into()),
                once
            ),
            call(
                Some("VolumeDriver.Mount"),
                FaultAction::DropBeforeBody,
                once
            ),
            call(Some("VolumeDriver.Mount"), FaultAction::DropAfterBody, once),
            call(Some("VolumeDriver.Mount"), FaultAction::DropAnswer, once),
            call(
                Some("VolumeDriver.Mount"),
                FaultAction::Crash(Some(Duration::from_secs(2))),
                once
            ),
            FaultDirective::Kill {
                plugin: "p".into(),
                back_after: None
            },
            FaultDirective::Kill {
                plugin: "p".into(),
                back_after: Some(Duration::from_millis(500))
            },
            FaultDirective::StaleSocket("q".into()),
            FaultDirective::Late {
                plugin: "q".into(),
                after: Duration::from_secs(5)
            },
            FaultDirective::Clear(Some("p".into())),
            FaultDirective::Clear(None),
            FaultDirective::Call(CallFault {
                plugin: "p".into(),
                method: Some("AuthZPlugin.AuthZReq".into()),
                body_contains: Some("/v1.41/volumes".into()),
                action: FaultAction::DropAfterBody,
                scope: once,
            }),
            FaultDirective::Sleep(Duration::from_secs(15)),
        ]
    );
}

#[test]
fn fault_directive_errors() {
    const USAGE: &str = "(usage: #@ fault PLUGIN METHOD[~TEXT]|* ACTION [once|times N|always] | #@ fault PLUGIN kill [for DURATION] | #@ fault PLUGIN stale-socket | #@ fault PLUGIN late DURATION | #@ fault clear [PLUGIN])";
    let cases = [
        ("#@ fault", format!("t.scenario:1:4: `#@ fault` needs a PLUGIN (or `clear`) {USAGE}")),
        ("#@ fault gvol", format!("t.scenario:1:10: expected a METHOD (or `*`), `kill`, `stale-socket` or `late` after the PLUGIN {USAGE}")),
        ("#@ fault gvol Mount hang", format!("t.scenario:1:15: expected a METHOD such as VolumeDriver.Create, `*`, `kill`, `stale-socket` or `late`, found `Mount` {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount", format!("t.scenario:1:15: expected what happens after the METHOD: one of delay DURATION, hang, status CODE [BODY], empty, invalid-json, implements [NAME…], created-at TEXT, drop before-body|after-body|answer, crash [for DURATION] {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount explode", format!("t.scenario:1:34: unknown fault `explode` (supported: delay DURATION, hang, status CODE [BODY], empty, invalid-json, implements [NAME…], created-at TEXT, drop before-body|after-body|answer, crash [for DURATION]) {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount delay 5", "t.scenario:1:40: invalid duration `5`: expected a number and a unit, such as 500ms, 15s, 2m or 1m30s".to_owned()),
        ("#@ fault gvol VolumeDriver.Mount delay", format!("t.scenario:1:34: `delay` needs a DURATION such as 90s {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount status 700", format!("t.scenario:1:41: invalid HTTP status `700`: expected a number from 100 to 599 {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount implements authz", format!("t.scenario:1:34: `implements` applies to Plugin.Activate only, not VolumeDriver.Mount {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount created-at x", format!("t.scenario:1:34: `created-at` applies to VolumeDriver.Get and VolumeDriver.List only, not VolumeDriver.Mount {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount drop later", format!("t.scenario:1:39: expected `before-body`, `after-body` or `answer` after `drop`, found `later` {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount hang times 0", format!("t.scenario:1:45: invalid count `0`: expected a whole number from 1 {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount hang sometimes", format!("t.scenario:1:39: unexpected `sometimes`: expected `once`, `times N` or `always` {USAGE}")),
        ("#@ fault gvol VolumeDriver.Mount hang always now", format!("t.scenario:1:46: unexpected `now` after `always` {USAGE}")),
        ("#@ fault gvol late", format!("t.scenario:1:15: `late` needs a DURATION such as 3s {USAGE}")),
        ("#@ fault gvol kill", "t.scenario:1:1: `#@ fault gvol kill`: no `#@ plugin gvol …` above starts it".to_owned()),
        ("#@ plugin gvol volume\n#@ fault gvol stale-socket", "t.scenario:2:1: `#@ fault gvol stale-socket`: plugin `gvol` is started at line 1; `#@ fault gvol kill` leaves its socket stale".to_owned()),
        ("#@ sleep", "t.scenario:1:4: `#@ sleep` needs a DURATION such as 15s (usage: #@ sleep DURATION)".to_owned()),
        ("#@ sleep 1 2", "t.scenario:1:12: `#@ sleep` takes one DURATION (usage: #@ sleep DURATION)".to_owned()),
        ("#@ sleep soon", "t.scenario:1:10: invalid duration `soon`: expected a number and a unit, such as 500ms, 15s, 2m or 1m30s".to_owned()),
        ("#@ fault clear a b", format!("t.scenario:1:18: `#@ fault clear` takes at most one PLUGIN {USAGE}")),
        ("#@ fault p AuthZPlugin.AuthZReq~ hang", format!("t.scenario:1:12: `METHOD~TEXT` needs a TEXT the request body must contain {USAGE}")),
        ("docker ps\n#> attempts gvol VolumeDriver.Mount 0", "t.scenario:2:37: invalid number of attempts `0`: expected a whole number from 1".to_owned()),
        ("docker ps\n#> attempts gvol VolumeDriver.Mount 2 over soon", "t.scenario:2:44: invalid duration `soon`: expected a number and a unit, such as 500ms, 15s, 2m or 1m30s".to_owned()),
    ];
    for (src, expected) in cases {
        check_err(src, &expected);
    }
}

/// `StepParser` (the long-run path) reads every file in `scenarios/` into
/// the same steps, description and replay setting as `parse`, and stops at
/// the same first error.
#[test]
fn step_parser_agrees_with_parse() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "scenario") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"),
        &mut files,
    );
    assert!(files.len() > 20, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let whole = parse(f, &bytes).unwrap();
        let mut streamed = StepParser::new(f, &bytes).unwrap();
        let steps: Vec<Step> = streamed.by_ref().map(|s| s.unwrap()).collect();
        assert_eq!(steps, whole.steps, "{}", f.display());
        assert_eq!(
            streamed.finished(),
            Some((whole.description.as_str(), &whole.replay)),
            "{}",
            f.display()
        );
    }
    // An error late in the text comes after the steps before it.
    let src = b"docker volume ls\ndocker volume ls\n#> calls:\ndocker volume ls\n";
    let whole = parse("t.scenario", src).unwrap_err();
    let items: Vec<_> = StepParser::new("t.scenario", src).unwrap().collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items[0].is_ok());
    assert_eq!(
        items[1].as_ref().unwrap_err().to_string(),
        whole.to_string()
    );
}
