//! The plugin's state in memory, and the [`Change`]s that move it forward.
//!
//! Every state change is a `Change`. The same [`State::apply`] is used for
//! three things, which is what keeps them from drifting apart:
//! * the writer applies a planned change to its working copy,
//! * after the change is durable, it is applied to the copy readers see,
//! * on start, the journal is replayed by applying its changes in order.

use crate::name::{MountId, VolumeName};
use crate::options::VolumeOptions;
use std::collections::BTreeMap;

/// Every volume, by name. Sorted, so `List` is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub volumes: BTreeMap<VolumeName, VolumeState>,
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolumeState {
    /// RFC 3339, seconds precision, UTC (`2026-11-22T03:03:39Z`): the form
    /// dockerd's Go `time.Time` decoder accepts (protocol.md §11.14). Kept as
    /// the string that is sent, so it is formatted once, at Create.
    pub created_at: String,
    /// The options given at Create.
    pub options: VolumeOptions,
    /// Outstanding mounts: each ID with the number of Mounts not yet matched by
    /// an Unmount, in order of first Mount. A Vec, because a volume rarely has
    /// more than a handful and the order is what `docker volume inspect` shows.
    pub mounts: Vec<(MountId, u32)>,
}

impl VolumeState {
    /// Number of outstanding Mounts for `id` (0 if none).
    pub fn mount_count(&self, id: &MountId) -> u32 {
        self.mounts
            .iter()
            .find(|(m, _)| m == id)
            .map_or(0, |(_, n)| *n)
    }

    /// Outstanding IDs, each repeated once per outstanding Mount.
    pub fn outstanding(&self) -> Vec<String> {
        self.mounts
            .iter()
            .flat_map(|(id, n)| std::iter::repeat(id.as_str().to_owned()).take(*n as usize))
            .collect()
    }
}

/// One durable state change: exactly what a journal record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A new volume.
    Create {
        name: VolumeName,
        created_at: String,
        options: VolumeOptions,
    },
    /// The volume is gone.
    Remove { name: VolumeName },
    /// One more outstanding Mount for `id`.
    Mount { name: VolumeName, id: MountId },
    /// One fewer outstanding Mount for `id`.
    Unmount { name: VolumeName, id: MountId },
}

impl State {
    /// Applies `change`. An error means the change does not fit this state —
    /// the writer never plans such a change, so on replay it means the files
    /// are corrupt.
    pub fn apply(&mut self, change: &Change) -> Result<(), String> {
        match change {
            Change::Create {
                name,
                created_at,
                options,
            } => {
                if self.volumes.contains_key(name) {
                    return Err(format!("create of existing volume {name}"));
                }
                self.volumes.insert(
                    name.clone(),
                    VolumeState {
                        created_at: created_at.clone(),
                        options: *options,
                        mounts: Vec::new(),
                    },
                );
            }
            Change::Remove { name } => match self.volumes.get(name) {
                None => return Err(format!("remove of unknown volume {name}")),
                Some(v) if !v.mounts.is_empty() => {
                    return Err(format!("remove of mounted volume {name}"))
                }
                Some(_) => {
                    self.volumes.remove(name);
                }
            },
            Change::Mount { name, id } => {
                let vol = self
                    .volumes
                    .get_mut(name)
                    .ok_or_else(|| format!("mount of unknown volume {name}"))?;
                match vol.mounts.iter_mut().find(|(m, _)| m == id) {
                    Some((_, n)) => *n += 1,
                    None => vol.mounts.push((id.clone(), 1)),
                }
            }
            Change::Unmount { name, id } => {
                let vol = self
                    .volumes
                    .get_mut(name)
                    .ok_or_else(|| format!("unmount of unknown volume {name}"))?;
                let pos = vol
                    .mounts
                    .iter()
                    .position(|(m, _)| m == id)
                    .ok_or_else(|| format!("unmount of unknown mount ID {id} on {name}"))?;
                vol.mounts[pos].1 -= 1;
                if vol.mounts[pos].1 == 0 {
                    vol.mounts.remove(pos);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> VolumeName {
        VolumeName::parse(s).unwrap()
    }
    fn id(s: &str) -> MountId {
        MountId::parse(s).unwrap()
    }

    #[test]
    fn mounts_are_counted_per_id_and_listed_in_first_mount_order() {
        let mut s = State::default();
        let create = Change::Create {
            name: name("v"),
            created_at: "2026-11-22T03:03:39Z".into(),
            options: VolumeOptions::default(),
        };
        s.apply(&create).unwrap();
        for i in ["b", "a", "b"] {
            s.apply(&Change::Mount {
                name: name("v"),
                id: id(i),
            })
            .unwrap();
        }
        let v = &s.volumes[&name("v")];
        assert_eq!(v.outstanding(), ["b", "b", "a"]);
        assert_eq!(v.mount_count(&id("b")), 2);

        let unmount_b = Change::Unmount {
            name: name("v"),
            id: id("b"),
        };
        s.apply(&unmount_b).unwrap();
        s.apply(&unmount_b).unwrap();
        assert!(
            s.apply(&unmount_b).is_err(),
            "b has no outstanding mount left"
        );
        assert!(
            s.apply(&Change::Remove { name: name("v") }).is_err(),
            "a is still mounted"
        );
        assert!(s.apply(&create).is_err(), "v exists");
    }
}
