/* A plugin host that links nothing of Parallax: it loads the library with
 * dlopen, checks plx_abi_compatible, resolves every symbol plugin.def lists
 * with dlsym, creates a runtime and a plan, runs a parallel loop on the
 * runtime's threads, stacks three frames and co-adds two images (checking
 * the known answers), destroys everything and dlcloses — N times in one
 * process — then checks that no thread is left behind, that memory does not
 * grow and that the library really unloads.
 *
 * Last, a host whose other thread ran work and outlives the last runtime
 * (a thread pool): oneTBB's workers then outlive it too, so the library must
 * stay loaded across dlclose instead of being unmapped under them (this
 * crashed mono at exit).
 *
 *   plx_dlopen_host /path/to/libparallax.so.0 [iterations] [plugin.def]
 */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parallax.h" /* types only; every function comes from dlsym */

static int thread_count(void) {
  DIR* dir = opendir("/proc/self/task");
  struct dirent* entry;
  int n = 0;
  if (!dir) return -1;
  while ((entry = readdir(dir)) != NULL)
    if (entry->d_name[0] != '.') ++n;
  closedir(dir);
  return n;
}

static long rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

/* Whether a file whose path contains `name` is mapped into this process. */
static int is_mapped(const char* name) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[1024];
  int found = 0;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strstr(line, name)) found = 1;
  fclose(f);
  return found;
}

/* Every name plugin.def exports resolves: the list a host would dlsym.
 * Returns the number resolved, or -1 (after saying which failed). */
static int resolve_plugin_def(void* lib, const char* def_path) {
  FILE* f = fopen(def_path, "r");
  char line[256];
  int exports = 0, resolved = 0;
  if (!f) {
    fprintf(stderr, "cannot open %s\n", def_path);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    char* name = line;
    char* end;
    while (isspace((unsigned char)*name)) ++name;
    if (strncmp(name, "EXPORTS", 7) == 0) {
      exports = 1;
      continue;
    }
    if (!exports || *name == ';' || *name == '\0') continue;
    for (end = name; *end && !isspace((unsigned char)*end); ++end) {
    }
    *end = '\0';
    if (!dlsym(lib, name)) {
      fprintf(stderr, "FAIL: plugin.def lists %s but dlsym finds no such symbol: %s\n", name, dlerror());
      fclose(f);
      return -1;
    }
    ++resolved;
  }
  fclose(f);
  return resolved;
}

