//! One error type for every DPDK call: the call's name, the errno and DPDK's text for it.

use std::ffi::CStr;
use std::os::raw::c_int;

/// A failed DPDK call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call}: {message} (errno {code})")]
pub struct DpdkError {
    /// The DPDK function that failed.
    pub call: &'static str,
    /// Positive errno value.
    pub code: i32,
    /// `rte_strerror(code)`.
    pub message: String,
}

impl DpdkError {
    /// Builds an error from a positive errno value.
    pub fn new(call: &'static str, code: i32) -> DpdkError {
        let code = code.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string
        // for any errno value; it is copied before anything else can overwrite it.
        let message = unsafe {
            let p = dpdk_sys::rte_strerror(code);
            if p.is_null() {
                format!("error {code}")
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        DpdkError {
            call,
            code,
            message,
        }
    }

    /// Builds an error from the current `rte_errno` (for calls that return -1 or NULL).
    pub fn from_rte_errno(call: &'static str) -> DpdkError {
        // SAFETY: the shim reads the per-thread rte_errno; no memory is touched.
        let code = unsafe { dpdk_sys::egress_shim_errno() };
        DpdkError::new(call, if code == 0 { libc_einval() } else { code })
    }

    /// An error with a message of ours (argument checks before calling DPDK).
    pub fn invalid(call: &'static str, message: impl Into<String>) -> DpdkError {
        DpdkError {
            call,
            code: libc_einval(),
            message: message.into(),
        }
    }
}

const fn libc_einval() -> i32 {
    22
}

/// Turns a DPDK return code (negative errno on failure) into a `Result`.
#[inline]
pub(crate) fn check(call: &'static str, ret: c_int) -> Result<c_int, DpdkError> {
    if ret < 0 {
        Err(DpdkError::new(call, -ret))
    } else {
        Ok(ret)
    }
}
