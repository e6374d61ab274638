//! Change detection for `egress-sidecar watch`: a snapshot of the YAML files of the CR
//! directory (names, sizes, modification times and a hash of the contents), compared every poll
//! interval. Polling is simple and robust: it works on ConfigMap volumes (whose files change by
//! symlink swaps) and on filesystems with coarse modification times (the hash catches a
//! same-size edit within one timestamp tick). CR files are small, so hashing them is cheap.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub path: PathBuf,
    pub size: u64,
    pub mtime: Option<SystemTime>,
    pub hash: u64,
}

/// What the directory looked like, files sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot(pub Vec<FileState>);

impl Snapshot {
    /// Takes a snapshot; an unreadable directory is an empty snapshot (a change when it comes back).
    pub fn take(dir: &Path) -> Snapshot {
        let files = crate::cr::yaml_files(dir).unwrap_or_default();
        Snapshot(
            files
                .into_iter()
                .map(|path| {
                    let md = std::fs::metadata(&path).ok();
                    let size = md.as_ref().map_or(0, |m| m.len());
                    let mtime = md.and_then(|m| m.modified().ok());
                    let mut h = DefaultHasher::new();
                    std::fs::read(&path).ok().hash(&mut h);
                    FileState {
                        path,
                        size,
                        mtime,
                        hash: h.finish(),
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_edit_is_a_change() {
        let d = std::env::temp_dir().join(format!("egress-watch-unit-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.yaml"), "x: 1\n").unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let s1 = Snapshot::take(&d);
        assert_eq!(s1.0.len(), 1);
        assert_eq!(Snapshot::take(&d), s1);
        std::fs::write(d.join("a.yaml"), "x: 2\n").unwrap();
        assert_ne!(Snapshot::take(&d), s1);
        std::fs::write(d.join("notes.txt"), "still ignored").unwrap();
        let s2 = Snapshot::take(&d);
        std::fs::write(d.join("b.yml"), "").unwrap();
        assert_ne!(Snapshot::take(&d), s2);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
