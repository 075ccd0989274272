//! What the test files share: the repository's paths and runtimes on the machine profiles.
#![allow(dead_code)]

use std::path::PathBuf;

use parallax::Runtime;

/// The root of the checkout (bindings/rust/parallax/../../..).
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..").canonicalize().expect("the repository")
}

/// profiles/NAME.json.
pub fn profile(name: &str) -> String {
    let path = repo_dir().join("profiles").join(format!("{name}.json"));
    assert!(path.is_file(), "{}", path.display());
    path.to_string_lossy().into_owned()
}

/// A runtime on the 2-CPU machine profile (the CI machine's size).
pub fn tiny() -> Runtime {
    Runtime::builder().machine_profile(profile("tiny-2c-4g")).build().expect("a runtime on tiny-2c-4g")
}

/// A runtime on this machine that may use PoCL (a CPU OpenCL device), with a disk cache of its own.
pub fn device_runtime() -> Runtime {
    Runtime::builder()
        .device_types(parallax::DeviceTypes::ANY)
        .cache_dir(cache_dir())
        .build()
        .expect("a runtime with OpenCL devices")
}

/// One program cache for every test binary's runtimes (builds on PoCL cost seconds).
pub fn cache_dir() -> PathBuf {
    let dir = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("parallax-rust-test-cache");
    std::fs::create_dir_all(&dir).expect("the cache dir");
    dir
}

/// The message of an error, asserting its variant by status.
pub fn message_of<T: std::fmt::Debug>(result: parallax::Result<T>, status: i32) -> String {
    match result {
        Ok(v) => panic!("expected status {status}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.status(), status, "{e}");
            e.message().to_string()
        }
    }
}
