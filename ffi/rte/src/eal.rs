//! EAL initialisation and cleanup, TSC helpers.

use crate::error::DpdkError;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

static INITIALISED: AtomicBool = AtomicBool::new(false);
/// True between a successful `rte_eal_init` and `rte_eal_cleanup`: handles dropped outside that
/// window (after the `Eal`) must not call into DPDK, whose memory is gone.
static ALIVE: AtomicBool = AtomicBool::new(false);
/// True while the packet-capture server (`rte_pdump_init`) is up: uninitialised before cleanup.
static PDUMP: AtomicBool = AtomicBool::new(false);

/// Whether DPDK memory may be used (the EAL is initialised and not yet cleaned up).
#[inline(always)]
pub(crate) fn alive() -> bool {
    ALIVE.load(Ordering::Relaxed)
}

/// The initialised Environment Abstraction Layer. Only one may exist per process (DPDK cannot be
/// initialised twice). Dropping it waits for every worker lcore, then calls `rte_eal_cleanup`.
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises the EAL from an argument list (without the program name, which is added).
    /// A bad argument yields an error (DPDK prints its own usage text on stderr).
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::invalid(
                "rte_eal_init",
                "the EAL is already initialised in this process",
            ));
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("egress-vnf").expect("static name has no NUL"));
        for a in args {
            let a = a.as_ref();
            match CString::new(a) {
                Ok(c) => owned.push(c),
                Err(_) => {
                    INITIALISED.store(false, Ordering::SeqCst);
                    return Err(DpdkError::invalid(
                        "rte_eal_init",
                        format!("EAL argument {a:?} contains a NUL byte"),
                    ));
                }
            }
        }
        // DPDK may keep pointers into argv for the life of the process: leak the strings.
        let mut argv: Vec<*mut c_char> = owned.into_iter().map(CString::into_raw).collect();
        let argc = argv.len() as c_int;
        // SAFETY: argv holds argc valid NUL-terminated strings that are never freed; EAL may
        // permute the pointer array, which we own and leak below.
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        std::mem::forget(argv);
        if ret < 0 {
            return Err(DpdkError::from_rte_errno("rte_eal_init"));
        }
        ALIVE.store(true, Ordering::SeqCst);
        Ok(Eal { _private: () })
    }

    /// Starts DPDK's packet-capture server so that `dpdk-dumpcap` / `dpdk-pdump`, started as
    /// secondary processes with the same `--file-prefix`, can capture from this process's
    /// ports. The capture callbacks only run while a capture is active. Needs shared memory
    /// (hugepages): under `--no-huge` it succeeds but no secondary can attach.
    pub fn enable_pdump(&self) -> Result<(), DpdkError> {
        if PDUMP.load(Ordering::SeqCst) {
            return Ok(());
        }
        // SAFETY: called after a successful rte_eal_init on the main thread; registers a
        // multi-process action handler, undone by rte_pdump_uninit in Drop.
        let ret = unsafe { dpdk_sys::rte_pdump_init() };
        if ret < 0 {
            return Err(DpdkError::from_rte_errno("rte_pdump_init"));
        }
        PDUMP.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// The path of DPDK's telemetry socket for this process (`dpdk-telemetry.py` connects to
    /// it), or None when telemetry is off (`--no-telemetry`) or the runtime directory unknown.
    pub fn telemetry_socket(&self) -> Option<std::path::PathBuf> {
        // SAFETY: rte_eal_get_runtime_dir returns a static NUL-terminated string after init.
        let dir = unsafe { CStr::from_ptr(dpdk_sys::rte_eal_get_runtime_dir()) }
            .to_string_lossy()
            .into_owned();
        let p = std::path::Path::new(&dir).join("dpdk_telemetry.v2");
        p.exists().then_some(p)
    }

    /// Number of ports probed.
    pub fn port_count(&self) -> u16 {
        crate::port::Port::all().len() as u16
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: waiting for lcores and cleaning up are valid after a successful rte_eal_init;
        // no handle is used after this point (see the crate docs).
        unsafe {
            dpdk_sys::rte_eal_mp_wait_lcore();
            if PDUMP.swap(false, Ordering::SeqCst) {
                dpdk_sys::rte_pdump_uninit();
            }
            ALIVE.store(false, Ordering::SeqCst);
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

/// Reads the time-stamp counter.
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no memory effects; inline, unlike the shim's out-of-line copy.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: rdtsc has no memory effects.
        unsafe { dpdk_sys::egress_shim_rdtsc() }
    }
}

/// TSC frequency in Hz (valid after EAL init).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL computed at init.
    unsafe { dpdk_sys::egress_shim_tsc_hz() }
}

/// The DPDK version string, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: rte_version returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(dpdk_sys::rte_version()) }
        .to_string_lossy()
        .into_owned()
}
