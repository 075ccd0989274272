# GEMM (plx_gemm): its sources, CLBlast for the OpenCL path, and OpenBLAS for
# the CPU path when present (PLX_WITH_OPENBLAS=OFF forces the blocked TBB
# kernel, to build and test the path of machines without OpenBLAS). Included
# by src/CMakeLists.txt after parallax_internal is defined, so the GEMM room
# keeps its build rules to itself.
option(PLX_WITH_OPENBLAS "CPU GEMM through OpenBLAS when it is found (OFF: the blocked kernel)" ON)

pkg_check_modules(CLBLAST REQUIRED IMPORTED_TARGET clblast)  # libclblast-dev

target_sources(parallax_internal PRIVATE
  api/gemm_api.cpp
  kernels/gemm/clblast_status.cpp
  kernels/gemm/gemm_blocked.cpp
  kernels/gemm/gemm_choice.cpp
  kernels/gemm/gemm_clblast.cpp
  kernels/gemm/gemm_cpu.cpp
  kernels/gemm/gemm_run.cpp
  kernels/gemm/gemm_tune.cpp
  kernels/gemm/gemm_tuning.cpp)
target_link_libraries(parallax_internal PUBLIC PkgConfig::CLBLAST)
# The micro-kernel's loops are the point of that file: full optimisation
# whatever the build type (RelWithDebInfo is -O2).
set_source_files_properties(kernels/gemm/gemm_blocked.cpp PROPERTIES COMPILE_OPTIONS "-O3")

# Cached, so that tests/ and the CLI (other directory scopes) see it.
set(PLX_HAVE_OPENBLAS OFF CACHE INTERNAL "the CPU GEMM goes through OpenBLAS")
if(PLX_WITH_OPENBLAS)
  pkg_check_modules(OPENBLAS IMPORTED_TARGET GLOBAL openblas)  # libopenblas-dev
  if(OPENBLAS_FOUND)
    set(PLX_HAVE_OPENBLAS ON CACHE INTERNAL "the CPU GEMM goes through OpenBLAS")
  endif()
endif()
if(PLX_HAVE_OPENBLAS)
  message(STATUS "GEMM: CPU path through OpenBLAS ${OPENBLAS_VERSION}")
  target_sources(parallax_internal PRIVATE kernels/gemm/gemm_openblas.cpp)
  target_compile_definitions(parallax_internal PRIVATE PLX_HAVE_OPENBLAS)
  target_link_libraries(parallax_internal PUBLIC PkgConfig::OPENBLAS)
else()
  message(STATUS "GEMM: CPU path through the blocked TBB kernel (no OpenBLAS)")
endif()
