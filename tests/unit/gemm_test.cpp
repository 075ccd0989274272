// plx_gemm on the CPU path through the public API, against a naive
// double-precision reference: every layout and transpose in both
// precisions, odd sizes (1, 7, 1023, 1025), BLAS's alpha / beta / k edge
// cases, NaN propagation, strided batches, OpenBLAS's thread count, and a
// status and message for every bad field.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <parallax.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "gemm_reference.hpp"

// The GEMM structs' layout, pinned (LP64), as tests/unit/api_layout_test.cpp
// pins the others: fields are only ever appended.
#define PLX_PIN(type, field, offset) static_assert(offsetof(type, field) == (offset), #type "." #field)
static_assert(sizeof(void*) == 8, "layouts below are for LP64");
static_assert(sizeof(plx_gemm_desc_t) == 176);
PLX_PIN(plx_gemm_desc_t, precision, 8);
PLX_PIN(plx_gemm_desc_t, layout, 12);
PLX_PIN(plx_gemm_desc_t, trans_a, 16);
PLX_PIN(plx_gemm_desc_t, trans_b, 20);
PLX_PIN(plx_gemm_desc_t, m, 24);
PLX_PIN(plx_gemm_desc_t, n, 32);
PLX_PIN(plx_gemm_desc_t, k, 40);
PLX_PIN(plx_gemm_desc_t, alpha, 48);
PLX_PIN(plx_gemm_desc_t, beta, 56);
PLX_PIN(plx_gemm_desc_t, a, 64);
PLX_PIN(plx_gemm_desc_t, lda, 72);
PLX_PIN(plx_gemm_desc_t, b, 80);
PLX_PIN(plx_gemm_desc_t, ldb, 88);
PLX_PIN(plx_gemm_desc_t, c, 96);
PLX_PIN(plx_gemm_desc_t, ldc, 104);
PLX_PIN(plx_gemm_desc_t, a_buffer, 112);
PLX_PIN(plx_gemm_desc_t, b_buffer, 120);
PLX_PIN(plx_gemm_desc_t, c_buffer, 128);
PLX_PIN(plx_gemm_desc_t, a_offset, 136);
PLX_PIN(plx_gemm_desc_t, b_offset, 144);
PLX_PIN(plx_gemm_desc_t, c_offset, 152);
PLX_PIN(plx_gemm_desc_t, device, 160);
PLX_PIN(plx_gemm_desc_t, reserved0, 164);
PLX_PIN(plx_gemm_desc_t, run_options, 168);
static_assert(sizeof(plx_gemm_result_t) == 64);
PLX_PIN(plx_gemm_result_t, device_index, 8);
PLX_PIN(plx_gemm_result_t, workers, 12);
PLX_PIN(plx_gemm_result_t, tiles, 16);
PLX_PIN(plx_gemm_result_t, splits, 24);
PLX_PIN(plx_gemm_result_t, fallback, 28);
PLX_PIN(plx_gemm_result_t, seconds, 32);
PLX_PIN(plx_gemm_result_t, gflops, 40);
PLX_PIN(plx_gemm_result_t, path, 48);
static_assert(sizeof(plx_gemm_tune_options_t) == 32);
PLX_PIN(plx_gemm_tune_options_t, precision, 8);
PLX_PIN(plx_gemm_tune_options_t, kernels, 12);
PLX_PIN(plx_gemm_tune_options_t, size, 16);
PLX_PIN(plx_gemm_tune_options_t, fraction, 24);
static_assert(sizeof(plx_gemm_tune_result_t) == 312);
PLX_PIN(plx_gemm_tune_result_t, kernels_tuned, 8);
PLX_PIN(plx_gemm_tune_result_t, reserved0, 12);
PLX_PIN(plx_gemm_tune_result_t, seconds, 16);
PLX_PIN(plx_gemm_tune_result_t, default_gflops, 24);
PLX_PIN(plx_gemm_tune_result_t, tuned_gflops, 32);
PLX_PIN(plx_gemm_tune_result_t, cpu_gflops, 40);
PLX_PIN(plx_gemm_tune_result_t, upload_gbps, 48);
PLX_PIN(plx_gemm_tune_result_t, path, 56);
static_assert(PLX_PRECISION_F32 == 0 && PLX_PRECISION_F64 == 1);
static_assert(PLX_ROW_MAJOR == 0 && PLX_COL_MAJOR == 1);
static_assert(PLX_NO_TRANS == 0 && PLX_TRANS == 1);
static_assert(PLX_TUNE_XGEMM == 1 && PLX_TUNE_XGEMM_DIRECT == 2 && PLX_TUNE_HELPERS == 4);
#undef PLX_PIN

