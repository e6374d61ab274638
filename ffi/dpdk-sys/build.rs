//! Finds DPDK with `pkg-config libdpdk`, compiles `csrc/shim.c` (the `static inline` functions of
//! DPDK exported as real symbols) and generates bindings with an allowlist.
//!
//! `pkg-config --cflags libdpdk` carries `-include rte_config.h` and `-march=...`: the whole string
//! goes to both bindgen and cc. The link flags are handed to dependants through `links = "dpdk"`
//! metadata (`DEP_DPDK_LIBS`), because `cargo:rustc-link-arg` from a library does not reach binaries.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkg-config (apt-get install pkg-config): {e}"));
    if !out.status.success() {
        panic!(
            "pkg-config {:?} libdpdk failed: {} (apt-get install libdpdk-dev)",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let cflags = pkg_config(&["--cflags"]);
    let libs = pkg_config(&["--libs"]);

    // C shim.
    let mut build = cc::Build::new();
    build.file("csrc/shim.c").opt_level(3).warnings(false);
    // The shim is linked into the executable: DPDK's per-lcore thread-locals (lcore id, used by
    // every mempool get/put) are then reached without a __tls_get_addr call per access.
    build.flag("-ftls-model=initial-exec");
    for f in &cflags {
        build.flag(f);
    }
    build.compile("egress_dpdk_shim");

    // Link DPDK (shared libraries; PMDs are loaded from the built-in driver directory at EAL init).
    for l in &libs {
        if let Some(dir) = l.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = l.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
    // Exported to dependants as DEP_DPDK_LIBS (space separated) in case a binary needs them.
    println!("cargo:libs={}", libs.join(" "));

    let bindings = bindgen::Builder::default()
        .header("csrc/shim.h")
        .clang_args(cflags.iter().map(String::as_str))
        .allowlist_function("rte_.*")
        .allowlist_function("egress_shim_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("RTE_ETH_.*")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .blocklist_function("rte_.*_v[0-9]+")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .generate()
        .expect("bindgen failed on csrc/shim.h (apt-get install libclang-dev)");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(out).expect("cannot write bindings");
}