#define RESOLVE(handle, name)                                    \
  name##_fn name = (name##_fn)dlsym(handle, #name);              \
  if (!name) {                                                   \
    fprintf(stderr, "dlsym(%s) failed: %s\n", #name, dlerror()); \
    return 1;                                                    \
  }

typedef int (*plx_abi_compatible_fn)(int, int);
typedef const char* (*plx_last_error_message_fn)(void);
typedef plx_status_t (*plx_runtime_options_init_fn)(plx_runtime_options_t*, size_t);
typedef plx_status_t (*plx_runtime_create_fn)(const plx_runtime_options_t*, plx_runtime_t**);
typedef void (*plx_runtime_destroy_fn)(plx_runtime_t*);
typedef plx_status_t (*plx_caps_get_fn)(plx_runtime_t*, plx_caps_t*);
typedef plx_status_t (*plx_workload_init_fn)(plx_workload_t*, size_t);
typedef plx_status_t (*plx_plan_create_fn)(plx_runtime_t*, const plx_workload_t*, plx_plan_t**);
typedef plx_status_t (*plx_plan_get_fn)(const plx_plan_t*, plx_plan_info_t*);
typedef void (*plx_plan_destroy_fn)(plx_plan_t*);
typedef plx_status_t (*plx_run_options_init_fn)(plx_run_options_t*, size_t);
typedef plx_status_t (*plx_parallel_for_fn)(plx_runtime_t*, const plx_plan_t*, int64_t, int64_t, plx_range_fn, void*,
                                            const plx_run_options_t*);
typedef plx_status_t (*plx_stack_desc_init_fn)(plx_stack_desc_t*, size_t);
typedef plx_status_t (*plx_stack_result_init_fn)(plx_stack_result_t*, size_t);
typedef plx_status_t (*plx_stack_fn)(plx_runtime_t*, const plx_stack_desc_t*, plx_stack_result_t*);
typedef plx_status_t (*plx_coadd_input_init_fn)(plx_coadd_input_t*, size_t);
typedef plx_status_t (*plx_coadd_desc_init_fn)(plx_coadd_desc_t*, size_t);
typedef plx_status_t (*plx_coadd_result_init_fn)(plx_coadd_result_t*, size_t);
typedef plx_status_t (*plx_coadd_fn)(plx_runtime_t*, const plx_coadd_desc_t*, plx_coadd_result_t*);

/* Three 4 x 5 frames, a sigma-clipped mean: pixel i of frame j is i + j,
 * except an outlier of 1000 in frame 2 at pixel 7, which the clip cannot
 * reject with 3 samples (fewer than 3 valid ones are never clipped, and with
 * 3 the outlier is within 3 sigma): mean (i + 0 + i + 1 + i + 2) / 3 = i + 1,
 * or (7 + 8 + 1000) / 3 at pixel 7. */
static int check_stack(plx_runtime_t* runtime, plx_stack_desc_init_fn desc_init, plx_stack_result_init_fn result_init,
                       plx_stack_fn stack, plx_last_error_message_fn last_error) {
  float frames[3][20], image[20];
  int32_t count[20];
  const float* pointers[3] = {frames[0], frames[1], frames[2]};
  plx_stack_desc_t desc;
  plx_stack_result_t result;
  int i, j;
  for (j = 0; j < 3; ++j)
    for (i = 0; i < 20; ++i) frames[j][i] = (float)(i + j);
  frames[2][7] = 1000.0f;
  if (desc_init(&desc, sizeof desc) != PLX_OK || result_init(&result, sizeof result) != PLX_OK) return 1;
  desc.frames = 3;
  desc.height = 4;
  desc.width = 5;
  desc.frame_data = pointers;
  desc.reject = PLX_REJECT_SIGMA_CLIP;
  desc.device = PLX_PREFER_CPU;
  result.image = image;
  result.count = count;
  if (stack(runtime, &desc, &result) != PLX_OK) {
    fprintf(stderr, "plx_stack: %s\n", last_error());
    return 1;
  }
  for (i = 0; i < 20; ++i) {
    const float want = i == 7 ? (7.0f + 8.0f + 1000.0f) / 3.0f : (float)(i + 1);
    if (fabsf(image[i] - want) > 1e-5f * want || count[i] != 3) {
      fprintf(stderr, "plx_stack: pixel %d is %g (count %d), expected %g (3)\n", i, image[i], count[i], want);
      return 1;
    }
  }
  return 0;
}

/* Two 6 x 8 images co-added by mean onto a 6 x 10 grid: the first in place,
 * the second shifted two columns right (output x reads input x - 2). Where
 * both cover, the mean of the two; the footprint counts the inputs. */
static int check_coadd(plx_runtime_t* runtime, plx_coadd_input_init_fn input_init, plx_coadd_desc_init_fn desc_init,
                       plx_coadd_result_init_fn result_init, plx_coadd_fn coadd, plx_last_error_message_fn last_error) {
  float a[48], b[48], image[60], footprint[60];
  plx_coadd_input_t inputs[2];
  plx_coadd_desc_t desc;
  plx_coadd_result_t result;
  int i, x, y;
  for (i = 0; i < 48; ++i) {
    a[i] = (float)i;
    b[i] = 100.0f + (float)i;
  }
  for (i = 0; i < 2; ++i) {
    if (input_init(&inputs[i], sizeof inputs[i]) != PLX_OK) return 1;
    inputs[i].data = i == 0 ? a : b;
    inputs[i].height = 6;
    inputs[i].width = 8;
  }
  inputs[1].matrix[2] = -2.0; /* xi = x - 2 */
  if (desc_init(&desc, sizeof desc) != PLX_OK || result_init(&result, sizeof result) != PLX_OK) return 1;
  desc.inputs = inputs;
  desc.count = 2;
  desc.height = 6;
  desc.width = 10;
  desc.interpolation = PLX_INTERP_NEAREST;
  desc.device = PLX_PREFER_CPU;
  result.image = image;
  result.footprint = footprint;
  if (coadd(runtime, &desc, &result) != PLX_OK) {
    fprintf(stderr, "plx_coadd: %s\n", last_error());
    return 1;
  }
  for (y = 0; y < 6; ++y)
    for (x = 0; x < 10; ++x) {
      const int in_a = x < 8, in_b = x >= 2;
      const float va = (float)(y * 8 + x), vb = 100.0f + (float)(y * 8 + x - 2);
      const float want = in_a && in_b ? (va + vb) / 2 : in_a ? va : vb;
      if (image[y * 10 + x] != want || footprint[y * 10 + x] != (float)(in_a + in_b)) {
        fprintf(stderr, "plx_coadd: pixel (%d, %d) is %g (footprint %g), expected %g (%d)\n", x, y,
                image[y * 10 + x], footprint[y * 10 + x], want, in_a + in_b);
        return 1;
      }
    }
  return 0;
}

/* A loop body: sums its range, so the loop really runs on the arena's threads. */
static int sum_range(int64_t begin, int64_t end, int32_t worker, void* user) {
  volatile int64_t* sums = (volatile int64_t*)user;
  int64_t i, s = 0;
  for (i = begin; i < end; ++i) s += i;
  sums[worker] += s;
  return 0;
}

static const char* g_plugin_def = NULL; /* plugin.def, when given */

/* dlopen, saying why it failed. */
static void* open_library(const char* path) {
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) fprintf(stderr, "dlopen(%s) failed: %s\n", path, dlerror());
  return lib;
}

