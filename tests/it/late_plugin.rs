//! A plugin that starts after `drydock run` is found as dockerd finds it:
//! the lookup's 1/2/4/8 s retries wait in real time when the plugin may come
//! from outside drydock, and stay virtual (instant) when every plugin is
//! drydock's own (docs/faults.md, "Plugins that start late").

use drydock::run::{run_scenario, RunOptions};
use drydock_engine::scenario::parse;
use std::time::{Duration, Instant};

const CREATE_ON_LATE: &str = r#"docker volume create -d late v1
#> output "v1"
#> calls include:
#>   late VolumeDriver.Create {"Name": "v1", "Opts": null}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_whose_socket_appears_two_seconds_late_is_found_on_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("late.sock");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let socket = socket.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let plugin = drydock::run::launch::builtin(
                "late",
                "volume",
                &[],
                &socket.with_extension("state"),
            )
            .unwrap();
            drydock_sdk::server::serve_unix(plugin, &socket, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        }
    });
    let scenario = parse("late.scenario", CREATE_ON_LATE.as_bytes()).unwrap();
    let opts = RunOptions {
        plugins_dir: Some(dir.path().to_owned()),
        ..RunOptions::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    let _ = stop.send(());
    server.await.unwrap();
    assert!(report.passed(), "{:#?}", report.failures);
    // dockerd's retries after 1 s and 2 s more: found on the second (3 s).
    let activate = &report.steps[0].calls[0];
    assert_eq!(activate.method, "Plugin.Activate");
}

#[tokio::test]
async fn an_unknown_plugin_among_drydocks_own_fails_in_virtual_time() {
    let text = r#"#@ plugin vol volume
docker volume create -d nosuch v1
#> error "create v1: error looking up volume plugin nosuch: plugin \"nosuch\" not found"
"#;
    let scenario = parse("unknown.scenario", text.as_bytes()).unwrap();
    let real = Instant::now();
    let report = run_scenario(&scenario, &RunOptions::default()).await;
    assert!(report.passed(), "{:#?}", report.failures);
    // dockerd spends ≈15 s retrying; drydock's own directories cannot gain a
    // plugin, so none of it is real time (the bound is generous: a loaded
    // machine, not the 15 s).
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "took {:?}",
        real.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_dir_plugin_that_never_appears_fails_after_dockerds_retries() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"docker volume create -d never v1
#> error ~ "plugin \"never\" not found"
"#;
    let scenario = parse("never.scenario", text.as_bytes()).unwrap();
    let opts = RunOptions {
        plugins_dir: Some(dir.path().to_owned()),
        ..RunOptions::default()
    };
    let real = Instant::now();
    let report = run_scenario(&scenario, &opts).await;
    assert!(report.passed(), "{:#?}", report.failures);
    // 1 + 2 + 4 + 8 s of waiting, as dockerd: a plugin starting in that
    // window would have been found.
    assert!(
        real.elapsed() >= Duration::from_secs(15),
        "gave up after {:?}",
        real.elapsed()
    );
}
