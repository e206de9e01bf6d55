//! Step 3: an authorization plugin. dockerd (started with
//! `--authorization-plugin NAME`) asks it about *every* API request before
//! handling it (AuthZReq) and again with the response (AuthZRes).
//!
//! The policy: the user `intern` may not remove volumes. Everyone else, and
//! every other request, is allowed.
//!
//! ```text
//! cargo test --example authz_policy                            # the tests below
//! cargo run --example authz_policy -- /run/docker/plugins/policy.sock
//! ```
//!
//! The user is the common name of the client's TLS certificate; a client
//! without one has no user. drydock's reference authz plugin (plugins/authz,
//! docs/authz.md) reads such rules from a file instead.
#[cfg(test)]
mod common;

use drydock_sdk::server::{serve_unix, shutdown_signal};
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::{AuthzPlugin, Plugin, PluginError};

struct NoVolumeRemovalForInterns;

impl AuthzPlugin for NoVolumeRemovalForInterns {
    // An empty request (dockerd's retry after a dropped connection carries no
    // body, so no URI to check) never gets here: the SDK answers it with a 400,
    // and dockerd fails the client's request. A plugin that allowed what it
    // cannot read would let that retry through.
    async fn authz_req(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        // `docker volume rm v` is `DELETE /v1.41/volumes/v`. The API version
        // prefix is optional (`/volumes/v` works too), so strip it first.
        let path = req.request_uri.split('?').next().unwrap_or_default();
        let path = strip_version(path);
        if req.user == "intern" && req.request_method == "DELETE" && path.starts_with("/volumes/") {
            // The client sees: authorization denied by plugin NAME: <this text>
            return Ok(AuthzResponse::deny("interns may not remove volumes"));
        }
        Ok(AuthzResponse::allow())
    }

    // Called after dockerd handled an allowed request. Denying here does not
    // undo what the handler did, so this policy decides everything above.
    async fn authz_res(&self, _req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse::allow())
    }
}

/// `/v1.41/volumes/v` → `/volumes/v`; a path without a version is unchanged.
fn strip_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    match rest.find('/') {
        Some(i) if i > 0 && rest[..i].chars().all(|c| c.is_ascii_digit() || c == '.') => &rest[i..],
        _ => path,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let socket = std::env::args()
        .nth(1)
        .unwrap_or("/run/docker/plugins/policy.sock".into());
    let plugin = Plugin::new().authz(NoVolumeRemovalForInterns);
    serve_unix(plugin, socket, shutdown_signal()?).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `#@ user` sets the TLS user of the following commands. Each docker
    /// command starts with `HEAD /_ping`, which the plugin sees too; after a
    /// denial at AuthZReq nothing runs, so there is no AuthZRes.
    const SCENARIO: &str = r#"
#@ authorization-plugin policy

#@ user intern
docker volume create scratch
#> output "scratch"
docker volume rm scratch
#> error "authorization denied by plugin policy: interns may not remove volumes"
#> calls:
#>   policy AuthZPlugin.AuthZReq {"RequestMethod": "HEAD", "RequestUri": "/_ping"} -> {"Allow": true}
#>   policy AuthZPlugin.AuthZRes {"RequestMethod": "HEAD", "RequestUri": "/_ping"}
#>   policy AuthZPlugin.AuthZReq {"User": "intern", "RequestMethod": "DELETE", "RequestUri": "/v1.41/volumes/scratch"} -> {"Allow": false}

#@ user admin
docker volume rm scratch
#> output "scratch"
#> calls include:
#>   policy AuthZPlugin.AuthZReq {"User": "admin", "RequestMethod": "DELETE"} -> {"Allow": true}
#>   policy AuthZPlugin.AuthZRes {"User": "admin", "ResponseStatusCode": 204}
"#;

    #[tokio::test]
    async fn interns_cannot_remove_volumes_admins_can() {
        let engine = common::engine();
        let plugin = Plugin::new().authz(NoVolumeRemovalForInterns);
        engine.registry().register_in_process("policy", plugin);
        common::run(&engine, SCENARIO).await;
    }

    #[test]
    fn the_version_prefix_is_optional() {
        assert_eq!(strip_version("/v1.41/volumes/v"), "/volumes/v");
        assert_eq!(strip_version("/volumes/v"), "/volumes/v");
        assert_eq!(strip_version("/volumes/v1.41/x"), "/volumes/v1.41/x");
        // a volume named like a version is not a version prefix
        assert_eq!(strip_version("/vol/x"), "/vol/x");
    }
}
