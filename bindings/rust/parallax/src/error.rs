//! Errors: one [`Error`] variant per `plx_status_t`, each carrying the
//! library's message (`plx_last_error_message`, read on the calling thread
//! right after the failing call).

use std::ffi::CStr;
use std::fmt;

use parallax_sys as sys;

/// A failure reported by libparallax, or found by the binding before a call
/// (then with the status the library would have given). The `String` is the
/// message: what was wrong, which argument and value, and what to do.
///
/// A callback that panics (or returns an error) ends its run with
/// [`Error::TaskFailed`], whose message is the library's followed by what the
/// callback said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// PLX_ERR_INVALID_ARGUMENT: an argument is missing, out of range or inconsistent.
    InvalidArgument(String),
    /// PLX_ERR_OUT_OF_MEMORY: memory is insufficient, or a plan's minimum does not fit the budget.
    OutOfMemory(String),
    /// PLX_ERR_DEVICE: an OpenCL call failed; the message names the call and error.
    Device(String),
    /// PLX_ERR_NO_DEVICE: a device was required and none matched.
    NoDevice(String),
    /// PLX_ERR_CANCELLED: a cancel token, a job's cancel or a progress callback stopped the run.
    Cancelled(String),
    /// PLX_ERR_TASK_FAILED: a callback returned non-zero, panicked, or one or more tasks failed.
    TaskFailed(String),
    /// PLX_ERR_UNSUPPORTED: valid, but this build or machine cannot do it.
    Unsupported(String),
    /// PLX_ERR_VERSION: a library/binding version mismatch.
    Version(String),
    /// PLX_ERR_IO: a file could not be read or written.
    Io(String),
    /// PLX_ERR_INTERNAL: a bug in Parallax; please report it.
    Internal(String),
    /// PLX_ERR_BUFFER_TOO_SMALL: a caller buffer was too small (the binding retries itself).
    BufferTooSmall(String),
    /// PLX_ERR_TIMEOUT: a wait ended before the job did; the job goes on.
    Timeout(String),
    /// A status this binding does not know (a newer library).
    Unknown { status: i32, message: String },
}

/// `Result<T, parallax::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error for a failed call's status and message.
    pub fn from_status(status: i32, message: impl Into<String>) -> Error {
        let message = message.into();
        match status {
            sys::PLX_ERR_INVALID_ARGUMENT => Error::InvalidArgument(message),
            sys::PLX_ERR_OUT_OF_MEMORY => Error::OutOfMemory(message),
            sys::PLX_ERR_DEVICE => Error::Device(message),
            sys::PLX_ERR_NO_DEVICE => Error::NoDevice(message),
            sys::PLX_ERR_CANCELLED => Error::Cancelled(message),
            sys::PLX_ERR_TASK_FAILED => Error::TaskFailed(message),
            sys::PLX_ERR_UNSUPPORTED => Error::Unsupported(message),
            sys::PLX_ERR_VERSION => Error::Version(message),
            sys::PLX_ERR_IO => Error::Io(message),
            sys::PLX_ERR_INTERNAL => Error::Internal(message),
            sys::PLX_ERR_BUFFER_TOO_SMALL => Error::BufferTooSmall(message),
            sys::PLX_ERR_TIMEOUT => Error::Timeout(message),
            _ => Error::Unknown { status, message },
        }
    }

    /// The numeric `plx_status_t` (never `PLX_OK`).
    pub fn status(&self) -> i32 {
        match self {
            Error::InvalidArgument(_) => sys::PLX_ERR_INVALID_ARGUMENT,
            Error::OutOfMemory(_) => sys::PLX_ERR_OUT_OF_MEMORY,
            Error::Device(_) => sys::PLX_ERR_DEVICE,
            Error::NoDevice(_) => sys::PLX_ERR_NO_DEVICE,
            Error::Cancelled(_) => sys::PLX_ERR_CANCELLED,
            Error::TaskFailed(_) => sys::PLX_ERR_TASK_FAILED,
            Error::Unsupported(_) => sys::PLX_ERR_UNSUPPORTED,
            Error::Version(_) => sys::PLX_ERR_VERSION,
            Error::Io(_) => sys::PLX_ERR_IO,
            Error::Internal(_) => sys::PLX_ERR_INTERNAL,
            Error::BufferTooSmall(_) => sys::PLX_ERR_BUFFER_TOO_SMALL,
            Error::Timeout(_) => sys::PLX_ERR_TIMEOUT,
            Error::Unknown { status, .. } => *status,
        }
    }

    /// The status's name from `plx_status_string`, e.g. "PLX_ERR_INVALID_ARGUMENT".
    pub fn status_name(&self) -> &'static str {
        crate::version::status_string(self.status())
    }

    /// The message: the library's (or the binding's) explanation.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidArgument(m)
            | Error::OutOfMemory(m)
            | Error::Device(m)
            | Error::NoDevice(m)
            | Error::Cancelled(m)
            | Error::TaskFailed(m)
            | Error::Unsupported(m)
            | Error::Version(m)
            | Error::Io(m)
            | Error::Internal(m)
            | Error::BufferTooSmall(m)
            | Error::Timeout(m) => m,
            Error::Unknown { message, .. } => message,
        }
    }

    /// The error of the last failed Parallax call on this thread, given the status it returned
    /// (`plx_last_error_message`). Call it right after the failing call.
    pub(crate) fn last(status: i32) -> Error {
        // SAFETY: never NULL, owned by the library, valid until the next call on this thread; copied at once.
        let message = unsafe { CStr::from_ptr(sys::plx_last_error_message()) }.to_string_lossy().into_owned();
        let message = if message.is_empty() {
            format!("{} (no message)", crate::version::status_string(status))
        } else {
            message
        };
        Error::from_status(status, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidArgument(message.into())
    }

    /// This error with `more` appended to its message (same status).
    pub(crate) fn with_detail(self, more: &str) -> Error {
        let status = self.status();
        let message = if self.message().is_empty() { more.to_string() } else { format!("{}; {more}", self.message()) };
        Error::from_status(status, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status_name(), self.message())
    }
}

impl std::error::Error for Error {}

/// `Ok(())` for `PLX_OK`, else the error with this thread's last message.
pub(crate) fn check(status: i32) -> Result<()> {
    if status == sys::PLX_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}

/// The status and message of the last failure on this thread (`plx_last_error_status`,
/// `plx_last_error_message`); `None` when no Parallax call has failed on it. Successful calls do
/// not clear it.
pub fn last_error() -> Option<Error> {
    // SAFETY: plain reads of thread-local state.
    let status = unsafe { sys::plx_last_error_status() };
    if status == sys::PLX_OK {
        None
    } else {
        Some(Error::last(status))
    }
}
