// One matrix product as the GEMM paths see it, after src/api has checked it:
// always row-major (a column-major product is the row-major product of the
// transposes with A and B swapped: C^T = op(B)^T op(A)^T), with the
// precision, the operands (host pointers or device buffers) and the batch.
#pragma once

#include <cstdint>
#include <string>

namespace plx {
class DeviceBuffer;
class DeviceContext;
}  // namespace plx

namespace plx::gemm {

enum class Precision : int { f32 = 0, f64 = 1 };

inline int64_t element_bytes(Precision p) { return p == Precision::f32 ? 4 : 8; }
inline const char* precision_name(Precision p) { return p == Precision::f32 ? "F32" : "F64"; }

// A stored matrix: `rows` x `cols` as stored (before op), row-major, `ld`
// elements from a row to the next.
struct Stored {
  int64_t rows = 0, cols = 0, ld = 0;
  // Elements from the first to one past the last element: (rows - 1) x ld + cols (0 when empty).
  int64_t extent() const { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }
};

// Where the operands are: host memory, or device buffers (offsets in elements).
struct Operands {
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
  const DeviceBuffer* a_buffer = nullptr;
  const DeviceBuffer* b_buffer = nullptr;
  const DeviceBuffer* c_buffer = nullptr;
  int64_t a_offset = 0, b_offset = 0, c_offset = 0;
  DeviceContext* device = nullptr;  // the buffers' device
  bool on_device() const { return c_buffer != nullptr; }
};

// C (m x n) = alpha op(A) (m x k) op(B) (k x n) + beta C, row-major, batch_count
// times at the strides (elements).
struct Problem {
  Precision precision = Precision::f32;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  double alpha = 1, beta = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  Operands in;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;

  Stored a_stored() const { return trans_a ? Stored{k, m, lda} : Stored{m, k, lda}; }
  Stored b_stored() const { return trans_b ? Stored{n, k, ldb} : Stored{k, n, ldb}; }
  Stored c_stored() const { return Stored{m, n, ldc}; }
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) * static_cast<double>(batch); }
  // Nothing but C = beta C: no product to compute (BLAS reads neither A nor B then).
  bool scale_only() const { return k == 0 || alpha == 0; }
  bool empty() const { return m == 0 || n == 0 || batch == 0; }
};

}  // namespace plx::gemm
