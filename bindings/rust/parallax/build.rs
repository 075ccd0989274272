//! Gives this package's test and example binaries an rpath to the libparallax
//! that parallax-sys linked (`DEP_PARALLAX_LIB_DIR`, from its `cargo:lib_dir`),
//! so they run without LD_LIBRARY_PATH.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PARALLAX_LIB_DIR");
    if let Some(dirs) = env::var_os("DEP_PARALLAX_LIB_DIR") {
        for dir in env::split_paths(&dirs) {
            if !dir.as_os_str().is_empty() {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
        }
    }
}
