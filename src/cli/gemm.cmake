# The CLI's GEMM parts: `parallax tune`, and `bench --suite gemm`, whose peer
# is OpenBLAS's cblas_sgemm called directly (when the library has OpenBLAS).
target_sources(parallax-cli PRIVATE bench_gemm.cpp cmd_tune.cpp)
if(PLX_HAVE_OPENBLAS)
  target_compile_definitions(parallax-cli PRIVATE PLX_BENCH_OPENBLAS)
  target_link_libraries(parallax-cli PRIVATE PkgConfig::OPENBLAS)
endif()
