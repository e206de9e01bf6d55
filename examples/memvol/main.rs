//! Step 1: a volume plugin written with drydock's SDK, served on a unix
//! socket where dockerd (real or simulated) finds it.
//!
//! ```text
//! cargo run --example memvol -- /tmp/plugins/memvol.sock
//! cargo run -- discover --plugins-dir /tmp/plugins --activate   # in another terminal
//! ```
//!
//! Under a real dockerd, serve it on `/run/docker/plugins/memvol.sock`, then
//! `docker volume create -d memvol v`. The plugin is in `plugin.rs`; this file
//! only serves it.
mod plugin;

use drydock_sdk::server::{serve_unix, shutdown_signal};
use drydock_sdk::Plugin;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let socket = std::env::args()
        .nth(1)
        .unwrap_or("/run/docker/plugins/memvol.sock".into());
    let memvol = plugin::MemVol {
        root: std::env::temp_dir().join("memvol"),
        volumes: Default::default(),
    };
    // `Plugin` bundles the protocols a plugin implements; Activate lists them.
    let plugin = Plugin::new().volume(memvol);
    // Ctrl-C or SIGTERM stops it gracefully (and removes the socket).
    serve_unix(plugin, socket, shutdown_signal()?).await?;
    Ok(())
}