namespace {

using namespace gemm_test;

TEST(GemmLayout, InitFillsEveryField) {
  plx_gemm_desc_t d;
  std::memset(&d, 0xA5, sizeof d);
  ASSERT_EQ(plx_gemm_desc_init(&d, sizeof d), PLX_OK);
  EXPECT_EQ(d.struct_size, sizeof d);
  EXPECT_EQ(d.precision, PLX_PRECISION_F32);
  EXPECT_EQ(d.layout, PLX_ROW_MAJOR);
  EXPECT_EQ(d.trans_a, PLX_NO_TRANS);
  EXPECT_EQ(d.trans_b, PLX_NO_TRANS);
  EXPECT_EQ(d.m, 0);
  EXPECT_EQ(d.n, 0);
  EXPECT_EQ(d.k, 0);
  EXPECT_EQ(d.alpha, 1.0);
  EXPECT_EQ(d.beta, 0.0);
  EXPECT_EQ(d.a, nullptr);
  EXPECT_EQ(d.lda, 0);
  EXPECT_EQ(d.b, nullptr);
  EXPECT_EQ(d.ldb, 0);
  EXPECT_EQ(d.c, nullptr);
  EXPECT_EQ(d.ldc, 0);
  EXPECT_EQ(d.a_buffer, nullptr);
  EXPECT_EQ(d.b_buffer, nullptr);
  EXPECT_EQ(d.c_buffer, nullptr);
  EXPECT_EQ(d.a_offset, 0);
  EXPECT_EQ(d.b_offset, 0);
  EXPECT_EQ(d.c_offset, 0);
  EXPECT_EQ(d.device, PLX_PREFER_AUTO);
  EXPECT_EQ(d.reserved0, 0);
  EXPECT_EQ(d.run_options, nullptr);

  plx_gemm_tune_options_t t;
  std::memset(&t, 0xA5, sizeof t);
  ASSERT_EQ(plx_gemm_tune_options_init(&t, sizeof t), PLX_OK);
  EXPECT_EQ(t.struct_size, sizeof t);
  EXPECT_EQ(t.precision, PLX_PRECISION_F32);
  EXPECT_EQ(t.kernels, PLX_TUNE_XGEMM | PLX_TUNE_XGEMM_DIRECT);
  EXPECT_EQ(t.size, 1024);
  EXPECT_EQ(t.fraction, 1.0 / 64);
  // A newer header's larger struct: the tail is zeroed, struct_size kept.
  struct Newer {
    plx_gemm_desc_t d;
    int64_t extra;
  } newer;
  std::memset(&newer, 0xA5, sizeof newer);
  ASSERT_EQ(plx_gemm_desc_init(&newer.d, sizeof newer), PLX_OK);
  EXPECT_EQ(newer.d.struct_size, sizeof newer);
  EXPECT_EQ(newer.extra, 0);
}

class GemmCpu : public ::testing::Test {
 protected:
  void SetUp() override {
    plx_runtime_options_t o;
    plx_runtime_options_init(&o, sizeof o);
    o.device_policy = PLX_DEVICE_CPU_ONLY;
    o.log_level = PLX_LOG_OFF;
    ASSERT_EQ(plx_runtime_create(&o, &rt_), PLX_OK) << last_error();
  }
  void TearDown() override { plx_runtime_destroy(rt_); }

  void run(const Case& cs, const char* what = "") {
    Problem p(cs);
    plx_gemm_desc_t d = p.desc(PLX_PREFER_AUTO);
    plx_gemm_result_t r;
    r.struct_size = sizeof r;
    ASSERT_EQ(plx_gemm(rt_, &d, &r), PLX_OK) << cs.name() << ": " << last_error();
    EXPECT_EQ(r.device_index, -1);
    p.check(what);
  }

