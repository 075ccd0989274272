//! Versions of the loaded library, the compatibility check every handle's
//! constructor makes, and status names.

use std::ffi::CStr;
use std::fmt;

use parallax_sys as sys;

use crate::error::{Error, Result};

/// A library version, major.minor.patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// Unpacks `major * 10000 + minor * 100 + patch` (`plx_version`).
    pub fn from_number(number: u32) -> Version {
        Version { major: number / 10000, minor: number / 100 % 100, patch: number % 100 }
    }

    /// The packed form, `major * 10000 + minor * 100 + patch`.
    pub fn number(&self) -> u32 {
        self.major * 10000 + self.minor * 100 + self.patch
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The header version this binding was written for (`PLX_VERSION_*` of include/parallax.h).
pub const HEADER_VERSION: Version = Version {
    major: sys::PLX_VERSION_MAJOR as u32,
    minor: sys::PLX_VERSION_MINOR as u32,
    patch: sys::PLX_VERSION_PATCH as u32,
};

/// The version of the library actually loaded (`plx_version`).
pub fn version() -> Version {
    // SAFETY: no arguments, no state.
    Version::from_number(unsafe { sys::plx_version() })
}

/// The loaded library's version as text, e.g. "0.1.0" (`plx_version_string`).
pub fn version_string() -> &'static str {
    // SAFETY: static storage, never NULL, never freed.
    unsafe { CStr::from_ptr(sys::plx_version_string()) }.to_str().unwrap_or("?")
}

/// Whether the loaded library can serve a host written for header `major.minor`
/// (`plx_abi_compatible`): same major version, library minor at least `minor`.
pub fn abi_compatible(major: i32, minor: i32) -> bool {
    // SAFETY: plain values.
    unsafe { sys::plx_abi_compatible(major, minor) != 0 }
}

/// The name of a status, e.g. "PLX_ERR_INVALID_ARGUMENT"; "PLX_ERR_UNKNOWN" for values the
/// library does not know (`plx_status_string`).
pub fn status_string(status: i32) -> &'static str {
    // SAFETY: static storage, never NULL.
    unsafe { CStr::from_ptr(sys::plx_status_string(status)) }.to_str().unwrap_or("PLX_ERR_UNKNOWN")
}

/// Whether a library of version `loaded` (for which `plx_abi_compatible(header major, header
/// minor)` answered `abi_ok`) can serve this binding: the same major version and a minor at
/// least the header's. The error says which library and what is needed.
pub fn check_compatible(loaded: Version, loaded_text: &str, abi_ok: bool) -> Result<()> {
    if abi_ok && loaded.major == HEADER_VERSION.major && loaded.minor >= HEADER_VERSION.minor {
        return Ok(());
    }
    Err(Error::Version(format!(
        "the loaded libparallax is {loaded_text} (plx_version {}), which cannot serve this binding, written for \
         header {}.{}: it needs a library {}.x with x >= {}. Point PARALLAX_LIB_DIR (at build time) or \
         LD_LIBRARY_PATH (at run time) to a libparallax {}.x, or rebuild the binding against the library you have.",
        loaded.number(),
        HEADER_VERSION.major,
        HEADER_VERSION.minor,
        HEADER_VERSION.major,
        HEADER_VERSION.minor,
        HEADER_VERSION.major,
    )))
}

/// Checks that the loaded library can serve this binding (see [`check_compatible`]). Every
/// constructor of a handle ([`crate::Runtime`], [`crate::CancelToken`]) calls it, so an
/// incompatible library is refused with [`Error::Version`] before it is used.
pub fn check_library() -> Result<Version> {
    let loaded = version();
    let abi_ok = abi_compatible(sys::PLX_VERSION_MAJOR, sys::PLX_VERSION_MINOR);
    check_compatible(loaded, version_string(), abi_ok).map(|()| loaded)
}
