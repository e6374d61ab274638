//! Change detection for `egress-sidecar watch`: a snapshot of the YAML files of the CR
//! directory (names, sizes, modification times), compared every poll interval. Polling is
//! simple and robust (it works on ConfigMap volumes, whose files change through symlink swaps).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What the directory looked like: sorted (path, size, mtime) of its `*.yaml`/`*.yml` files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot(pub Vec<(PathBuf, u64, Option<SystemTime>)>);

impl Snapshot {
    /// Takes a snapshot; an unreadable directory is an empty snapshot (a change when it comes back).
    pub fn take(dir: &Path) -> Snapshot {
        let files = crate::cr::yaml_files(dir).unwrap_or_default();
        Snapshot(
            files
                .into_iter()
                .map(|p| {
                    let md = std::fs::metadata(&p).ok();
                    let size = md.as_ref().map_or(0, |m| m.len());
                    let mtime = md.and_then(|m| m.modified().ok());
                    (p, size, mtime)
                })
                .collect(),
        )
    }
}