/* One load-use-unload cycle. Returns 0 on success. */
static int cycle(const char* path, int device_policy) {
  void* lib = open_library(path);
  if (!lib) return 1;
  {
    RESOLVE(lib, plx_abi_compatible);
    RESOLVE(lib, plx_last_error_message);
    RESOLVE(lib, plx_runtime_options_init);
    RESOLVE(lib, plx_runtime_create);
    RESOLVE(lib, plx_runtime_destroy);
    RESOLVE(lib, plx_caps_get);
    RESOLVE(lib, plx_workload_init);
    RESOLVE(lib, plx_plan_create);
    RESOLVE(lib, plx_plan_get);
    RESOLVE(lib, plx_plan_destroy);
    RESOLVE(lib, plx_run_options_init);
    RESOLVE(lib, plx_parallel_for);
    RESOLVE(lib, plx_stack_desc_init);
    RESOLVE(lib, plx_stack_result_init);
    RESOLVE(lib, plx_stack);
    RESOLVE(lib, plx_coadd_input_init);
    RESOLVE(lib, plx_coadd_desc_init);
    RESOLVE(lib, plx_coadd_result_init);
    RESOLVE(lib, plx_coadd);
    plx_runtime_options_t options;
    plx_runtime_t* runtime = NULL;
    plx_caps_t caps;
    plx_workload_t workload;
    plx_plan_t* plan = NULL;
    plx_plan_info_t info;
    plx_run_options_t run;
    int64_t sums[4] = {0, 0, 0, 0};

    if (!plx_abi_compatible(PLX_VERSION_MAJOR, PLX_VERSION_MINOR)) {
      fprintf(stderr, "library is not ABI-compatible with header %s\n", PLX_VERSION_STRING);
      return 1;
    }
    if (g_plugin_def && resolve_plugin_def(lib, g_plugin_def) < 0) return 1;
    if (plx_runtime_options_init(&options, sizeof options) != PLX_OK) return 1;
    options.device_policy = device_policy;
    if (plx_runtime_create(&options, &runtime) != PLX_OK) {
      fprintf(stderr, "plx_runtime_create: %s\n", plx_last_error_message());
      return 1;
    }
    caps.struct_size = sizeof caps;
    if (plx_caps_get(runtime, &caps) != PLX_OK || caps.cpu_usable < 1) return 1;
    if (plx_workload_init(&workload, sizeof workload) != PLX_OK) return 1;
    workload.items = 13000;
    workload.bytes_per_item = 24883200;
    workload.kind = PLX_WORKLOAD_MIXED;
    if (plx_plan_create(runtime, &workload, &plan) != PLX_OK) {
      fprintf(stderr, "plx_plan_create: %s\n", plx_last_error_message());
      return 1;
    }
    info.struct_size = sizeof info;
    if (plx_plan_get(plan, &info) != PLX_OK || info.cpu_workers < 1 || info.cpu_workers > caps.cpu_usable) return 1;
    plx_plan_destroy(plan);
    if (plx_run_options_init(&run, sizeof run) != PLX_OK) return 1;
    run.workers = 4;
    run.grain = 1000;
    if (plx_parallel_for(runtime, NULL, 0, 100000, sum_range, sums, &run) != PLX_OK) {
      fprintf(stderr, "plx_parallel_for: %s\n", plx_last_error_message());
      return 1;
    }
    if (sums[0] + sums[1] + sums[2] + sums[3] != (int64_t)99999 * 100000 / 2) {
      fprintf(stderr, "plx_parallel_for summed wrong\n");
      return 1;
    }
    if (check_stack(runtime, plx_stack_desc_init, plx_stack_result_init, plx_stack, plx_last_error_message) != 0 ||
        check_coadd(runtime, plx_coadd_input_init, plx_coadd_desc_init, plx_coadd_result_init, plx_coadd,
                    plx_last_error_message) != 0)
      return 1;
    plx_runtime_destroy(runtime);
  }
  if (dlclose(lib) != 0) {
    fprintf(stderr, "dlclose failed: %s\n", dlerror());
    return 1;
  }
  /* Really unloaded: nothing (a thread, a thread_local destructor, a unique
   * symbol) pins the library in memory. */
  if (is_mapped("libparallax")) {
    fprintf(stderr, "FAIL: libparallax is still mapped after dlclose\n");
    return 1;
  }
  return 0;
}