  plx_runtime_t* rt_ = nullptr;
};

TEST_F(GemmCpu, EveryLayoutAndTransposeInBothPrecisions) {
  for (int32_t precision : {PLX_PRECISION_F32, PLX_PRECISION_F64})
    for (bool row_major : {true, false})
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (auto [m, n, k] : {std::tuple{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {130, 70, 260}}) {
            Case c;
            c.precision = precision;
            c.row_major = row_major;
            c.ta = ta;
            c.tb = tb;
            c.m = m, c.n = n, c.k = k;
            run(c);
          }
}

TEST_F(GemmCpu, OddSizes) {
  // Each of 1, 7, 1023, 1025 as m, n and k, keeping the reference's cost small.
  for (auto [m, n, k] : {std::tuple{1023, 1025, 7}, {7, 1023, 1025}, {1025, 7, 1023}, {1, 1025, 1023},
                         {1023, 1, 1025}, {1025, 1023, 1}})
    for (bool tb : {false, true}) {
      Case c;
      c.m = m, c.n = n, c.k = k;
      c.tb = tb;
      c.row_major = m != 1;
      run(c);
    }
  Case big;  // a square-ish product large enough for every thread
  big.m = 1023, big.n = 1025, big.k = 1023;
  big.precision = PLX_PRECISION_F64;
  big.ta = true;
  run(big);
}

TEST_F(GemmCpu, BetaZeroDoesNotReadC) {
  Case c;
  c.m = 9, c.n = 11, c.k = 13;
  c.beta = 0;
  Problem p(c);
  for (size_t i = 0; i < p.hc.f.size(); ++i) p.hc.f[i] = NAN;  // C holds garbage: BLAS never reads it
  plx_gemm_desc_t d = p.desc(PLX_PREFER_CPU);
  ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
  p.check("beta = 0, NaN in C");
}

TEST_F(GemmCpu, AlphaZeroAndKZeroScaleCWithoutReadingAOrB) {
  for (double beta : {0.0, 1.0, -2.0})
    for (bool k_zero : {false, true}) {
      Case c;
      c.m = 6, c.n = 5, c.k = k_zero ? 0 : 4;
      c.alpha = k_zero ? 2.0 : 0.0;
      c.beta = beta;
      Problem p(c);
      std::fill(p.ha.f.begin(), p.ha.f.end(), NAN);  // never read
      plx_gemm_desc_t d = p.desc(PLX_PREFER_AUTO);
      if (k_zero) d.a = d.b = nullptr;  // a k = 0 product has no A or B to point at
      plx_gemm_result_t r;
      r.struct_size = sizeof r;
      ASSERT_EQ(plx_gemm(rt_, &d, &r), PLX_OK) << last_error();
      EXPECT_STREQ(r.path, "scale");
      p.check(k_zero ? "k = 0" : "alpha = 0");
    }
}

TEST_F(GemmCpu, EmptyProductsTouchNothing) {
  Case c;
  c.m = 4, c.n = 4, c.k = 4;
  Problem p(c);
  const std::vector<float> before = p.hc.f;
  plx_gemm_desc_t d = p.desc(PLX_PREFER_AUTO);
  d.m = 0;
  d.a = d.c = nullptr;
  ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
  d = p.desc(PLX_PREFER_AUTO);
  d.n = 0;
  ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
  d = p.desc(PLX_PREFER_AUTO);
  ASSERT_EQ(plx_gemm_batched_strided(rt_, &d, 0, 0, 0, 0, nullptr), PLX_OK) << last_error();
  EXPECT_EQ(std::memcmp(before.data(), p.hc.f.data(), before.size() * 4), 0);
}

TEST_F(GemmCpu, NanPropagatesAsIeeeSays) {
  Case c;
  c.m = 5, c.n = 6, c.k = 7;
  {  // NaN in A(2, 3): row 2 of C is NaN, nothing else
    Problem p(c);
    p.a.at(2, 3) = NAN;
    p.ha = Host(p.a, c.precision);
    p.want = rounded(p.c0, c.precision);
    reference(false, false, c.m, c.n, c.k, c.alpha, rounded(p.a, c.precision), rounded(p.b, c.precision), c.beta,
              p.want, &p.scale);
    plx_gemm_desc_t d = p.desc(PLX_PREFER_CPU);
    ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
    for (int64_t j = 0; j < c.n; ++j) EXPECT_TRUE(std::isnan(p.hc.get(static_cast<size_t>(2 * p.c0.ld + j))));
    p.check("NaN in A");
  }
  for (auto [alpha, beta] : {std::pair{NAN, 1.0}, {1.0, NAN}}) {  // NaN alpha or beta: all of C
    Case n = c;
    n.alpha = alpha, n.beta = beta;
    Problem p(n);
    plx_gemm_desc_t d = p.desc(PLX_PREFER_CPU);
    ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) EXPECT_TRUE(std::isnan(p.hc.get(static_cast<size_t>(i * p.c0.ld + j))));
  }
}

TEST_F(GemmCpu, BatchedStrided) {
  for (int32_t precision : {PLX_PRECISION_F32, PLX_PRECISION_F64})
    for (bool share_a : {false, true})
      for (auto [m, n, k, batch] : {std::tuple{3, 4, 5, 7}, {64, 48, 80, 5}, {300, 200, 250, 3}}) {
        // batch items laid out one after the other with a gap; A shared when share_a.
        std::vector<Problem> items;
        for (int64_t i = 0; i < batch; ++i) {
          Case c;
          c.precision = precision;
          c.m = m, c.n = n, c.k = k;
          c.tb = true;
          c.seed = share_a ? 100 : static_cast<uint64_t>(10 * i + 1);
          items.emplace_back(c);
          if (share_a) {  // B and C differ per item even when A is shared
            Case other = c;
            other.seed = static_cast<uint64_t>(10 * i + 5);
            Problem q(other);
            items.back().b = q.b, items.back().c0 = q.c0;
            items.back().hb = q.hb, items.back().hc = q.hc;
            items.back().want = rounded(q.c0, precision);
            reference(c.ta, c.tb, m, n, k, c.alpha, rounded(items.back().a, precision), rounded(q.b, precision),
                      c.beta, items.back().want, &items.back().scale);
          }
        }
        const int64_t es = precision == PLX_PRECISION_F32 ? 4 : 8;
        auto pack = [&](auto member, int64_t& stride) {
          const size_t one = (items[0].*member).v.size();
          stride = static_cast<int64_t>(one) + 5;
          std::vector<char> out(static_cast<size_t>(stride * batch * es));
          for (int64_t i = 0; i < batch; ++i) {
            Host h(items[static_cast<size_t>(i)].*member, precision);
            std::memcpy(out.data() + i * stride * es, h.data(), one * es);
          }
          return out;
        };
        int64_t sa, sb, sc;
        std::vector<char> a = pack(&Problem::a, sa), b = pack(&Problem::b, sb), c = pack(&Problem::c0, sc);
        plx_gemm_desc_t d = items[0].desc(PLX_PREFER_CPU);
        d.a = a.data(), d.b = b.data(), d.c = c.data();
        if (share_a) sa = 0;
        plx_gemm_result_t r;
        r.struct_size = sizeof r;
        ASSERT_EQ(plx_gemm_batched_strided(rt_, &d, batch, sa, sb, sc, &r), PLX_OK) << last_error();
        EXPECT_NEAR(r.gflops * r.seconds * 1e9, 2.0 * m * n * k * batch, 1.0);
        for (int64_t i = 0; i < batch; ++i) {
          Problem& item = items[static_cast<size_t>(i)];
          std::memcpy(item.hc.data(), c.data() + i * sc * es, item.c0.v.size() * es);
          item.check("batch item " + std::to_string(i) + (share_a ? " (A shared)" : ""));
        }
      }
}

using GetThreads = int (*)();

TEST_F(GemmCpu, WorkersSetOpenBlasThreadsForTheCallOnly) {
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.workers = 1;
  Case c;
  c.m = c.n = c.k = 200;
  Problem p(c);
  plx_gemm_desc_t d = p.desc(PLX_PREFER_CPU);
  d.run_options = &o;
  auto threads = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  const int before = threads ? threads() : 0;
  plx_gemm_result_t r;
  r.struct_size = sizeof r;
  ASSERT_EQ(plx_gemm(rt_, &d, &r), PLX_OK) << last_error();
  EXPECT_EQ(r.workers, 1);
#ifdef PLX_TEST_HAVE_OPENBLAS
  EXPECT_STREQ(r.path, "openblas");
  ASSERT_NE(threads, nullptr) << "libparallax should bring OpenBLAS into the process";
  EXPECT_EQ(threads(), before) << "OpenBLAS's process-wide thread count must be restored after the call";
#else
  EXPECT_STREQ(r.path, "blocked");
#endif
  p.check("one worker");
}

// ---- bad input: a status and a message naming the field, nothing written ----

class GemmBadInput : public GemmCpu {
 protected:
  void expect_refused(const plx_gemm_desc_t& d, plx_status_t status, const std::string& words) {
    SCOPED_TRACE(words);
    EXPECT_EQ(plx_gemm(rt_, &d, nullptr), status);
    EXPECT_NE(last_error().find(words), std::string::npos) << "message: " << last_error();
  }
};

TEST_F(GemmBadInput, NullAndStructSizes) {
  Case c;
  Problem p(c);
  plx_gemm_desc_t d = p.desc(PLX_PREFER_CPU);
  EXPECT_EQ(plx_gemm(nullptr, &d, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("runtime is NULL"), std::string::npos);
  EXPECT_EQ(plx_gemm(rt_, nullptr, nullptr), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("desc is NULL"), std::string::npos);
  EXPECT_EQ(plx_gemm_desc_init(nullptr, sizeof d), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_gemm_desc_init(&d, 0), PLX_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plx_gemm_desc_init(&d, 8), PLX_ERR_VERSION);
  d = p.desc(PLX_PREFER_CPU);
  d.struct_size = 0;
  expect_refused(d, PLX_ERR_INVALID_ARGUMENT, "struct_size is 0");
  d.struct_size = 100;
  expect_refused(d, PLX_ERR_VERSION, "struct_size is 100");
  d.struct_size = 1 << 20;
  expect_refused(d, PLX_ERR_INVALID_ARGUMENT, "not a plausible sizeof(plx_gemm_desc_t)");
  // A newer header's struct with a field set that this library does not know.
  struct Newer {
    plx_gemm_desc_t d;
    int64_t extra;
  } newer;
  newer.d = p.desc(PLX_PREFER_CPU);
  newer.d.struct_size = sizeof newer;
  newer.extra = 1;
  expect_refused(newer.d, PLX_ERR_VERSION, "newer header");
  newer.extra = 0;
  EXPECT_EQ(plx_gemm(rt_, &newer.d, nullptr), PLX_OK) << last_error();
  d = p.desc(PLX_PREFER_CPU);
  plx_gemm_result_t r;
  r.struct_size = 4;
  EXPECT_EQ(plx_gemm(rt_, &d, &r), PLX_ERR_VERSION);
  EXPECT_NE(last_error().find("result"), std::string::npos);
}

TEST_F(GemmBadInput, EveryFieldIsChecked) {
  Case c;
  c.m = 4, c.n = 3, c.k = 5;
  Problem p(c);
  auto with = [&](auto change) {
    plx_gemm_desc_t d = p.desc(PLX_PREFER_CPU);
    change(d);
    return d;
  };
  expect_refused(with([](auto& d) { d.precision = 2; }), PLX_ERR_INVALID_ARGUMENT, "desc.precision 2");
  expect_refused(with([](auto& d) { d.layout = -1; }), PLX_ERR_INVALID_ARGUMENT, "desc.layout -1");
  expect_refused(with([](auto& d) { d.trans_a = 2; }), PLX_ERR_INVALID_ARGUMENT, "desc.trans_a 2");
  expect_refused(with([](auto& d) { d.trans_b = 113; }), PLX_ERR_INVALID_ARGUMENT, "desc.trans_b 113");
  expect_refused(with([](auto& d) { d.device = 3; }), PLX_ERR_INVALID_ARGUMENT, "desc.device 3");
  expect_refused(with([](auto& d) { d.reserved0 = 1; }), PLX_ERR_INVALID_ARGUMENT, "desc.reserved0");
  expect_refused(with([](auto& d) { d.m = -1; }), PLX_ERR_INVALID_ARGUMENT, "desc.m must be >= 0");
  expect_refused(with([](auto& d) { d.n = -2; }), PLX_ERR_INVALID_ARGUMENT, "desc.n must be >= 0");
  expect_refused(with([](auto& d) { d.k = -3; }), PLX_ERR_INVALID_ARGUMENT, "desc.k must be >= 0");
  expect_refused(with([](auto& d) { d.a = nullptr; }), PLX_ERR_INVALID_ARGUMENT, "desc.a is NULL");
  expect_refused(with([](auto& d) { d.b = nullptr; }), PLX_ERR_INVALID_ARGUMENT, "desc.b is NULL");
  expect_refused(with([](auto& d) { d.c = nullptr; }), PLX_ERR_INVALID_ARGUMENT, "desc.c is NULL");
  // Leading dimensions: at least a stored row (row-major) or column (column-major).
  expect_refused(with([](auto& d) { d.lda = 4; }), PLX_ERR_INVALID_ARGUMENT, "lda must be at least 5");
  expect_refused(with([](auto& d) { d.ldb = 2; }), PLX_ERR_INVALID_ARGUMENT, "ldb must be at least 3");
  expect_refused(with([](auto& d) { d.ldc = 0; }), PLX_ERR_INVALID_ARGUMENT, "ldc must be at least 3");
  expect_refused(with([](auto& d) { d.trans_a = PLX_TRANS, d.lda = 3; }), PLX_ERR_INVALID_ARGUMENT,
                 "lda must be at least 4");
  expect_refused(with([](auto& d) { d.layout = PLX_COL_MAJOR, d.ldc = 3; }), PLX_ERR_INVALID_ARGUMENT,
                 "ldc must be at least 4");
  expect_refused(with([](auto& d) { d.layout = PLX_COL_MAJOR, d.lda = 4, d.ldb = 5, d.ldc = 3; }),
                 PLX_ERR_INVALID_ARGUMENT, "ldc must be at least 4");
  // Sizes whose extent overflows.
  expect_refused(with([](auto& d) { d.m = INT64_MAX / 2, d.lda = INT64_MAX / 2; }), PLX_ERR_INVALID_ARGUMENT,
                 "overflows 64 bits");
  expect_refused(with([](auto& d) { d.m = int64_t{1} << 40, d.n = int64_t{1} << 40, d.ldb = d.ldc = int64_t{1} << 40; }),
                 PLX_ERR_INVALID_ARGUMENT, "overflows 64 bits");
  // Host matrices with device offsets, or with device buffers.
  expect_refused(with([](auto& d) { d.c_offset = 4; }), PLX_ERR_INVALID_ARGUMENT, "c_offset");
  expect_refused(with([](auto& d) { d.a_buffer = reinterpret_cast<plx_buffer_t*>(&d); }), PLX_ERR_INVALID_ARGUMENT,
                 "both set");
  // A buffer that is not a buffer.
  plx_gemm_desc_t d = with([](auto& x) { x.a = x.b = nullptr, x.c = nullptr; });
  uint64_t fake[4] = {0};
  d.a_buffer = d.b_buffer = d.c_buffer = reinterpret_cast<plx_buffer_t*>(fake);
  expect_refused(d, PLX_ERR_INVALID_ARGUMENT, "is not a live plx_buffer_t");
  // run_options are checked like every run's.
  plx_run_options_t o;
  plx_run_options_init(&o, sizeof o);
  o.workers = -1;
  d = p.desc(PLX_PREFER_CPU);
  d.run_options = &o;
  expect_refused(d, PLX_ERR_INVALID_ARGUMENT, "options.workers");
  // Nothing was written by the refused calls.
  p.hc = Host(p.c0, c.precision);
  d = p.desc(PLX_PREFER_CPU);
  ASSERT_EQ(plx_gemm(rt_, &d, nullptr), PLX_OK) << last_error();
  p.check("after the refusals");
}

TEST_F(GemmBadInput, BatchArguments) {
  Case c;
  c.m = 3, c.n = 3, c.k = 3;
  Problem p(c);
  plx_gemm_desc_t d = p.desc(PLX_PREFER_CPU);
  auto refused = [&](int64_t batch, int64_t sa, int64_t sb, int64_t sc, const std::string& words) {
    SCOPED_TRACE(words);
    EXPECT_EQ(plx_gemm_batched_strided(rt_, &d, batch, sa, sb, sc, nullptr), PLX_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find(words), std::string::npos) << last_error();
  };
  refused(-1, 0, 0, 0, "batch_count must be >= 0");
  refused(2, -1, 0, 100, "stride_a must be >= 0");
  refused(2, 0, -1, 100, "stride_b must be >= 0");
  refused(2, 0, 0, -1, "stride_c must be >= 0");
  refused(2, 0, 0, 5, "would overwrite each other");  // one C takes 2 x 6 + 3 = 15 elements
  refused(int64_t{1} << 62, 0, 0, int64_t{1} << 20, "overflows 64 bits");
}

TEST_F(GemmBadInput, NoDeviceForGpuPreference) {
  Case c;
  Problem p(c);
  plx_gemm_desc_t d = p.desc(PLX_PREFER_GPU);
  EXPECT_EQ(plx_gemm(rt_, &d, nullptr), PLX_ERR_NO_DEVICE);
  EXPECT_NE(last_error().find("desc.device is GPU"), std::string::npos) << last_error();
}

}  // namespace
