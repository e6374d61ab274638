//! Reserving 2 MiB hugepages for a test and giving them back.

use crate::cmd::run;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const HP_DIR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";
/// Where the guard mounts hugetlbfs when no 2 MiB hugetlbfs mount exists.
pub const DEFAULT_MOUNT: &str = "/dev/hugepages";

fn read_u64(path: &Path) -> Result<u64> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    s.trim()
        .parse()
        .with_context(|| format!("parsing {}", path.display()))
}

fn write_nr(n: u64) -> Result<()> {
    let p = Path::new(HP_DIR).join("nr_hugepages");
    std::fs::write(&p, n.to_string()).with_context(|| format!("writing {n} to {}", p.display()))
}

/// Mount points of hugetlbfs file systems of 2 MiB pages (the default size on x86-64).
pub fn hugetlbfs_mounts() -> Vec<PathBuf> {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return vec![];
    };
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4
                && f[2] == "hugetlbfs"
                && !f[3]
                    .split(',')
                    .any(|o| o.starts_with("pagesize=") && o != "pagesize=2M"))
            .then(|| PathBuf::from(f[1]))
        })
        .collect()
}

/// Free 2 MiB hugepages right now.
pub fn free_hugepages() -> Result<u64> {
    read_u64(&Path::new(HP_DIR).join("free_hugepages"))
}

/// Makes at least `pages` free 2 MiB hugepages available (raising `nr_hugepages`) and a
/// hugetlbfs mount; on drop, puts `nr_hugepages` back to its previous value and unmounts what it
/// mounted.
#[derive(Debug)]
pub struct HugepageGuard {
    previous: u64,
    set_to: Option<u64>,
    mounted: Option<PathBuf>,
}

impl HugepageGuard {
    pub fn reserve(pages: u64) -> Result<HugepageGuard> {
        let nr_path = Path::new(HP_DIR).join("nr_hugepages");
        let previous = read_u64(&nr_path)?;
        let mut guard = HugepageGuard {
            previous,
            set_to: None,
            mounted: None,
        };
        let free = free_hugepages()?;
        if free < pages {
            let target = previous + (pages - free);
            write_nr(target)?;
            guard.set_to = Some(target);
            let now_free = free_hugepages()?;
            if now_free < pages {
                bail!(
                    "asked for {pages} free 2 MiB hugepages (nr_hugepages {previous} -> {target}) \
                     but only {now_free} are free (memory fragmented or in use)"
                );
            }
        }
        if hugetlbfs_mounts().is_empty() {
            std::fs::create_dir_all(DEFAULT_MOUNT)?;
            run(
                "mount",
                &[
                    "-t",
                    "hugetlbfs",
                    "-o",
                    "pagesize=2M",
                    "nodev",
                    DEFAULT_MOUNT,
                ],
            )?;
            guard.mounted = Some(PathBuf::from(DEFAULT_MOUNT));
        }
        Ok(guard)
    }

    /// The value of `nr_hugepages` before the guard changed it.
    pub fn previous(&self) -> u64 {
        self.previous
    }
}

impl Drop for HugepageGuard {
    fn drop(&mut self) {
        if let Some(m) = &self.mounted {
            if let Err(e) = run("umount", &[&m.to_string_lossy()]) {
                eprintln!("cleanup: {e:#}");
            }
        }
        if self.set_to.is_some() {
            if let Err(e) = write_nr(self.previous) {
                eprintln!("cleanup: {e:#}");
            }
        }
    }
}