/* A host thread that runs a loop on the runtime, then stays alive until told. */
typedef plx_status_t (*plx_parallel_for_fn)(plx_runtime_t*, const plx_plan_t*, int64_t, int64_t, plx_range_fn,
                                            void*, const plx_run_options_t*);
struct PoolThread {
  plx_parallel_for_fn parallel_for;
  plx_runtime_t* runtime;
  int64_t sums[64];
  volatile int ran, stop;
};

static void* pool_thread(void* arg) {
  struct PoolThread* t = (struct PoolThread*)arg;
  t->ran = t->parallel_for(t->runtime, NULL, 0, 1000000, sum_range, t->sums, NULL) == PLX_OK ? 1 : -1;
  while (!t->stop) usleep(1000);
  return NULL;
}

/* The last runtime goes while another host thread that ran work lives on,
 * then the host dlcloses and keeps running while oneTBB's workers wake. */
static int outliving_host_thread(const char* path) {
  const int threads_before = thread_count(); /* an OpenCL driver's, loaded by the phases before */
  void* lib = open_library(path);
  struct PoolThread t;
  pthread_t thread;
  int i;
  if (!lib) return 1;
  {
    RESOLVE(lib, plx_last_error_message);
    RESOLVE(lib, plx_runtime_options_init);
    RESOLVE(lib, plx_runtime_create);
    RESOLVE(lib, plx_runtime_destroy);
    RESOLVE(lib, plx_parallel_for);
    plx_runtime_options_t options;
    memset(&t, 0, sizeof t);
    t.parallel_for = plx_parallel_for;
    if (plx_runtime_options_init(&options, sizeof options) != PLX_OK) return 1;
    options.device_policy = PLX_DEVICE_CPU_ONLY;
    if (plx_runtime_create(&options, &t.runtime) != PLX_OK) {
      fprintf(stderr, "plx_runtime_create: %s\n", plx_last_error_message());
      return 1;
    }
    if (pthread_create(&thread, NULL, pool_thread, &t) != 0) return 1;
    while (!t.ran) usleep(1000);
    for (i = 0; i < 20 && t.ran == 1; ++i)
      if (plx_parallel_for(t.runtime, NULL, 0, 1000000, sum_range, t.sums, NULL) != PLX_OK) t.ran = -1;
    plx_runtime_destroy(t.runtime);
  }
  if (dlclose(lib) != 0) return 1;
  for (i = 0; i < 50; ++i) usleep(10000); /* the workers spin, yield and sleep in oneTBB's code */
  t.stop = 1;
  pthread_join(thread, NULL);
  if (t.ran != 1) {
    fprintf(stderr, "FAIL: plx_parallel_for failed on a host thread\n");
    return 1;
  }
  /* Unmapped is right only when no worker is left to run its code: with one
   * usable CPU oneTBB starts none (no thread is left beyond those before). */
  if (is_mapped("libparallax") != 1) {
    if (thread_count() > threads_before) {
      fprintf(stderr, "FAIL: libparallax was unmapped under oneTBB's workers (%d threads, %d before)\n",
              thread_count(), threads_before);
      return 1;
    }
    printf("outliving host thread: no oneTBB worker outlived the runtime, and dlclose unloaded the library\n");
    return 0;
  }
  printf("outliving host thread: dlclose kept the library loaded for oneTBB's workers\n");
  return 0;
}

