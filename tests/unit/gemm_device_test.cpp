// plx_gemm's OpenCL path through CLBlast on PoCL (the CPU OpenCL device every
// test machine has), against the naive double reference: layouts and
// transposes, both precisions, the direct and the tiled CLBlast kernels,
// host matrices tiled through a small device (k, rows and columns split),
// device buffers with offsets and batches, beta = 0 not reading C, and the
// failure paths: an allocation out of memory splits the tiles, a failing
// launch falls back to the CPU (or fails under GPU_REQUIRED). Few sizes:
// CLBlast compiles its kernels per precision (about 10 s cold on PoCL).
#include <gtest/gtest.h>
#include <parallax.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gemm_reference.hpp"
#include "pocl_runtime.hpp"

namespace {

using namespace gemm_test;

class GemmDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    rt_ = pocl_runtime();
    ASSERT_NE(rt_, nullptr);
    plx_caps_t caps;
    caps.struct_size = sizeof caps;
    ASSERT_EQ(plx_caps_get(rt_, &caps), PLX_OK);
    if (caps.device_count == 0) GTEST_SKIP() << "no OpenCL device (PoCL is installed by make deps)";
    plx_device_info_t info;
    info.struct_size = sizeof info;
    ASSERT_EQ(plx_device_info_get(rt_, 0, &info), PLX_OK);
    fp64_ = info.fp64 != 0;
  }
  void TearDown() override { plx_runtime_destroy(rt_); }

  // Runs `cs` on the device (GPU preference) of `rt` and checks it.
  plx_gemm_result_t run(plx_runtime_t* rt, const Case& cs, const std::string& what = "") {
    Problem p(cs);
    plx_gemm_desc_t d = p.desc(PLX_PREFER_GPU);
    plx_gemm_result_t r;
    r.struct_size = sizeof r;
    EXPECT_EQ(plx_gemm(rt, &d, &r), PLX_OK) << cs.name() << ": " << last_error();
    p.check(what);
    return r;
  }

  plx_runtime_t* rt_ = nullptr;
  bool fp64_ = false;
};

TEST_F(GemmDevice, EveryLayoutAndTransposeInBothPrecisions) {
  for (int32_t precision : {PLX_PRECISION_F32, PLX_PRECISION_F64}) {
    if (precision == PLX_PRECISION_F64 && !fp64_) continue;
    for (bool row_major : {true, false})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          Case c;
          c.precision = precision;
          c.row_major = row_major;
          c.ta = ta;
          c.tb = tb;
          c.m = 7, c.n = 33, c.k = 65;
          plx_gemm_result_t r = run(rt_, c);
          EXPECT_EQ(r.device_index, 0);
          EXPECT_STREQ(r.path, "clblast");
          EXPECT_EQ(r.fallback, 0);
        }
  }
}

TEST_F(GemmDevice, TheTiledKernelOnOddSizes) {
  // m n k above CLBlast's XGEMM_MIN_INDIRECT_SIZE^3 on PoCL (896^3): the tiled
  // kernel with its pad and transpose helpers, none of the sizes a multiple of its tiles.
  Case c;
  c.m = 1023, c.n = 1025, c.k = 700;
  c.ta = true;
  c.beta = 0.25;
  plx_gemm_result_t r = run(rt_, c);
  EXPECT_EQ(r.device_index, 0);
  Case ones;  // and sizes of 1
  ones.m = 1, ones.n = 1025, ones.k = 1;
  run(rt_, ones);
}

TEST_F(GemmDevice, HostMatricesTiledThroughASmallDevice) {
  // 1 MiB of device memory: every block is cut (k first, then rows and
  // columns), C accumulates over k tiles with beta = 1 after the first.
  plx_runtime_t* small = pocl_runtime(nullptr, int64_t{1} << 20);
  for (bool row_major : {true, false}) {
    Case c;
    c.row_major = row_major;
    c.tb = true;
    c.m = 301, c.n = 257, c.k = 1025;
    plx_gemm_result_t r = run(small, c, "tiled");
    EXPECT_GT(r.tiles, 4);
    EXPECT_EQ(r.device_index, 0);
  }
  // A strided batch through the same small device: items split, A shared.
  Case c;
  c.m = 40, c.n = 50, c.k = 600;
  std::vector<Problem> items;
  for (int i = 0; i < 5; ++i) {
    c.seed = static_cast<uint64_t>(7 * i + 3);
    items.emplace_back(c);
  }
  const size_t one_a = items[0].a.v.size(), one_b = items[0].b.v.size(), one_c = items[0].c0.v.size();
  std::vector<float> a(items[0].ha.f), b, cc;
  for (auto& item : items) {
    item.a = items[0].a;  // A shared by every item (stride 0)
    item.want = rounded(item.c0, c.precision);
    reference(false, false, c.m, c.n, c.k, c.alpha, rounded(item.a, c.precision), rounded(item.b, c.precision), c.beta,
              item.want, &item.scale);
    b.insert(b.end(), item.hb.f.begin(), item.hb.f.end());
    cc.insert(cc.end(), item.hc.f.begin(), item.hc.f.end());
  }
  plx_gemm_desc_t d = items[0].desc(PLX_PREFER_GPU);
  d.a = a.data(), d.b = b.data(), d.c = cc.data();
  plx_gemm_result_t r;
  r.struct_size = sizeof r;
  ASSERT_EQ(plx_gemm_batched_strided(small, &d, 5, 0, static_cast<int64_t>(one_b), static_cast<int64_t>(one_c), &r),
            PLX_OK)
      << last_error();
  EXPECT_GT(r.tiles, 1);
  (void)one_a;
  for (size_t i = 0; i < items.size(); ++i) {
    std::memcpy(items[i].hc.f.data(), cc.data() + i * one_c, one_c * 4);
    items[i].check("batch item " + std::to_string(i));
  }
  plx_runtime_destroy(small);
}

