//! Dropping privileges after start-up (docs/deploy.md, "Privileges after start-up").
//!
//! Linux capabilities and the no-new-privileges flag belong to a thread: [`drop_privileges`]
//! changes the calling thread, and the threads it creates afterwards inherit the result. The
//! VNF calls it on the main thread once the ports are started (before it creates its own
//! threads) and at the start of each worker lcore's function.

/// Capability numbers (linux/capability.h) the VNF may keep.
pub mod cap {
    pub const NET_BIND_SERVICE: u32 = 10;
    pub const NET_ADMIN: u32 = 12;
    pub const NET_RAW: u32 = 13;
    pub const IPC_LOCK: u32 = 14;
    pub const SYS_RAWIO: u32 = 17;
}

/// What [`drop_privileges`] achieved on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped {
    /// `PR_SET_NO_NEW_PRIVS` is set: no execve can grant privileges again.
    pub no_new_privs: bool,
    /// Effective capabilities after the call (bit n = capability n).
    pub effective: u64,
    /// Capabilities removed from the bounding set.
    pub bounding_dropped: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn capget() -> std::io::Result<[CapData; 2]> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget(2) with a version-3 header writes two CapData structs, which `data` holds;
    // both pointers are valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(data)
}

fn capset(data: &[CapData; 2]) -> std::io::Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset(2) with a version-3 header reads two CapData structs from `data`; both
    // pointers are valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> std::io::Result<()> {
    // SAFETY: the prctl options used here (NO_NEW_PRIVS, CAPBSET_DROP, CAP_AMBIENT) take integer
    // arguments only and touch no memory of ours.
    let r = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Effective capabilities of the calling thread (bit n = capability n).
pub fn effective_caps() -> std::io::Result<u64> {
    let d = capget()?;
    Ok(u64::from(d[0].effective) | (u64::from(d[1].effective) << 32))
}

/// On the calling thread: sets no-new-privileges, removes every capability not in `keep` from
/// the bounding set (when the thread may: `CAP_SETPCAP`), clears the ambient set, and keeps only
/// `keep` in the effective, permitted and inheritable sets. A capability in `keep` that the
/// thread does not have is not gained.
pub fn drop_privileges(keep: &[u32]) -> std::io::Result<Dropped> {
    let mut out = Dropped::default();
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)?;
    out.no_new_privs = true;
    let mask: u64 = keep
        .iter()
        .filter(|&&c| c < 64)
        .fold(0, |m, &c| m | (1u64 << c));
    for c in 0..=last_cap().min(63) {
        if mask & (1 << c) == 0 && prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(c)).is_ok() {
            out.bounding_dropped += 1;
        }
    }
    // Ambient capabilities survive execve; none are wanted (EINVAL on old kernels: ignored).
    // SAFETY: PR_CAP_AMBIENT with CLEAR_ALL takes integers only.
    let _ = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    let mut d = capget()?;
    let (lo, hi) = (mask as u32, (mask >> 32) as u32);
    d[0].effective &= lo;
    d[0].permitted &= lo;
    d[0].inheritable &= lo;
    d[1].effective &= hi;
    d[1].permitted &= hi;
    d[1].inheritable &= hi;
    capset(&d)?;
    out.effective = effective_caps()?;
    Ok(out)
}
