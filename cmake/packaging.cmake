# Debian packages of the install components (make package = cpack -G DEB):
#   libparallax0      the shared library (runtime component)
#   libparallax-dev   header, libparallax.so link, CMake package, pkg-config
#   parallax-tools    the parallax command and the machine profiles
# Dependencies on Debian's libraries come from dpkg-shlibdeps; the -dev and
# -tools packages depend on libparallax0 of the same version.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME parallax)
set(CPACK_PACKAGE_VENDOR "Parallax")
set(CPACK_PACKAGE_CONTACT "Parallax developers <parallax@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Embeddable parallel runtime for scientific image processing")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev tools)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The tools link libparallax.so.0 of this build, not an installed one.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${PROJECT_BINARY_DIR}/src")
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libparallax0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_GENERATE_SHLIBS ON)  # a shlibs file for packages built against it
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "Parallax shared library: plans sized to the machine, parallel loops on oneTBB, OpenCL kernels, image stacking and mosaic co-addition behind a stable C ABI")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libparallax-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_DEV_DESCRIPTION "Parallax development files: parallax.h, CMake package (find_package(Parallax)) and pkg-config file")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME parallax-tools)
set(CPACK_COMPONENT_TOOLS_DEPENDS runtime)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "The parallax command: info, plan, stack, coadd and bench, with machine profiles")

include(CPack)