TEST_F(GemmDevice, BetaZeroDoesNotReadCAndNanPropagates) {
  Case c;
  c.m = 30, c.n = 20, c.k = 10;
  c.beta = 0;
  Problem p(c);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) p.hc.f[static_cast<size_t>(i * p.c0.ld + j)] = NAN;
  plx_gemm_desc_t d = p.desc(PLX_PREFER_GPU);
  ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
  p.check("beta = 0, NaN in C");
  Case n = c;
  n.beta = 1;
  Problem q(n);
  q.hb.f[5] = NAN;  // B(0, 5): column 5 of C is NaN
  d = q.desc(PLX_PREFER_GPU);
  ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
  for (int64_t i = 0; i < n.m; ++i) EXPECT_TRUE(std::isnan(q.hc.f[static_cast<size_t>(i * q.c0.ld + 5)]));
  EXPECT_FALSE(std::isnan(q.hc.f[4]));
}

TEST_F(GemmDevice, AutoKeepsCpuOpenClDevicesOff) {
  Case c;
  c.m = c.n = c.k = 64;
  Problem p(c);
  plx_gemm_desc_t d = p.desc(PLX_PREFER_AUTO);
  plx_gemm_result_t r;
  r.struct_size = sizeof r;
  ASSERT_EQ(plx_gemm(rt_, &d, &r), PLX_OK) << last_error();
  EXPECT_EQ(r.device_index, -1) << "PoCL runs on the CPU path's own cores: AUTO never picks it";
  p.check("auto");
}

// ---- device buffers ----

struct Buffers {
  plx_buffer_t *a = nullptr, *b = nullptr, *c = nullptr;
  ~Buffers() {
    plx_buffer_destroy(a);
    plx_buffer_destroy(b);
    plx_buffer_destroy(c);
  }
};

// `p`'s matrices in buffers at element offsets (3, 5, 7), then back.
void upload(plx_runtime_t* rt, Problem& p, Buffers& buf, plx_gemm_desc_t& d) {
  const int64_t es = p.c.precision == PLX_PRECISION_F32 ? 4 : 8;
  auto one = [&](Host& h, size_t elements, int64_t offset, plx_buffer_t*& out) {
    ASSERT_EQ(plx_buffer_create(rt, 0, static_cast<int64_t>(elements + offset) * es, &out), PLX_OK) << last_error();
    ASSERT_EQ(plx_buffer_write(out, offset * es, h.data(), static_cast<int64_t>(elements) * es), PLX_OK);
  };
  one(p.ha, p.a.v.size(), 3, buf.a);
  one(p.hb, p.b.v.size(), 5, buf.b);
  one(p.hc, p.c0.v.size(), 7, buf.c);
  d.a = d.b = nullptr;
  d.c = nullptr;
  d.a_buffer = buf.a, d.b_buffer = buf.b, d.c_buffer = buf.c;
  d.a_offset = 3, d.b_offset = 5, d.c_offset = 7;
}

void download(Problem& p, Buffers& buf) {
  const int64_t es = p.c.precision == PLX_PRECISION_F32 ? 4 : 8;
  ASSERT_EQ(plx_buffer_read(buf.c, 7 * es, p.hc.data(), static_cast<int64_t>(p.c0.v.size()) * es), PLX_OK);
}

