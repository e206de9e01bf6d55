//! Step 2: test the plugin of step 1 from `cargo test`, with no Docker, no
//! socket and no root: `cargo test --example memvol_test`.
//!
//! The plugin is registered *in-process* with a simulated dockerd, which then
//! runs docker commands written as a scenario (docs/scenarios.md) and checks
//! the `#>` lines: the calls the plugin must receive, and what the user sees.
#[cfg(test)]
mod common;
#[cfg(test)]
#[path = "memvol/plugin.rs"]
mod plugin; // the very plugin of step 1

fn main() {
    println!("this example is a test: cargo test --example memvol_test");
}

#[cfg(test)]
mod tests {
    use super::{common, plugin::MemVol};
    use drydock_sdk::Plugin;

    /// The scenario: docker commands, each with the calls memvol must see.
    const LIFECYCLE: &str = include_str!("memvol/lifecycle.scenario");

    #[tokio::test]
    async fn a_volume_from_create_to_remove() {
        let root = tempfile::tempdir().unwrap();
        let memvol = MemVol {
            root: root.path().to_owned(),
            volumes: Default::default(),
        };

        let engine = common::engine();
        engine
            .registry()
            .register_in_process("memvol", Plugin::new().volume(memvol));
        let calls = common::run(&engine, LIFECYCLE).await;

        // The scenario checked the calls; plain Rust can check anything else,
        // e.g. that the plugin really made and removed the directory …
        assert!(
            !root.path().join("data").exists(),
            "Remove left the directory"
        );
        // … or the whole trace: every Mount is matched by an Unmount.
        let count = |m: &str| calls.iter().filter(|c| c.method == m).count();
        assert_eq!(count("VolumeDriver.Mount"), count("VolumeDriver.Unmount"));
    }

    #[tokio::test]
    async fn an_unknown_volume_is_the_plugins_error_text() {
        let root = tempfile::tempdir().unwrap();
        let memvol = MemVol {
            root: root.path().to_owned(),
            volumes: Default::default(),
        };
        let engine = common::engine();
        engine
            .registry()
            .register_in_process("memvol", Plugin::new().volume(memvol));
        // dockerd probes every volume plugin with Get for a name it does not
        // know. A probe activates the plugin but skips Capabilities, as the real
        // dockerd does (docs/protocol.md).
        common::run(
            &engine,
            r#"
docker volume inspect -f '{{.Name}}' nosuch
#> error "get nosuch: no such volume"
#> calls:
#>   memvol Plugin.Activate
#>   memvol VolumeDriver.Get {"Name": "nosuch"} -> {"Err": "no such volume: nosuch"}
"#,
        )
        .await;
    }
}