/* Runs `iterations` cycles and checks that threads and memory end where they
 * stood after the first `warmup` cycles (the first cycles load what a process
 * loads once: the C++ runtime, hwloc, an OpenCL driver). */
static int phase(const char* path, int device_policy, const char* name, int iterations) {
  const int warmup = 10;
  int threads_warm = 0;
  long rss_warm = 0;
  int i;
  for (i = 0; i < warmup + iterations; ++i) {
    if (cycle(path, device_policy) != 0) return 1;
    if (i == warmup - 1) {
      threads_warm = thread_count();
      rss_warm = rss_kib();
    }
  }
  printf("%s: %d cycles; threads %d after %d, %d at the end; rss %ld KiB after %d, %ld KiB at the end\n", name,
         warmup + iterations, threads_warm, warmup, thread_count(), rss_warm, warmup, rss_kib());
  if (thread_count() != threads_warm) {
    fprintf(stderr, "FAIL: %s: threads went from %d to %d\n", name, threads_warm, thread_count());
    return 1;
  }
  /* A leak of even one page per cycle would show as >= 400 KiB here. */
  if (rss_kib() - rss_warm > 256) {
    fprintf(stderr, "FAIL: %s: memory grew by %ld KiB over %d load/unload cycles\n", name, rss_kib() - rss_warm,
            iterations);
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "libparallax.so.0";
  int iterations = argc > 2 ? atoi(argv[2]) : 100;
  int threads_before = thread_count();
  if (argc > 3) {
    void* lib = open_library(path);
    int resolved;
    if (!lib) return 1;
    resolved = resolve_plugin_def(lib, argv[3]);
    dlclose(lib);
    if (resolved < 1) return 1;
    printf("plugin.def: all %d symbols resolve\n", resolved);
    g_plugin_def = argv[3];
  }

  /* CPU_ONLY: Parallax itself must leave exactly the threads it found. */
  if (phase(path, PLX_DEVICE_CPU_ONLY, "CPU_ONLY", iterations) != 0) return 1;
  if (thread_count() != threads_before) {
    fprintf(stderr, "FAIL: %d threads before any load, %d after the CPU_ONLY cycles\n", threads_before, thread_count());
    return 1;
  }
  /* AUTO discovers OpenCL devices: a driver (PoCL) starts its own worker
   * threads once per process; they must not multiply per cycle. */
  if (phase(path, PLX_DEVICE_AUTO, "AUTO", iterations) != 0) return 1;
  /* Last: it pins the library in this process. */
  if (outliving_host_thread(path) != 0) return 1;
  printf("OK: %d dlopen/dlclose cycles, %d thread(s) before, none left by Parallax\n", 2 * (iterations + 10),
         threads_before);
  return 0;
}