TEST_F(GemmDevice, DeviceBuffersWithOffsets) {
  for (int32_t precision : {PLX_PRECISION_F32, PLX_PRECISION_F64}) {
    if (precision == PLX_PRECISION_F64 && !fp64_) continue;
    for (bool row_major : {true, false}) {
      Case c;
      c.precision = precision;
      c.row_major = row_major;
      c.ta = !row_major;
      c.m = 13, c.n = 9, c.k = 21;
      Problem p(c);
      Buffers buf;
      plx_gemm_desc_t d = p.desc(PLX_PREFER_AUTO);  // AUTO: device buffers run where they are
      upload(rt_, p, buf, d);
      plx_gemm_result_t r;
      r.struct_size = sizeof r;
      ASSERT_EQ(plx_gemm(rt_, &d, &r), PLX_OK) << last_error();
      EXPECT_EQ(r.device_index, 0);
      download(p, buf);
      p.check("device buffers");
    }
  }
}

TEST_F(GemmDevice, DeviceBuffersScaleOnlyAndBatch) {
  Case c;
  c.m = 6, c.n = 5, c.k = 4;
  c.alpha = 0;
  c.beta = 0;
  Problem p(c);
  std::fill(p.ha.f.begin(), p.ha.f.end(), NAN);  // alpha = 0: never read
  for (float& x : p.hc.f) x = NAN;                // beta = 0: never read
  Buffers buf;
  plx_gemm_desc_t d = p.desc(PLX_PREFER_GPU);
  upload(rt_, p, buf, d);
  // The padding of C is NaN in the reference: keep it so on the device.
  ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
  download(p, buf);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) EXPECT_EQ(p.hc.f[static_cast<size_t>(i * p.c0.ld + j)], 0.0f);
  // A batch of 3 on buffers: C items one after the other.
  Case b;
  b.m = 8, b.n = 6, b.k = 5;
  b.pad = 0;
  std::vector<Problem> items;
  std::vector<float> ha, hb, hc;
  for (int i = 0; i < 3; ++i) {
    b.seed = static_cast<uint64_t>(11 * i + 1);
    items.emplace_back(b);
    ha.insert(ha.end(), items.back().ha.f.begin(), items.back().ha.f.end());
    hb.insert(hb.end(), items.back().hb.f.begin(), items.back().hb.f.end());
    hc.insert(hc.end(), items.back().hc.f.begin(), items.back().hc.f.end());
  }
  Buffers bb;
  ASSERT_EQ(plx_buffer_create(rt_, 0, static_cast<int64_t>(ha.size()) * 4, &bb.a), PLX_OK);
  ASSERT_EQ(plx_buffer_create(rt_, 0, static_cast<int64_t>(hb.size()) * 4, &bb.b), PLX_OK);
  ASSERT_EQ(plx_buffer_create(rt_, 0, static_cast<int64_t>(hc.size()) * 4, &bb.c), PLX_OK);
  ASSERT_EQ(plx_buffer_write(bb.a, 0, ha.data(), static_cast<int64_t>(ha.size()) * 4), PLX_OK);
  ASSERT_EQ(plx_buffer_write(bb.b, 0, hb.data(), static_cast<int64_t>(hb.size()) * 4), PLX_OK);
  ASSERT_EQ(plx_buffer_write(bb.c, 0, hc.data(), static_cast<int64_t>(hc.size()) * 4), PLX_OK);
  plx_gemm_desc_t bd = items[0].desc(PLX_PREFER_GPU);
  bd.a = bd.b = nullptr;
  bd.c = nullptr;
  bd.a_buffer = bb.a, bd.b_buffer = bb.b, bd.c_buffer = bb.c;
  ASSERT_EQ(plx_gemm_batched_strided(rt_, &bd, 3, 40, 30, 48, nullptr), PLX_OK) << last_error();
  ASSERT_EQ(plx_buffer_read(bb.c, 0, hc.data(), static_cast<int64_t>(hc.size()) * 4), PLX_OK);
  for (size_t i = 0; i < 3; ++i) {
    std::memcpy(items[i].hc.f.data(), hc.data() + i * 48, 48 * 4);
    items[i].check("buffer batch item " + std::to_string(i));
  }
}

TEST_F(GemmDevice, DeviceBufferChecks) {
  Case c;
  c.m = 4, c.n = 4, c.k = 4;
  Problem p(c);
  Buffers buf;
  plx_gemm_desc_t d = p.desc(PLX_PREFER_GPU);
  upload(rt_, p, buf, d);
  auto refused = [&](plx_gemm_desc_t x, plx_status_t status, const std::string& words) {
    SCOPED_TRACE(words);
    EXPECT_EQ(plx_gemm(rt_, &x, nullptr), status);
    EXPECT_NE(last_error().find(words), std::string::npos) << last_error();
  };
  plx_gemm_desc_t x = d;
  x.c_offset = 1000;
  refused(x, PLX_ERR_INVALID_ARGUMENT, "c_buffer holds");
  x = d;
  x.a_offset = -1;
  refused(x, PLX_ERR_INVALID_ARGUMENT, "a_offset must be >= 0");
  x = d;
  x.device = PLX_PREFER_CPU;
  refused(x, PLX_ERR_INVALID_ARGUMENT, "desc.device is CPU");
  x = d;
  x.b_buffer = nullptr;
  refused(x, PLX_ERR_INVALID_ARGUMENT, "b_buffer is NULL");
  plx_runtime_t* other = pocl_runtime();
  plx_buffer_t* foreign = nullptr;
  ASSERT_EQ(plx_buffer_create(other, 0, 4096, &foreign), PLX_OK);
  x = d;
  x.a_buffer = foreign;
  refused(x, PLX_ERR_INVALID_ARGUMENT, "belongs to another runtime");
  plx_buffer_destroy(foreign);
  plx_runtime_destroy(other);
}

