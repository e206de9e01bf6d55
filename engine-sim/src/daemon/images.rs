//! Images. The simulated daemon has `bb:latest` (the conformance sandbox's
//! busybox, imported without a `CMD`) and `busybox:latest` from the start;
//! `POST /images/create` (a pull) adds any other name without a registry.
//! Every image has busybox's root filesystem; only `bb` lacks a command.

use super::Engine;
use std::collections::BTreeSet;

/// The images a fresh daemon has.
const BUILT_IN: &[&str] = &["bb:latest", "busybox:latest"];

/// Paths in every image's root filesystem once a container is created
/// (the image's plus those the daemon's init layer adds).
pub(crate) const ROOT_PATHS: &[&str] = &[
    "/bin",
    "/dev",
    "/etc",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/proc",
    "/sys",
    "/.dockerenv",
];

/// The pulled images (references, normalised).
#[derive(Debug, Default)]
pub(crate) struct Images {
    pulled: std::sync::Mutex<BTreeSet<String>>,
}

/// A reference as the daemon stores it: Docker Hub's default registry and
/// `library/` dropped, `:latest` added when there is no tag or digest.
pub fn normalize(reference: &str) -> String {
    let short = [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
    ]
    .iter()
    .find_map(|p| reference.strip_prefix(p))
    .unwrap_or(reference);
    let last = short.rsplit('/').next().unwrap_or(short);
    if last.contains(':') || short.contains('@') {
        short.to_owned()
    } else {
        format!("{short}:latest")
    }
}

/// The image's ID: stable for a name (the simulation has no content to
/// hash), in dockerd's `sha256:` + 64 hex form.
pub fn image_id(reference: &str) -> String {
    use std::hash::Hasher;
    // FNV-1a's offset basis, varied for each of the four 64-bit words.
    const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    let mut id = String::from("sha256:");
    for salt in 0u64..4 {
        let mut h = fnv::FnvHasher::with_key(BASIS ^ salt);
        h.write(reference.as_bytes());
        id.push_str(&format!("{:016x}", h.finish()));
    }
    id
}

impl Engine {
    /// The image `reference` names, normalised, if the daemon has it.
    pub fn image(&self, reference: &str) -> Option<String> {
        let name = normalize(reference);
        let known = BUILT_IN.contains(&name.as_str())
            || self
                .images
                .pulled
                .lock()
                .expect("images lock")
                .contains(&name);
        known.then_some(name)
    }

    /// Every image the daemon has, by reference.
    pub fn image_list(&self) -> Vec<String> {
        let mut all: BTreeSet<String> = BUILT_IN.iter().map(|s| s.to_string()).collect();
        all.extend(
            self.images
                .pulled
                .lock()
                .expect("images lock")
                .iter()
                .cloned(),
        );
        all.into_iter().collect()
    }

    /// A simulated pull: the image is there afterwards. Returns its
    /// normalised reference.
    pub fn image_pull(&self, reference: &str) -> String {
        let name = normalize(reference);
        if !BUILT_IN.contains(&name.as_str()) {
            self.images
                .pulled
                .lock()
                .expect("images lock")
                .insert(name.clone());
        }
        name
    }

    /// The image's default command (`CMD`): none for `bb`, `sh` for the rest.
    pub(crate) fn image_cmd(&self, reference: &str) -> Option<&'static str> {
        (normalize(reference) != "bb:latest").then_some("sh")
    }

    pub(crate) fn saved_images(&self) -> BTreeSet<String> {
        self.images.pulled.lock().expect("images lock").clone()
    }

    pub(crate) fn load_images(&self, pulled: BTreeSet<String>) {
        *self.images.pulled.lock().expect("images lock") = pulled;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_as_the_daemon_stores_them() {
        assert_eq!(normalize("bb"), "bb:latest");
        assert_eq!(normalize("docker.io/library/bb"), "bb:latest");
        assert_eq!(normalize("docker.io/me/app:1"), "me/app:1");
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(normalize("app@sha256:ab"), "app@sha256:ab");
        assert_eq!(image_id("bb:latest"), image_id("bb:latest"));
        assert_ne!(image_id("bb:latest"), image_id("busybox:latest"));
        assert_eq!(image_id("x").len(), 7 + 64);
        // The IDs clients have seen stay the same (`docker images`: 0935b6f9e62e).
        assert!(image_id("bb:latest").starts_with("sha256:0935b6f9e62e"));
    }
}
