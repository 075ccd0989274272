# The Rust binding's tests, included by tests/CMakeLists.txt:
#   rust.binding  `cargo test` of the workspace (parallax-sys and parallax: unit, integration and
#                 doc tests) against the library just built;
#   rust.example  `cargo run --example quickstart`, the README's example.
# Offline and std only (no crate is fetched); everything cargo writes (target dir, its home)
# goes under the build tree. Without rustc and cargo at configure time the tests are registered
# anyway, failing with what to do.

set(PLX_RUST_DIR "${PROJECT_SOURCE_DIR}/bindings/rust")
set(PLX_RUST_BUILD "${CMAKE_BINARY_DIR}/bindings/rust")
find_program(PLX_CARGO cargo DOC "cargo for the Rust binding (Debian's, or a rustup toolchain on PATH)")
find_program(PLX_RUSTC rustc DOC "rustc for the Rust binding")

if(PLX_CARGO AND PLX_RUSTC)
  set(PLX_CARGO_ARGS --offline --locked --manifest-path "${PLX_RUST_DIR}/Cargo.toml")
  add_test(NAME rust.binding COMMAND "${PLX_CARGO}" test ${PLX_CARGO_ARGS} --workspace)
  add_test(NAME rust.example COMMAND "${PLX_CARGO}" run ${PLX_CARGO_ARGS} -p parallax --example quickstart)
  # The example's last line, printed once every step succeeded.
  set_tests_properties(rust.example PROPERTIES PASS_REGULAR_EXPRESSION "coadd: 2640 of 3200 pixels covered")
else()
  set(PLX_RUST_MISSING "rustc and cargo were not found when CMake configured the build: run `make deps` \
(it installs Debian's rustc and cargo unless a toolchain is already on PATH), then `make test` again")
  foreach(name rust.binding rust.example)
    add_test(NAME ${name} COMMAND "${CMAKE_COMMAND}" -E echo "${name}: ${PLX_RUST_MISSING}")
    set_tests_properties(${name} PROPERTIES FAIL_REGULAR_EXPRESSION "not found")
  endforeach()
endif()

set_tests_properties(rust.binding rust.example PROPERTIES
  LABELS "bindings;rust"
  TIMEOUT 600
  # One cargo at a time in the shared target dir (cargo would wait on its lock anyway).
  RESOURCE_LOCK plx_rust_target
  ENVIRONMENT "PARALLAX_LIB_DIR=$<TARGET_FILE_DIR:parallax>;LD_LIBRARY_PATH=$<TARGET_FILE_DIR:parallax>;\
CARGO_TARGET_DIR=${PLX_RUST_BUILD}/target;CARGO_HOME=${PLX_RUST_BUILD}/cargo-home;CARGO_NET_OFFLINE=true;\
CARGO_TERM_COLOR=never;RUST_BACKTRACE=0")
