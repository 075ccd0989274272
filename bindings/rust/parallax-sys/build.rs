//! Finds libparallax and links it, in this order:
//!
//! 1. `$PARALLAX_LIB_DIR`, the directory holding libparallax.so (ctest sets it
//!    to the freshly built library's directory);
//! 2. the repository's build tree, `build/src` at the root of the checkout
//!    this crate lives in (`bindings/rust/parallax-sys/../../../build/src`,
//!    i.e. `../../build/src` from the cargo workspace), as `make build` leaves it;
//! 3. `pkg-config --libs parallax` (run as a process: an installed library,
//!    with `PKG_CONFIG_PATH` for a prefix of one's own).
//!
//! It emits `rustc-link-search` and `rustc-link-lib=parallax`, an rpath to that
//! directory for this crate's own tests, and `cargo:lib_dir=...`, which crates
//! depending on this one read as `DEP_PARALLAX_LIB_DIR` to add the same rpath
//! to their test and example binaries (`rustc-link-arg` only reaches the
//! binaries of the package that emits it).
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENV_VAR: &str = "PARALLAX_LIB_DIR";

fn has_library(dir: &Path) -> bool {
    ["libparallax.so", "libparallax.so.0", "libparallax.a"].iter().any(|name| dir.join(name).exists())
}

/// `-L` directories (and whether `-lparallax` was named) from `pkg-config --libs parallax`.
fn from_pkg_config() -> Result<Vec<PathBuf>, String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let output = Command::new(&pkg_config)
        .args(["--libs", "parallax"])
        .output()
        .map_err(|e| format!("could not run `{pkg_config} --libs parallax`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{pkg_config} --libs parallax` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut dirs = Vec::new();
    let mut links = false;
    for word in text.split_whitespace() {
        if let Some(dir) = word.strip_prefix("-L") {
            dirs.push(PathBuf::from(dir));
        } else if word == "-lparallax" {
            links = true;
        }
    }
    if !links {
        return Err(format!("`{pkg_config} --libs parallax` printed `{}`, without -lparallax", text.trim()));
    }
    Ok(dirs)
}

fn main() {
    println!("cargo:rerun-if-env-changed={ENV_VAR}");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-changed=build.rs");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let build_tree = manifest.join("../../../build/src");

    let dirs: Vec<PathBuf> = match env::var_os(ENV_VAR).filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if !has_library(&dir) {
                panic!(
                    "{ENV_VAR}={} holds no libparallax.so: set it to the directory of the library \
                     (e.g. build/src after `cmake --build build`)",
                    dir.display()
                );
            }
            vec![dir]
        }
        None if has_library(&build_tree) => {
            println!("cargo:rerun-if-changed={}", build_tree.display());
            vec![build_tree.canonicalize().unwrap_or(build_tree)]
        }
        None => match from_pkg_config() {
            Ok(dirs) => dirs,
            Err(why) => panic!(
                "libparallax not found: {ENV_VAR} is not set, {} holds no libparallax.so, and {why}. \
                 Build the library (`make build`) or set {ENV_VAR} to the directory of libparallax.so.",
                build_tree.display()
            ),
        },
    };

    for dir in &dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    println!("cargo:rustc-link-lib=dylib=parallax");
    // Read by dependents as DEP_PARALLAX_LIB_DIR (this package declares `links = "parallax"`).
    let joined = env::join_paths(&dirs).expect("library directories without ':'");
    println!("cargo:lib_dir={}", joined.to_string_lossy());
}