// ---- failures ----

TEST_F(GemmDevice, OutOfMemorySplitsTheTiles) {
  // The second allocation (B's tile) fails: the tiles are halved and the
  // block redone; the result is the same.
  plx_runtime_t* oom = pocl_runtime("alloc=1:out_of_memory");
  Case c;
  c.m = 200, c.n = 150, c.k = 300;
  plx_gemm_result_t r = run(oom, c, "after an out-of-memory split");
  EXPECT_GE(r.splits, 1);
  EXPECT_EQ(r.fallback, 0);
  plx_runtime_destroy(oom);
}

TEST_F(GemmDevice, DeviceFailureFallsBackToTheCpu) {
  // The first launch fails: everything on the CPU. Repeated: the uploads
  // before the failed launch read the host matrices, which run() frees as
  // soon as the call returns, so the call must not leave them queued (under
  // AddressSanitizer, a use after free in the OpenCL driver's thread).
  for (int repeat = 0; repeat < 20; ++repeat) {
    plx_runtime_t* failing = pocl_runtime("enqueue=0:device");
    Case c;
    c.m = 50, c.n = 40, c.k = 30;
    c.beta = 2;
    plx_gemm_result_t r = run(failing, c, "CPU fallback");
    EXPECT_EQ(r.fallback, 1);
    plx_runtime_destroy(failing);
  }
  {  // Tiles through a small device, the third launch fails: the device did
     // some blocks, the CPU the rest, each exactly once (beta != 0 shows a
     // block done twice).
    plx_runtime_t* failing = pocl_runtime("enqueue=2:device", int64_t{256} << 10);
    Case c;
    c.m = 300, c.n = 100, c.k = 50;
    c.beta = 2;
    plx_gemm_result_t r = run(failing, c, "partial CPU fallback");
    EXPECT_EQ(r.fallback, 1);
    EXPECT_GE(r.tiles, 3);
    plx_runtime_destroy(failing);
  }
  {  // A device too small for even a 1 x 1 tile (16 bytes): all on the CPU.
    plx_runtime_t* tiny = pocl_runtime(nullptr, 16);
    Case c;
    c.m = 20, c.n = 10, c.k = 5;
    plx_gemm_result_t r = run(tiny, c, "no tile fits");
    EXPECT_EQ(r.fallback, 1);
    EXPECT_EQ(r.device_index, -1);
    plx_runtime_destroy(tiny);
  }
  {  // Device buffers: copied to the host, multiplied there, C written back.
    plx_runtime_t* failing = pocl_runtime("enqueue=0:device");
    Case c;
    c.m = 9, c.n = 8, c.k = 7;
    c.beta = -1;
    Problem p(c);
    Buffers buf;
    plx_gemm_desc_t d = p.desc(PLX_PREFER_GPU);
    upload(failing, p, buf, d);
    plx_gemm_result_t r;
    r.struct_size = sizeof r;
    ASSERT_EQ(plx_gemm(failing, &d, &r), PLX_OK) << last_error();
    EXPECT_EQ(r.fallback, 1);
    download(p, buf);
    p.check("device buffers on the CPU");
    plx_buffer_destroy(buf.a), plx_buffer_destroy(buf.b), plx_buffer_destroy(buf.c);
    buf.a = buf.b = buf.c = nullptr;
    plx_runtime_destroy(failing);
  }
}

TEST_F(GemmDevice, GpuRequiredReportsTheFailure) {
  plx_runtime_t* required = pocl_runtime("enqueue=0:device", 0, PLX_DEVICE_GPU_REQUIRED);
  Case c;
  c.m = c.n = c.k = 16;
  Problem p(c);
  plx_gemm_desc_t d = p.desc(PLX_PREFER_AUTO);  // AUTO under GPU_REQUIRED: the device
  EXPECT_EQ(plx_gemm(required, &d, nullptr), PLX_ERR_DEVICE);
  EXPECT_NE(last_error().find("clblast::Gemm<float>"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find("no CPU fallback"), std::string::npos) << last_error();
  plx_runtime_destroy(required);
}

}  // namespace
