//! Helpers shared by the integration tests of `egress-sidecar`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const SIDECAR: &str = env!("CARGO_BIN_EXE_egress-sidecar");

/// The dSSM variables the sidecar reads; removed from every child so tests do not depend on
/// the environment they run in.
pub const DSSM_VARS: [&str; 8] = [
    "SESSIONDB_EXTERNAL_STORAGE",
    "SESSIONDB_DISCOVERY_SENTINEL",
    "SESSIONDB_EXTERNAL_SERVICE",
    "SESSIONDB_SENTINEL_MASTER",
    "REDIS_CA_FILE",
    "REDIS_AUTH_CERT",
    "REDIS_AUTH_KEY",
    "EGRESS_DSSM_INSECURE",
];

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh empty directory under the target's temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "sidecar-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Copies the files of `src` (flat) into `dst`.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// A sidecar command with a clean dSSM environment plus `env`.
pub fn sidecar(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(SIDECAR);
    c.args(args);
    for v in DSSM_VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs `egress-sidecar render`.
pub fn render(cr_dir: &Path, tmm: u32, extra: &[&str], env: &[(&str, &str)], out: &Path) -> Output {
    let tmm = tmm.to_string();
    let mut args = vec![
        "render",
        "--cr-dir",
        cr_dir.to_str().unwrap(),
        "--tmm-index",
        &tmm,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sidecar(&args, env).output().expect("run egress-sidecar")
}

/// Replaces `from` by `to` in `file` (which must contain it).
pub fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        file.display()
    );
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}
