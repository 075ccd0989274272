/* An "old client": compiled against tests/abi/frozen-0.1/parallax.h, the
 * header of the 0.1 release as it was frozen (its option structs are the
 * smallest the library ever accepts), linked against the current library.
 * Every struct it passes carries the 0.1 struct_size; the library must read
 * only that much, default the rest, never write past it, and compute the
 * same answers: a runtime, a plan, a parallel loop, a stack, a co-addition. */
#include <parallax.h> /* the frozen copy: -I tests/abi/frozen-0.1 */
#include <stdio.h>
#include <string.h>

static int sum_range(int64_t begin, int64_t end, int32_t worker, void* user) {
  int64_t* sums = (int64_t*)user;
  int64_t i, s = 0;
  for (i = begin; i < end; ++i) s += i;
  sums[worker] += s;
  return 0;
}

#define CHECK(call)                                                                         \
  if ((call) != PLX_OK) {                                                                   \
    fprintf(stderr, "FAIL: %s: %s\n", #call, plx_last_error_message());                     \
    return 1;                                                                               \
  }

int main(void) {
  plx_runtime_options_t options;
  plx_runtime_t* runtime = NULL;
  plx_workload_t workload;
  plx_plan_t* plan = NULL;
  plx_plan_info_t info;
  plx_run_options_t run;
  int64_t sums[64];
  float frames[3][6], image[6], tile[6], mosaic[6], footprint[6];
  const float* pointers[3] = {frames[0], frames[1], frames[2]};
  plx_stack_desc_t stack;
  plx_stack_result_t stacked;
  plx_coadd_input_t input;
  plx_coadd_desc_t coadd;
  plx_coadd_result_t coadded;
  int i, j;
  /* A guard after each output struct: the library must not write past the
   * size this client knows. */
  struct {
    plx_plan_info_t info;
    unsigned char guard[64];
  } guarded;

  if (!plx_abi_compatible(PLX_VERSION_MAJOR, PLX_VERSION_MINOR)) {
    fprintf(stderr, "FAIL: library %s refuses a %s client\n", plx_version_string(), PLX_VERSION_STRING);
    return 1;
  }
  CHECK(plx_runtime_options_init(&options, sizeof options));
  options.device_policy = PLX_DEVICE_CPU_ONLY;
  CHECK(plx_runtime_create(&options, &runtime));
  CHECK(plx_workload_init(&workload, sizeof workload));
  workload.items = 1000;
  workload.bytes_per_item = 1 << 20;
  CHECK(plx_plan_create(runtime, &workload, &plan));
  memset(&guarded, 0xA5, sizeof guarded);
  guarded.info.struct_size = sizeof guarded.info;
  CHECK(plx_plan_get(plan, &guarded.info));
  for (i = 0; i < 64; ++i)
    if (guarded.guard[i] != 0xA5) {
      fprintf(stderr, "FAIL: plx_plan_get wrote past the client's struct_size\n");
      return 1;
    }
  info = guarded.info;
  if (info.cpu_workers < 1) return 1;

  CHECK(plx_run_options_init(&run, sizeof run));
  memset(sums, 0, sizeof sums);
  CHECK(plx_parallel_for(runtime, plan, 0, 100000, sum_range, sums, &run));
  {
    int64_t total = 0;
    for (i = 0; i < 64; ++i) total += sums[i];
    if (total != (int64_t)99999 * 100000 / 2) {
      fprintf(stderr, "FAIL: parallel_for summed %lld\n", (long long)total);
      return 1;
    }
  }
  plx_plan_destroy(plan);

  /* Median of three 2 x 3 frames: frame j holds i + 10 j, the median frame 1. */
  for (j = 0; j < 3; ++j)
    for (i = 0; i < 6; ++i) frames[j][i] = (float)(i + 10 * j);
  CHECK(plx_stack_desc_init(&stack, sizeof stack));
  CHECK(plx_stack_result_init(&stacked, sizeof stacked));
  stack.frames = 3;
  stack.height = 2;
  stack.width = 3;
  stack.frame_data = pointers;
  stack.combine = PLX_COMBINE_MEDIAN;
  stacked.image = image;
  CHECK(plx_stack(runtime, &stack, &stacked));
  for (i = 0; i < 6; ++i)
    if (image[i] != (float)(i + 10)) {
      fprintf(stderr, "FAIL: stack pixel %d is %g\n", i, image[i]);
      return 1;
    }

  /* One 2 x 3 image co-added onto itself: a copy, footprint 1. */
  for (i = 0; i < 6; ++i) tile[i] = (float)(7 * i);
  CHECK(plx_coadd_input_init(&input, sizeof input));
  input.data = tile;
  input.height = 2;
  input.width = 3;
  CHECK(plx_coadd_desc_init(&coadd, sizeof coadd));
  CHECK(plx_coadd_result_init(&coadded, sizeof coadded));
  coadd.inputs = &input;
  coadd.count = 1;
  coadd.height = 2;
  coadd.width = 3;
  coadded.image = mosaic;
  coadded.footprint = footprint;
  CHECK(plx_coadd(runtime, &coadd, &coadded));
  for (i = 0; i < 6; ++i)
    if (mosaic[i] != tile[i] || footprint[i] != 1.0f) {
      fprintf(stderr, "FAIL: coadd pixel %d is %g (footprint %g)\n", i, mosaic[i], footprint[i]);
      return 1;
    }
  plx_runtime_destroy(runtime);
  printf("OK: a client of the frozen %s header works with library %s\n", PLX_VERSION_STRING, plx_version_string());
  return 0;
}
