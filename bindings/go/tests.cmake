# The Go binding's suites, run by ctest (and so by `make test`); included from
# tests/CMakeLists.txt. `go test` builds bindings/go/parallax with cgo against
# the library just built: a parallax.pc generated for the build tree is what
# `#cgo pkg-config: parallax` finds, and LD_LIBRARY_PATH is where the tests
# load it from. Go's build cache and GOPATH live under the build directory;
# modules come from nowhere (GOPROXY=off: the package uses the standard
# library only, and the example module points at it with a replace).

set(PLX_GO_DIR "${CMAKE_BINARY_DIR}/bindings-go")
set(PLX_GO_SOURCE "${PROJECT_SOURCE_DIR}/bindings/go")
find_program(PLX_GO go)

if(NOT PLX_GO)
  # Not silently skipped: the suites fail, saying how to get Go.
  foreach(name go.binding examples.quickstart_go)
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo
             "${name}: no `go` was found when CMake configured: run `make deps` (it installs Debian's golang-go), then configure again")
    set_tests_properties(${name} PROPERTIES LABELS "bindings;go" FAIL_REGULAR_EXPRESSION "make deps")
  endforeach()
  return()
endif()

file(GENERATE OUTPUT "${CMAKE_BINARY_DIR}/bindings-pkgconfig/parallax.pc" CONTENT
"Name: parallax
Description: libparallax in the build tree, for the bindings' tests
Version: ${PROJECT_VERSION}
Cflags: -I${PROJECT_SOURCE_DIR}/include
Libs: -L$<TARGET_FILE_DIR:parallax> -lparallax
")

# Go's build cache does not see C headers outside the package: a hash of the
# header in CGO_CFLAGS makes a changed header rebuild the cgo code (and a
# changed header reconfigures, to compute it again).
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/include/parallax.h")
file(MD5 "${PROJECT_SOURCE_DIR}/include/parallax.h" PLX_HEADER_MD5)

set(PLX_GO_ENV
  "PKG_CONFIG_PATH=${CMAKE_BINARY_DIR}/bindings-pkgconfig"
  "LD_LIBRARY_PATH=$<TARGET_FILE_DIR:parallax>"
  "CGO_ENABLED=1"
  "CGO_CFLAGS=-O2 -g -DPLX_GO_HEADER_MD5=${PLX_HEADER_MD5}"
  "GOFLAGS=-mod=mod"
  "GOPROXY=off"
  "GOENV=off"
  "GOCACHE=${PLX_GO_DIR}/cache"
  "GOPATH=${PLX_GO_DIR}/path"
  "GOTMPDIR=${PLX_GO_DIR}/tmp"
  "XDG_CACHE_HOME=${PLX_GO_DIR}/xdg-cache"
  "POCL_CACHE_DIR=${PLX_GO_DIR}/pocl-cache")
file(MAKE_DIRECTORY "${PLX_GO_DIR}/tmp")

# -count=1: Go caches test results, and would not see the library change.
add_test(NAME go.binding
         COMMAND ${PLX_GO} test -count=1 -timeout 5m ./...
         WORKING_DIRECTORY "${PLX_GO_SOURCE}/parallax")
add_test(NAME examples.quickstart_go
         COMMAND ${PLX_GO} run ./quickstart
         WORKING_DIRECTORY "${PLX_GO_SOURCE}/examples")
set_tests_properties(go.binding examples.quickstart_go PROPERTIES
  LABELS "bindings;go" ENVIRONMENT "${PLX_GO_ENV}" TIMEOUT 600)
set_tests_properties(examples.quickstart_go PROPERTIES LABELS "bindings;go;examples"
  PASS_REGULAR_EXPRESSION "stack: pixel 7 = 100[.]55 from 11 of 12 frames.*coadd: row 0 = \\[10 10 15 15 20 20\\].*parallel_for: [0-9]+ chunks")
