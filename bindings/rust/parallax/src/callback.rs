//! What every callback shares: panics are caught where the library calls in
//! (nothing unwinds into C), callbacks may return `()`, an `i32` code or a
//! `Result`, and the first failure of a run is kept to explain the error the
//! call returns.

use std::any::Any;
use std::fmt::Display;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use parallax_sys as sys;

use crate::error::{Error, Result};

/// What a callback (loop body, provider, CPU fallback, coordinate map, tile function) may return:
/// `()` for success, an `i32` code (0 = success, anything else fails the run and appears in the
/// library's message and the run report), or a `Result<(), E>` whose error's text is added to the
/// message of the [`Error::TaskFailed`] the call returns.
pub trait CallbackResult {
    #[doc(hidden)]
    fn into_outcome(self) -> Outcome;
}

#[doc(hidden)]
#[derive(Debug)]
pub enum Outcome {
    Ok,
    Code(c_int),
    Failed(String),
}

impl CallbackResult for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl CallbackResult for () {
    fn into_outcome(self) -> Outcome {
        Outcome::Ok
    }
}

impl CallbackResult for i32 {
    fn into_outcome(self) -> Outcome {
        if self == 0 {
            Outcome::Ok
        } else {
            Outcome::Code(self)
        }
    }
}

impl<E: Display> CallbackResult for std::result::Result<(), E> {
    fn into_outcome(self) -> Outcome {
        match self {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// What a progress callback may return: `()` to go on, or a `ControlFlow` whose `Break` cancels
/// the run (it ends with [`Error::Cancelled`]).
pub trait ProgressResult {
    #[doc(hidden)]
    fn keep_going(self) -> bool;
}

impl ProgressResult for () {
    fn keep_going(self) -> bool {
        true
    }
}

impl ProgressResult for std::ops::ControlFlow<()> {
    fn keep_going(self) -> bool {
        matches!(self, std::ops::ControlFlow::Continue(()))
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// The first failure of a run's callbacks (by key: the lowest item, row or frame), and whether
/// any panicked.
#[derive(Default)]
pub(crate) struct Failures {
    first: Mutex<Option<(i64, String)>>,
    any: AtomicBool,
}

impl Failures {
    pub(crate) fn record(&self, key: i64, text: String) {
        self.any.store(true, Ordering::Release);
        let mut first = lock(&self.first);
        match &*first {
            Some((k, _)) if *k <= key => {}
            _ => *first = Some((key, text)),
        }
    }

    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// `error` (a call's, read right after it) made a [`Error::TaskFailed`] explained by the first
    /// failure when a callback failed.
    pub(crate) fn explain(&self, error: Error) -> Error {
        match lock(&self.first).take() {
            Some((_, text)) => Error::TaskFailed(error.with_detail(&text).message().to_string()),
            None => error,
        }
    }

    /// The call's result from its error (None: PLX_OK) and what the callbacks recorded: a
    /// callback's failure is an error even when the library did not report one.
    pub(crate) fn finish(&self, error: Option<Error>) -> Result<()> {
        match error {
            Some(e) => Err(self.explain(e)),
            None => match lock(&self.first).take() {
                Some((_, text)) => Err(Error::TaskFailed(text)),
                None => Ok(()),
            },
        }
    }
}

/// Locks a mutex whether or not a panicking callback poisoned it (the binding caught that panic
/// and reported it; the data stays usable).
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a callback for the library: its outcome as the C return code, recording failures and
/// panics (`what` describes the call for the message, and is only built on failure).
pub(crate) fn guard<R, F, W>(failures: &Failures, key: i64, what: W, f: F) -> c_int
where
    F: FnOnce() -> R,
    R: CallbackResult,
    W: FnOnce() -> String,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => match result.into_outcome() {
            Outcome::Ok => 0,
            Outcome::Code(code) => code,
            Outcome::Failed(text) => {
                failures.record(key, format!("{} failed: {text}", what()));
                -1
            }
        },
        Err(payload) => {
            failures.record(key, format!("{} panicked: {}", what(), panic_message(&*payload)));
            -1
        }
    }
}

/// A string as a C string for the library, refusing interior NULs with the field's name.
pub(crate) fn c_string(field: &str, text: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(text).map_err(|_| {
        Error::invalid(format!("{field} contains a NUL character at byte {}", text.find('\0').unwrap_or(0)))
    })
}

/// A path as a C string (its bytes, as the OS has them).
pub(crate) fn c_path(field: &str, path: &std::path::Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("{field} ({}) contains a NUL character", path.display())))
}

/// The pointer of an optional C string (NULL for None).
pub(crate) fn opt_ptr(s: &Option<std::ffi::CString>) -> *const std::os::raw::c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// A NUL-terminated `char` array of a struct as a String (lossy UTF-8; the whole array when it
/// has no NUL).
pub(crate) fn text_of(chars: &[std::os::raw::c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Copies `text` into a C char array: at most len - 1 bytes of UTF-8, cut on a character
/// boundary, NULs shown as "\0", then a NUL.
pub(crate) fn write_text(dst: &mut [std::os::raw::c_char], text: &str) {
    if dst.is_empty() {
        return;
    }
    let cleaned;
    let text = if text.contains('\0') {
        cleaned = text.replace('\0', "\\0");
        cleaned.as_str()
    } else {
        text
    };
    let mut end = text.len().min(dst.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (d, &b) in dst.iter_mut().zip(&text.as_bytes()[..end]) {
        *d = b as std::os::raw::c_char;
    }
    dst[end] = 0;
}

/// A zeroed C struct filled by its `plx_xxx_init(&s, sizeof s)`.
pub(crate) fn init_struct<T>(init: unsafe extern "C" fn(*mut T, usize) -> sys::plx_status_t) -> Result<T> {
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: the init function writes at most size_of::<T>() bytes into the zeroed value.
    check(unsafe { init(value.as_mut_ptr(), std::mem::size_of::<T>()) })?;
    // SAFETY: zeroed then initialised by the library; every field of these structs accepts all bits
    // (integers, floats, raw pointers and Option<extern fn>, whose zero is None).
    Ok(unsafe { value.assume_init() })
}

use crate::error::check;

/// A C struct whose first field is struct_size, zeroed with struct_size set (for structs the
/// library fills: caps, device info, plan info, reports...).
pub(crate) fn sized<T>() -> T {
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: every such struct begins with `size_t struct_size`; zero is valid for all fields.
    unsafe {
        (value.as_mut_ptr() as *mut usize).write(std::mem::size_of::<T>());
        value.assume_init()
    }
}

/// A length as the library's int64, refusing what does not fit.
pub(crate) fn len_i64(field: &str, n: usize) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::invalid(format!("{field} = {n} does not fit an int64")))
}

/// A count as the library's int32, refusing what does not fit.
pub(crate) fn len_i32(field: &str, n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::invalid(format!("{field} = {n} does not fit an int32")))
}
