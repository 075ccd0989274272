# The Rust binding's tests, included by tests/CMakeLists.txt:
#   rust.binding  `cargo test` of the workspace (parallax-sys and parallax: unit, integration and
#                 doc tests) against the library just built;
#   rust.example  `cargo run --example quickstart`, the README's example.
# Offline and std only (no crate is fetched); everything cargo writes (target dir, its home)
# goes under the build tree. Both run through cargo.sh, which uses the cargo found here or, when
# there was none at configure time, one installed since; without any, the tests fail saying to
# run `make deps`.

set(PLX_RUST_DIR "${PROJECT_SOURCE_DIR}/bindings/rust")
set(PLX_RUST_BUILD "${CMAKE_BINARY_DIR}/bindings/rust")
find_program(PLX_CARGO cargo DOC "cargo for the Rust binding (Debian's, or a rustup toolchain on PATH)")
if(NOT PLX_CARGO)
  message(STATUS "Rust binding: cargo not found; rust.binding and rust.example will fail until `make deps` "
                 "installs rustc and cargo")
endif()

set(PLX_CARGO_RUN /bin/sh "${PLX_RUST_DIR}/cargo.sh")
set(PLX_CARGO_ARGS --offline --locked --manifest-path "${PLX_RUST_DIR}/Cargo.toml")
add_test(NAME rust.binding COMMAND ${PLX_CARGO_RUN} test ${PLX_CARGO_ARGS} --workspace)
add_test(NAME rust.example COMMAND ${PLX_CARGO_RUN} run ${PLX_CARGO_ARGS} -p parallax --example quickstart)
# The example's last line, printed once every step succeeded.
set_tests_properties(rust.example PROPERTIES PASS_REGULAR_EXPRESSION "coadd: 2640 of 3200 pixels covered")
set_tests_properties(rust.binding rust.example PROPERTIES
  LABELS "bindings;rust"
  TIMEOUT 600
  # One cargo at a time in the shared target dir (cargo would wait on its lock anyway).
  RESOURCE_LOCK plx_rust_target
  ENVIRONMENT "PLX_CARGO=${PLX_CARGO};PARALLAX_LIB_DIR=$<TARGET_FILE_DIR:parallax>;\
LD_LIBRARY_PATH=$<TARGET_FILE_DIR:parallax>;CARGO_TARGET_DIR=${PLX_RUST_BUILD}/target;\
CARGO_HOME=${PLX_RUST_BUILD}/cargo-home;CARGO_NET_OFFLINE=true;CARGO_TERM_COLOR=never;RUST_BACKTRACE=0")
