/*
 * Parallax — an embeddable parallel runtime for scientific image processing.
 *
 * This header is the whole public interface of libparallax. Nothing outside it
 * is API: internal headers, symbol names not declared here, the layout of the
 * JSON documents beyond the keys documented below, and anything in the
 * EXPERIMENTAL section at the end may change in any release. What is declared
 * here (outside that section) keeps working for every 0.x library: fields are
 * only ever appended to structs, enum values are never renumbered, and
 * functions are never removed or changed.
 *
 * Conventions, once for every function below:
 * - Every fallible function returns a plx_status_t. On failure,
 *   plx_last_error_message() on the same thread says what was wrong and what to
 *   do, and out-parameters are left untouched unless the function says
 *   otherwise (out-handles are set to NULL).
 * - Structs passed in begin with `size_t struct_size`. Fill them with the
 *   matching plx_xxx_init(&s, sizeof s) so defaults come from the library and a
 *   newer library never writes past an older host's struct. Structs filled by
 *   the library (plx_caps_t, plx_plan_info_t, ...) need only struct_size set to
 *   sizeof the struct before the call.
 * - Handles are opaque, created and destroyed by matching functions; destroy
 *   functions accept NULL.
 * - Every function is safe to call from any thread unless its comment says
 *   otherwise. Callbacks may be called from threads the library owns.
 * - Sizes of data (items, rows, bytes of images and buffers) are int64_t; a
 *   negative size is an error. Byte counts end in _bytes. Sizes of host
 *   objects the caller passes (struct_size, text buffers, one value or kernel
 *   argument) are size_t, as for memcpy.
 *
 * This header compiles as C99 and as C++11 and includes only <stddef.h> and
 * <stdint.h>.
 */
#ifndef PARALLAX_H
#define PARALLAX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/*  Export macros                                                           */
/* ======================================================================== */

/* PLX_API marks every public function. Building the library defines
 * PLX_BUILDING; a static build of a host defines PLX_STATIC. */
#if defined(PLX_STATIC)
#define PLX_API
#elif defined(_WIN32)
#if defined(PLX_BUILDING)
#define PLX_API __declspec(dllexport)
#else
#define PLX_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define PLX_API __attribute__((visibility("default")))
#else
#define PLX_API
#endif

/* Experimental symbols carry PLX_API_EXPERIMENTAL: exported, but outside the
 * stability promise (see the EXPERIMENTAL section). */
#define PLX_API_EXPERIMENTAL PLX_API

/* ======================================================================== */
/*  Versions                                                                */
/* ======================================================================== */

#define PLX_VERSION_MAJOR 0
#define PLX_VERSION_MINOR 1
#define PLX_VERSION_PATCH 0
/** Packed version of this header: major * 10000 + minor * 100 + patch. */
#define PLX_VERSION_NUMBER (PLX_VERSION_MAJOR * 10000 + PLX_VERSION_MINOR * 100 + PLX_VERSION_PATCH)
#define PLX_VERSION_STRING "0.1.0"

/**
 * The packed version (major * 10000 + minor * 100 + patch) of the library
 * actually loaded, to compare with PLX_VERSION_NUMBER of the header a host was
 * compiled against.
 * @since 0.1
 */
PLX_API uint32_t plx_version(void);

/**
 * The version of the loaded library as "major.minor.patch". Static storage:
 * never NULL, never freed.
 * @since 0.1
 */
PLX_API const char* plx_version_string(void);

/**
 * Whether this library can serve a host compiled against header version
 * major.minor: same major version and a library minor at least the host's.
 * Returns 1 when compatible, 0 otherwise. Call it once after loading:
 * `plx_abi_compatible(PLX_VERSION_MAJOR, PLX_VERSION_MINOR)`.
 * @since 0.1
 */
PLX_API int plx_abi_compatible(int major, int minor);

/* ======================================================================== */
/*  Status codes and errors                                                 */
/* ======================================================================== */

/**
 * The result of every fallible call: one of the PLX_OK / PLX_ERR_* values.
 * A fixed 32-bit integer rather than the enum itself, so that any value is
 * well-defined in C and C++. Values are fixed forever; values below 1000 are
 * stable, values from 1000 up belong to experimental features. Hosts must
 * tolerate values they do not know (treat them as a failure).
 */
typedef int32_t plx_status_t;

/** The values of plx_status_t. */
enum plx_status_code {
  PLX_OK = 0,
  /** An argument is NULL, out of range, inconsistent, or a struct_size is 0. */
  PLX_ERR_INVALID_ARGUMENT = 1,
  /** Memory (host or device) is insufficient, or a plan's minimum does not fit
   *  the memory budget; the message has the numbers. */
  PLX_ERR_OUT_OF_MEMORY = 2,
  /** An OpenCL device call failed; the message names the call and error. */
  PLX_ERR_DEVICE = 3,
  /** A device was required (PLX_DEVICE_GPU_REQUIRED) and none matched. */
  PLX_ERR_NO_DEVICE = 4,
  /** A callback asked to stop, or the work was cancelled. */
  PLX_ERR_CANCELLED = 5,
  /** One or more tasks failed; their own statuses say why. */
  PLX_ERR_TASK_FAILED = 6,
  /** The request is valid but this build or machine cannot do it. */
  PLX_ERR_UNSUPPORTED = 7,
  /** Version mismatch: a struct_size from a newer header with fields this
   *  library does not know, or a library too old for the host. */
  PLX_ERR_VERSION = 8,
  /** A file could not be read or written. */
  PLX_ERR_IO = 9,
  /** A bug in Parallax; the message says where. Please report it. */
  PLX_ERR_INTERNAL = 10,
  /** A caller buffer is too small; the required size was reported. */
  PLX_ERR_BUFFER_TOO_SMALL = 11,
  /** A wait ended before the job did; the job goes on (plx_job_wait). */
  PLX_ERR_TIMEOUT = 12
};

/**
 * The name of a status, e.g. "PLX_ERR_INVALID_ARGUMENT". Static storage, never
 * NULL; unknown values give "PLX_ERR_UNKNOWN".
 * @since 0.1
 */
PLX_API const char* plx_status_string(plx_status_t status);

/**
 * A human-readable message for the last failure on the calling thread: what
 * was wrong, which argument and value, and what to do. Never NULL ("" when no
 * call has failed on this thread). Owned by the library, valid until the next
 * Parallax call on this thread. Successful calls do not clear it: read it only
 * after a call returned an error.
 * @since 0.1
 */
PLX_API const char* plx_last_error_message(void);

/**
 * The status of the last failure on the calling thread (PLX_OK when none).
 * @since 0.1
 */
PLX_API plx_status_t plx_last_error_status(void);

/* ======================================================================== */
/*  Handles                                                                 */
/* ======================================================================== */

/** A runtime: the machine as this process may use it, and the options. */
typedef struct plx_runtime plx_runtime_t;
/** A plan: how to run one workload on one runtime's machine. */
typedef struct plx_plan plx_plan_t;
/** A flag a host sets to stop runs that were given it (thread-safe). */
typedef struct plx_cancel_token plx_cancel_token_t;
/** A run submitted without waiting (plx_parallel_for_async, plx_tasks_submit). */
typedef struct plx_job plx_job_t;
/** A host-provided OpenCL kernel, built for the runtime's devices. */
typedef struct plx_kernel plx_kernel_t;
/** Memory on one device. */
typedef struct plx_buffer plx_buffer_t;

/* ======================================================================== */
/*  Enumerations                                                            */
/* ======================================================================== */

/** Log severity; a runtime passes messages at or above its log_level. */
typedef enum plx_log_level {
  PLX_LOG_OFF = 0,
  PLX_LOG_ERROR = 1,
  PLX_LOG_WARN = 2,
  PLX_LOG_INFO = 3,
  PLX_LOG_DEBUG = 4
} plx_log_level_t;

/** Which devices a runtime may use. */
typedef enum plx_device_policy {
  /** Use an OpenCL device when the workload asks for one and one matches the
   *  filter; otherwise run on the CPU. */
  PLX_DEVICE_AUTO = 0,
  /** Never touch OpenCL: CPU only. */
  PLX_DEVICE_CPU_ONLY = 1,
  /** Fail with PLX_ERR_NO_DEVICE at plx_runtime_create when no device
   *  matches the filter, and never fall back to the CPU. */
  PLX_DEVICE_GPU_REQUIRED = 2
} plx_device_policy_t;

/** OpenCL device types, as bits of a mask. */
typedef enum plx_device_type {
  PLX_DEVICE_TYPE_CPU = 1, /**< e.g. PoCL on the host CPU */
  PLX_DEVICE_TYPE_GPU = 2,
  PLX_DEVICE_TYPE_ACCELERATOR = 4,
  PLX_DEVICE_TYPE_ANY = 7
} plx_device_type_t;

/** What limits a workload, which sets how many CPU workers it gets. */
typedef enum plx_workload_kind {
  PLX_WORKLOAD_CPU = 0,    /**< compute-bound: one worker per usable CPU */
  PLX_WORKLOAD_MEMORY = 1, /**< bandwidth-bound: capped per NUMA node */
  PLX_WORKLOAD_IO = 2,     /**< waits on I/O: up to 2 workers per CPU */
  PLX_WORKLOAD_GPU = 3,    /**< runs on devices; one host worker each */
  PLX_WORKLOAD_MIXED = 4   /**< devices and CPU workers share the work */
} plx_workload_kind_t;

/** How a workload's chunks are cut from its items. */
typedef enum plx_workload_layout {
  /** Items are processed independently: a chunk is a group of items, or rows
   *  of one item when a single item does not fit. */
  PLX_LAYOUT_ITEMS = 0,
  /** Each output row needs that row of every item (image stacking): a chunk
   *  is a band of rows through all items. Requires rows and bytes_per_row. */
  PLX_LAYOUT_ROWS_ACROSS_ITEMS = 1
} plx_workload_layout_t;

/** Where a workload would rather run. */
typedef enum plx_device_preference {
  PLX_PREFER_AUTO = 0, /**< by kind: GPU and MIXED use devices */
  PLX_PREFER_CPU = 1,  /**< never use a device */
  PLX_PREFER_GPU = 2   /**< use devices whatever the kind */
} plx_device_preference_t;

/** Value of memory_limit_bytes when no limit applies. */
#define PLX_UNLIMITED (-1)

/* ======================================================================== */
/*  Runtime                                                                 */
/* ======================================================================== */

/**
 * Log callback. `message` is one line (a sentence, or a JSON object for
 * summaries such as "parallel_plan_summary"), valid only during the call.
 * Called from any thread, but never twice at once for one runtime. It must
 * not call back into the runtime that logs. Lines at PLX_LOG_INFO include one
 * JSON object per runtime created ({"event":"runtime_summary",...}) and per
 * plan ({"event":"parallel_plan_summary",...}); PLX_LOG_WARN lines report
 * inputs that were skipped (a malformed cgroup file, a failing OpenCL
 * platform).
 */
typedef void (*plx_log_fn)(void* user_data, plx_log_level_t level, const char* message);

/** Options of plx_runtime_create. Fill with plx_runtime_options_init. */
typedef struct plx_runtime_options {
  size_t struct_size;
  /** Most CPU workers any plan may use; 0 (default) = all usable CPUs. */
  int32_t max_cpu_workers;
  /** CPUs left to the host's own threads; default 0. */
  int32_t reserve_cpus;
  /** Share of free memory plans may use, in (0, 1]; default 0.75. */
  double ram_fraction;
  /** Share of each device's memory plans may use, in (0, 1]; default 0.5. */
  double vram_fraction;
  /** A plx_device_policy_t; default PLX_DEVICE_AUTO. */
  int32_t device_policy;
  /** A plx_log_level_t; default PLX_LOG_INFO (only with a log_callback). */
  int32_t log_level;
  /** Receives log lines; NULL (default): the library logs nothing. */
  plx_log_fn log_callback;
  void* log_user_data;
  /** A machine profile replacing detection: JSON text (first non-blank
   *  character '{') or the path of a JSON file (surrounding blanks ignored).
   *  NULL (default): detect this machine. Copied. */
  const char* machine_profile;
  /** Root under which /proc and /sys are read (for tests); NULL (default):
   *  $PLX_SYSROOT when set, else "/". Copied. */
  const char* sysroot;
  /** Only devices whose name, vendor or platform contains this text
   *  (case-insensitive); NULL (default) = any. Copied. */
  const char* device_filter;
  /** Mask of plx_device_type_t a runtime may use; 0 (default) = GPU |
   *  ACCELERATOR. Add PLX_DEVICE_TYPE_CPU to use CPU OpenCL devices (PoCL). */
  int32_t device_types;
  /** Fault injection for tests: make chosen tasks, chunks or device calls
   *  fail, e.g. "task=7@1-2:out_of_memory;chunk=3:task_failed" (task 7 fails
   *  with PLX_ERR_OUT_OF_MEMORY on its attempts 1 and 2; chunk 3 of every loop
   *  fails). Rules, separated by ';':
   *  - "task=INDEX[@ATTEMPTS]:STATUS": a task of plx_tasks_run, on the given
   *    attempts (N, N-M or *, the default);
   *  - "chunk=INDEX:STATUS": a chunk of plx_parallel_for / plx_parallel_reduce;
   *  - "alloc=INDEX:STATUS", "build=INDEX:STATUS", "enqueue=INDEX:STATUS": the
   *    INDEX-th device buffer allocation, program build or kernel launch,
   *    counted from 0 over the runtime's whole life.
   *  INDEX is N, N-M or *; STATUS a status name with or without "PLX_ERR_".
   *  NULL (default): $PLX_FAULT when set, else none. Copied. @since 0.1 */
  const char* fault_injection;
  /** Directory of the on-disk program cache and measured device figures;
   *  NULL (default): $XDG_CACHE_HOME/parallax, else $HOME/.cache/parallax;
   *  "" turns the disk cache off. Created private (0700). Copied. @since 0.1 */
  const char* cache_dir;
  /** Treat every device as having at most this much memory (plans and
   *  allocations; to test data larger than a device); 0 (default) = none.
   *  @since 0.1 */
  int64_t device_memory_limit_bytes;
  /** List each OpenCL device this many times, each with contexts and queues
   *  of its own (to test sharing work between devices on one machine);
   *  0 (default): $PLX_DEVICE_REPLICAS, else 1. At most 16. @since 0.1 */
  int32_t device_replicas;
  int32_t reserved0; /**< 0 */
} plx_runtime_options_t;

/**
 * Fills `options` with the defaults above. `struct_size` is the caller's
 * sizeof(plx_runtime_options_t); fields this library does not know are zeroed.
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULL), PLX_ERR_VERSION (size smaller than
 * the 0.1 struct).
 * @since 0.1
 */
PLX_API plx_status_t plx_runtime_options_init(plx_runtime_options_t* options, size_t struct_size);

/**
 * Creates a runtime: reads the machine (or the profile) and checks options.
 * `options` may be NULL for defaults. CPUs and topology are read here; memory
 * figures (available, cgroup usage) are read again when older than a second,
 * so a long-lived runtime plans with current numbers. On success *runtime is a new handle to
 * free with plx_runtime_destroy; on failure it is set to NULL.
 * OpenCL devices are discovered on first use (plx_caps_get, describe, a plan
 * that wants a device), except with PLX_DEVICE_GPU_REQUIRED, which discovers
 * them here. No OpenCL platform at all is not an error.
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULL runtime, out-of-range option, bad
 * profile: the message names the line and field), PLX_ERR_VERSION (options
 * from a newer header with fields set that this library does not know),
 * PLX_ERR_IO (profile file unreadable), PLX_ERR_NO_DEVICE (GPU_REQUIRED and no
 * device matches), PLX_ERR_OUT_OF_MEMORY.
 * @since 0.1
 */
PLX_API plx_status_t plx_runtime_create(const plx_runtime_options_t* options, plx_runtime_t** runtime);

/**
 * Destroys a runtime: cancels its jobs and waits for them (a job that had
 * not started runs, cancelled, on this thread, so its final progress call
 * comes from here). NULL is allowed. Plans and job handles created from it
 * stay valid. Not to be called while another thread uses the same runtime.
 * Threads: once the last runtime and its job handles are destroyed, no
 * Parallax thread is left — oneTBB's workers end then, provided no other
 * host thread that ran Parallax work is still alive (oneTBB keeps its
 * workers for such threads; they end with the last of them). Destroying the
 * runtime on the thread that ran its work is the simple way.
 * @since 0.1
 */
PLX_API void plx_runtime_destroy(plx_runtime_t* runtime);

/**
 * Writes the runtime's machine description as JSON into `buffer` (like
 * snprintf: at most buffer_size bytes, always NUL-terminated when buffer_size
 * > 0). `required_size` (optional) receives the size needed including the NUL.
 * Pass buffer = NULL, buffer_size = 0 to ask for the size only.
 * The document has at least: cpu.logical, cpu.physical, cpu.usable,
 * cpu.affinity, cpu.quota (null when unlimited), cpu.numa_nodes, cpu.caches,
 * memory.total_bytes, memory.available_bytes, memory.limit_bytes (null when
 * unlimited), memory.usage_bytes, memory.budget_bytes, devices[], options,
 * sources (where each figure came from) and warnings[].
 * Errors: PLX_ERR_INVALID_ARGUMENT, PLX_ERR_BUFFER_TOO_SMALL (the truncated
 * text was written and *required_size set).
 * @since 0.1
 */
PLX_API plx_status_t plx_runtime_describe_json(plx_runtime_t* runtime, char* buffer, size_t buffer_size,
                                               size_t* required_size);

/** The machine as the runtime sees it. Set struct_size before the call. */
typedef struct plx_caps {
  size_t struct_size;
  int32_t cpu_logical;  /**< online logical CPUs of the machine */
  int32_t cpu_physical; /**< physical cores of the machine */
  int32_t cpu_usable;   /**< min(affinity, ceil(cgroup quota)) */
  int32_t cpu_affinity; /**< CPUs in this process's affinity mask */
  double cpu_quota;     /**< cgroup CPU quota in CPUs; 0 when unlimited */
  int32_t numa_nodes;
  int32_t device_count; /**< OpenCL devices found (usable or not) */
  int64_t memory_total_bytes;
  int64_t memory_available_bytes; /**< MemAvailable */
  int64_t memory_limit_bytes;     /**< cgroup limit, or PLX_UNLIMITED */
  int64_t memory_usage_bytes;     /**< cgroup usage (0 without a limit) */
  int64_t memory_budget_bytes;    /**< min(available, limit - usage) x ram_fraction */
  int64_t cache_l1d_bytes;        /**< 0 when unknown */
  int64_t cache_l2_bytes;
  int64_t cache_l3_bytes;
  int32_t cgroup_version; /**< 0 none found, 1 or 2 */
  int32_t from_profile;   /**< 1 when a machine profile replaced detection */
} plx_caps_t;

/**
 * Fills `caps` (set caps->struct_size = sizeof *caps first). Discovers OpenCL
 * devices if not done yet.
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULL, struct_size 0), PLX_ERR_VERSION.
 * @since 0.1
 */
PLX_API plx_status_t plx_caps_get(plx_runtime_t* runtime, plx_caps_t* caps);

/** One OpenCL device. Set struct_size before the call. */
typedef struct plx_device_info {
  size_t struct_size;
  int32_t index; /**< 0 .. caps.device_count - 1 */
  int32_t type;  /**< one plx_device_type_t bit */
  char name[128];
  char vendor[128];
  char platform[128];
  char driver_version[64];
  char opencl_c_version[64];
  int32_t compute_units;
  int32_t max_clock_mhz;
  int64_t global_memory_bytes;
  int64_t max_alloc_bytes; /**< largest single buffer */
  int64_t local_memory_bytes;
  int32_t fp64;           /**< 1 when doubles are supported */
  int32_t unified_memory; /**< 1 when the device shares host memory */
  int32_t usable;         /**< 1 when the policy, filter and types admit it */
  int32_t simulated;      /**< 1 when it comes from a machine profile */
  /** End-to-end streaming throughput measured by plx_device_measure or
   *  `parallax bench --suite device` (GB/s, cached per device in cache_dir);
   *  0 when not measured. */
  double measured_gbps;
} plx_device_info_t;

/**
 * Fills `info` for device `index` (0 .. caps.device_count - 1). Strings are
 * NUL-terminated, truncated to their arrays.
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULL, index out of range), PLX_ERR_VERSION.
 * @since 0.1
 */
PLX_API plx_status_t plx_device_info_get(plx_runtime_t* runtime, int32_t index, plx_device_info_t* info);

/* ======================================================================== */
/*  Planning                                                                */
/* ======================================================================== */

/** A workload to plan. Fill with plx_workload_init, then set its fields. */
typedef struct plx_workload {
  size_t struct_size;
  /** For logs and describe; NULL = "workload". Copied into the plan. */
  const char* name;
  int32_t kind;           /**< a plx_workload_kind_t; default CPU */
  int32_t layout;         /**< a plx_workload_layout_t; default ITEMS */
  int64_t items;          /**< number of items (frames, tiles...), >= 1 */
  int64_t bytes_per_item; /**< input bytes of one item, >= 0 */
  /** Rows of one item (image height) and bytes of one row of one item; 0
   *  when the items are not images. Then rows * bytes_per_row must not exceed
   *  bytes_per_item (bytes_per_item 0 = rows * bytes_per_row). */
  int64_t rows;
  int64_t bytes_per_row;
  /** Bytes held in memory per input byte while a chunk is processed (input
   *  plus temporaries), >= 1; default 1. */
  double working_set_factor;
  /** Fixed bytes each worker needs besides its chunk (scratch), >= 0. */
  int64_t per_worker_bytes;
  /** Most workers this workload can use; 0 (default) = no cap. */
  int32_t max_workers;
  /** A plx_device_preference_t; default AUTO. */
  int32_t preferred_device;
} plx_workload_t;

/**
 * Fills `workload` with defaults (kind CPU, layout ITEMS, items 0 — to be set,
 * working_set_factor 1). Errors as plx_runtime_options_init.
 * @since 0.1
 */
PLX_API plx_status_t plx_workload_init(plx_workload_t* workload, size_t struct_size);

/**
 * Plans `workload` on the runtime's machine: CPU workers, devices and their
 * shares, chunk sizes within the memory budgets, and one human sentence per
 * decision (see plx_plan_describe_json). Logs one JSON line
 * "parallel_plan_summary" at PLX_LOG_INFO. On success *plan is a new handle
 * to free with plx_plan_destroy (it does not refer to the runtime); on failure
 * it is set to NULL.
 * Errors: PLX_ERR_INVALID_ARGUMENT (any field out of range or inconsistent),
 * PLX_ERR_OUT_OF_MEMORY (even one worker with the smallest chunk does not fit
 * the budget; the message has the numbers), PLX_ERR_NO_DEVICE (the runtime is
 * GPU_REQUIRED and no device can take a chunk), PLX_ERR_VERSION.
 * @since 0.1
 */
PLX_API plx_status_t plx_plan_create(plx_runtime_t* runtime, const plx_workload_t* workload, plx_plan_t** plan);

/** Destroys a plan. NULL is allowed. @since 0.1 */
PLX_API void plx_plan_destroy(plx_plan_t* plan);

/** The numbers of a plan. Set struct_size before plx_plan_get. */
typedef struct plx_plan_info {
  size_t struct_size;
  int32_t cpu_workers;         /**< >= 1 */
  int32_t use_gpu;             /**< 1 when devices take part */
  int32_t device_count;        /**< devices taking part */
  int32_t streaming;           /**< 1 when the data does not fit at once */
  int64_t items_per_chunk;     /**< items in one CPU chunk */
  int64_t rows_per_chunk;      /**< rows in one CPU chunk; 0 without rows */
  int64_t gpu_rows_per_chunk;  /**< rows in one device chunk (smallest over
                                    devices); 0 without devices or rows */
  int64_t gpu_items_per_chunk; /**< items in one device chunk; 0 without devices */
  int64_t max_chunk_bytes;     /**< most bytes one CPU chunk may hold
                                    (input x working_set_factor) */
  int64_t gpu_chunk_bytes;     /**< most bytes of one device chunk (smallest) */
  int64_t memory_budget_bytes; /**< the runtime's RAM budget used */
  int64_t staging_bytes;       /**< host RAM set aside for device transfers */
  int64_t chunk_count;         /**< CPU chunks to cover the workload */
  double total_bytes;          /**< whole working set (may exceed int64) */
} plx_plan_info_t;

/** Errors: PLX_ERR_INVALID_ARGUMENT, PLX_ERR_VERSION. @since 0.1 */
PLX_API plx_status_t plx_plan_get(const plx_plan_t* plan, plx_plan_info_t* info);

/** One device of a plan. Set struct_size before plx_plan_device_get. */
typedef struct plx_plan_device {
  size_t struct_size;
  int32_t device_index;   /**< index as in plx_device_info_get */
  int32_t reserved0;      /**< 0 */
  double share;           /**< expected fraction of the device work, sums to 1 */
  int64_t chunk_bytes;    /**< bytes of one chunk on this device */
  int64_t rows_per_chunk; /**< 0 without rows */
  int64_t items_per_chunk;
  int64_t memory_budget_bytes; /**< vram_fraction x device memory */
} plx_plan_device_t;

/**
 * Fills `device` for the plan's device `index` (0 .. info.device_count - 1).
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULL, index out of range), PLX_ERR_VERSION.
 * @since 0.1
 */
PLX_API plx_status_t plx_plan_device_get(const plx_plan_t* plan, int32_t index, plx_plan_device_t* device);

/**
 * Writes the plan as JSON (snprintf-like, as plx_runtime_describe_json): the
 * fields of plx_plan_info_t by the same names, "devices", "budgets",
 * "workload" and "reasons" (one sentence per decision).
 * @since 0.1
 */
PLX_API plx_status_t plx_plan_describe_json(const plx_plan_t* plan, char* buffer, size_t buffer_size,
                                            size_t* required_size);

/* ======================================================================== */
/*  Execution                                                               */
/* ======================================================================== */

/*
 * Runs execute on the runtime's own oneTBB arena, sized to its usable CPUs
 * (never process-wide settings), and the calling thread takes part. Work is
 * spread over `workers` logical workers: each has a stable index in
 * [0, workers) for per-worker scratch, and takes chunks from a shared queue,
 * so results never depend on which thread ran what. Workers are logical: at
 * most the arena's threads (plx_run_report_t.threads) run at once, so a
 * callback must never wait for another worker to reach some point (a barrier
 * across workers can deadlock). Every run logs one JSON line
 * {"event":"parallel_run_summary",...} at PLX_LOG_INFO.
 *
 * Callbacks are called from the calling thread and from the runtime's
 * threads, concurrently for different chunks. They may call Parallax,
 * including nested runs on the same runtime (nested waits are isolated).
 */

/** Progress of a run, passed to a plx_progress_fn. */
typedef struct plx_progress {
  size_t struct_size;
  int64_t done;        /**< items (loops) or tasks finished, whether they succeeded or not */
  int64_t total;       /**< items or tasks in the run */
  int64_t bytes_done;  /**< done x bytes per item (loops), or the succeeded tasks' estimated bytes */
  double elapsed_s;    /**< since the run started */
  double eta_s;        /**< estimated seconds left; -1 until something is done */
} plx_progress_t;

/**
 * Progress callback: called at most every progress_interval_ms from any
 * thread (never twice at once for one run), and once at the end. Return 0 to
 * go on, non-zero to cancel the run (it ends with PLX_ERR_CANCELLED).
 */
typedef int (*plx_progress_fn)(const plx_progress_t* progress, void* user_data);

/** What a run did: filled at its end when plx_run_options_t.report is set. */
typedef struct plx_run_report {
  size_t struct_size;
  int32_t workers;            /**< logical workers of the run */
  int32_t threads;            /**< threads of the runtime's arena */
  int64_t chunks;             /**< chunks run (loops) or task attempts (tasks) */
  int64_t retries;            /**< task attempts after a first failure */
  int32_t peak_concurrency;   /**< most chunks or tasks running at once */
  int32_t failed;             /**< failed chunks or tasks */
  int64_t failed_begin;       /**< first failing range of a loop; -1 when none */
  int64_t failed_end;
  int32_t callback_code;      /**< what the callback returned there; 0 when none */
  int32_t reserved0;          /**< 0 */
  int64_t peak_admitted_bytes;/**< tasks: most estimated bytes running at once */
  double wall_s;
  /** Kernel runs: chunks that failed on a device and ran on the CPU function. */
  int64_t fallback_chunks;
  /** Kernel runs: times a device's chunk was halved after running out of memory. */
  int32_t chunk_splits;
  int32_t reserved1; /**< 0 */
  /** Kernel runs: seconds the devices' kernels ran (OpenCL profiling, summed
   *  over devices), without the transfers: wall_s less this is moving data
   *  and the CPU's share. 0 on the CPU, or where a driver cannot profile. */
  double device_kernel_s;
} plx_run_report_t;

/** Options of every run. Fill with plx_run_options_init. */
typedef struct plx_run_options {
  size_t struct_size;
  /** For logs and messages; NULL = the function's name. Copied. */
  const char* name;
  /** Logical workers; 0 (default) = the plan's cpu_workers, or the runtime's
   *  usable CPUs without a plan. */
  int32_t workers;
  /** Minimum milliseconds between progress calls; default 200. */
  int32_t progress_interval_ms;
  /** Items per chunk; 0 (default) = the plan's items_per_chunk, else about 8
   *  chunks per worker. A reduction uses plx_reduce_desc_t.grain, else this
   *  grain when set, never the plan's (its chunks must not depend on the
   *  workers). */
  int64_t grain;
  plx_progress_fn progress;   /**< NULL (default): no progress calls */
  void* progress_user_data;
  /** Checked between chunks and tasks; NULL (default): none. Must outlive
   *  the run. */
  plx_cancel_token_t* cancel;
  /** Bytes of one item for progress; 0 = the plan's bytes_per_item. */
  int64_t bytes_per_item;
  /** Filled when the run ends (for a job: before plx_job_wait returns); NULL
   *  (default): no report. Its struct_size must be set. */
  plx_run_report_t* report;
  /* Tasks only (plx_tasks_run / plx_tasks_submit): */
  /** Attempts per task before it fails for good; default 3. */
  int32_t max_attempts;
  /** 1: start no task after the first task fails for good (the rest end
   *  PLX_ERR_CANCELLED); 0 (default): run all. */
  int32_t fail_fast;
  /** Backoff before a retry: base x 2^(attempt-1), at most cap, times a
   *  random factor in [0.5, 1]. Defaults 0.05 s and 5 s. */
  double backoff_base_s;
  double backoff_cap_s;
  /** Successes in a row after which a halved concurrency limit grows back by
   *  one; default 4. */
  int32_t grow_after;
  int32_t reserved0;  /**< 0 */
  /** Memory the tasks' estimates may add up to; 0 (default) = the plan's
   *  budget, or the runtime's. */
  int64_t memory_budget_bytes;
  /** Seed of the backoff jitter; 0 (default) = random. */
  uint64_t jitter_seed;
} plx_run_options_t;

/**
 * Fills `options` with the defaults above. Errors as plx_runtime_options_init.
 * @since 0.1
 */
PLX_API plx_status_t plx_run_options_init(plx_run_options_t* options, size_t struct_size);

/**
 * A loop body: process items [begin, end) as logical worker `worker` (in
 * [0, workers), stable for the run). Return 0 on success; anything else stops
 * the loop, which then ends with PLX_ERR_TASK_FAILED naming the first failing
 * range and this code (also in the report).
 */
typedef int (*plx_range_fn)(int64_t begin, int64_t end, int32_t worker, void* user_data);

/**
 * Runs `fn` over [begin, end) in chunks (options.grain, else the plan's
 * items_per_chunk). `plan` (optional) supplies workers and chunk size;
 * `options` may be NULL. Returns when every chunk is done or the run stopped;
 * chunks already started finish first.
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULL runtime or fn, begin > end, bad
 * options), PLX_ERR_TASK_FAILED (a callback returned non-zero or threw: the
 * message names the range), PLX_ERR_CANCELLED (token or progress callback).
 * @since 0.1
 */
PLX_API plx_status_t plx_parallel_for(plx_runtime_t* runtime, const plx_plan_t* plan, int64_t begin, int64_t end,
                                      plx_range_fn fn, void* user_data, const plx_run_options_t* options);

/** Built-in reductions. */
typedef enum plx_reduce_op {
  PLX_REDUCE_SUM_DOUBLE = 0,  /**< partials and result are double */
  PLX_REDUCE_SUM_FLOAT = 1,   /**< float */
  PLX_REDUCE_SUM_INT64 = 2,   /**< int64_t (wraps on overflow) */
  PLX_REDUCE_CUSTOM = 3       /**< value_size bytes combined by `combine` */
} plx_reduce_op_t;

/**
 * Reduction body: fold items [begin, end) into `*partial`, which starts as
 * the identity (0 for sums). Return 0 on success, non-zero to stop (as
 * plx_range_fn).
 */
typedef int (*plx_reduce_range_fn)(int64_t begin, int64_t end, int32_t worker, void* partial, void* user_data);

/** Custom combine: `*accumulated = *accumulated (+) *partial`. Return 0, or
 *  non-zero to fail the reduction. Called on the calling thread. */
typedef int (*plx_combine_fn)(void* accumulated, const void* partial, void* user_data);

/** A reduction. Fill with plx_reduce_desc_init. */
typedef struct plx_reduce_desc {
  size_t struct_size;
  int32_t op;                  /**< a plx_reduce_op_t; default SUM_DOUBLE */
  int32_t reserved0;           /**< 0 */
  plx_reduce_range_fn range;   /**< required */
  plx_combine_fn combine;      /**< CUSTOM only */
  void* user_data;
  size_t value_size;           /**< CUSTOM: bytes of one value, 1 .. 4096 */
  const void* identity;        /**< CUSTOM: value_size bytes; NULL = zeros */
  /** Items per chunk, fixed so that the result never depends on the workers
   *  or the plan: 0 (default) = ceil(n / 4096). Partials are combined in a
   *  fixed pairwise tree, so the result is bit-identical for any workers and
   *  any run. */
  int64_t grain;
} plx_reduce_desc_t;

/** Fills `desc` with defaults. Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_reduce_desc_init(plx_reduce_desc_t* desc, size_t struct_size);

/**
 * Reduces [begin, end) into `result` (a double, float, int64_t, or
 * value_size bytes). An empty range gives the identity. `plan` supplies the
 * workers only. Errors as plx_parallel_for, plus PLX_ERR_INVALID_ARGUMENT for
 * a bad descriptor or a grain giving more than 2^20 chunks.
 * @since 0.1
 */
PLX_API plx_status_t plx_parallel_reduce(plx_runtime_t* runtime, const plx_plan_t* plan, int64_t begin, int64_t end,
                                         const plx_reduce_desc_t* desc, void* result,
                                         const plx_run_options_t* options);

/** What a task sees of its run, and where it reports back. */
typedef struct plx_task_context {
  size_t struct_size;
  int64_t index;            /**< the task's index in tasks[] */
  int32_t attempt;          /**< 1 for the first run */
  int32_t worker;           /**< logical worker, in [0, workers) */
  int64_t estimated_bytes;  /**< the current estimate of its peak memory */
  /** Out: the task's real peak when its estimate proved too small. A failed
   *  attempt that reports more than its estimate is retried like
   *  PLX_ERR_OUT_OF_MEMORY, with this as the new estimate. */
  int64_t reported_bytes;
  /** Out: why the task failed (NUL-terminated); copied to its result. */
  char message[256];
} plx_task_context_t;

/** A task body: return PLX_OK, PLX_ERR_OUT_OF_MEMORY (retried), or another
 *  status (the task fails). */
typedef plx_status_t (*plx_task_fn)(plx_task_context_t* context, void* user_data);

/** One task. Every element of a tasks[] array has tasks[0]'s struct_size. */
typedef struct plx_task {
  size_t struct_size;
  plx_task_fn fn;
  void* user_data;
  /** Estimated peak memory; a task starts only when it fits in what is left
   *  of the budget (one larger than the whole budget runs alone). 0 =
   *  negligible. */
  int64_t estimated_bytes;
  const char* name;  /**< for messages; NULL = "task <index>" */
} plx_task_t;

/** How one task ended. Every element has results[0]'s struct_size. */
typedef struct plx_task_result {
  size_t struct_size;
  plx_status_t status;   /**< PLX_OK, the task's last status, or
                              PLX_ERR_CANCELLED when it never started */
  int32_t attempts;      /**< runs, including retries */
  char message[256];     /**< "" on success */
} plx_task_result_t;

/**
 * Runs `count` independent tasks with admission control: a task starts only
 * when its estimate fits the remaining memory budget and the concurrency
 * limit allows. A task that fails with PLX_ERR_OUT_OF_MEMORY (or reports its
 * estimate too small) is retried after an exponential backoff with jitter,
 * with the concurrency limit halved, at most max_attempts times; the limit
 * grows back by one after grow_after successes in a row. results[i] always
 * says how task i ended, whatever the order tasks finished in.
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULLs, count < 0, struct sizes, bad
 * options), PLX_ERR_TASK_FAILED (one or more tasks failed: see results),
 * PLX_ERR_CANCELLED (token, progress callback; unstarted tasks say so).
 * @since 0.1
 */
PLX_API plx_status_t plx_tasks_run(plx_runtime_t* runtime, const plx_task_t* tasks, int64_t count,
                                   const plx_run_options_t* options, plx_task_result_t* results);

/**
 * Creates a cancel token (not cancelled). Free with plx_cancel_token_destroy
 * once no run uses it.
 * @since 0.1
 */
PLX_API plx_status_t plx_cancel_token_create(plx_cancel_token_t** token);
/** Cancels every run given the token, within one chunk or task. Thread- and
 *  signal-safe. NULL is ignored. @since 0.1 */
PLX_API void plx_cancel_token_cancel(plx_cancel_token_t* token);
/** 1 when cancelled, 0 otherwise (and for NULL). @since 0.1 */
PLX_API int plx_cancel_token_is_cancelled(const plx_cancel_token_t* token);
/** Destroys a token. NULL is allowed. @since 0.1 */
PLX_API void plx_cancel_token_destroy(plx_cancel_token_t* token);

/**
 * plx_parallel_for without waiting: *job receives a handle for
 * plx_job_wait/poll/cancel/destroy. `user_data`, `options` and everything they
 * point to must stay valid until the job has ended. The job runs on a thread
 * of its own that joins the runtime's arena.
 * @since 0.1
 */
PLX_API plx_status_t plx_parallel_for_async(plx_runtime_t* runtime, const plx_plan_t* plan, int64_t begin,
                                            int64_t end, plx_range_fn fn, void* user_data,
                                            const plx_run_options_t* options, plx_job_t** job);

/**
 * plx_tasks_run without waiting. `tasks`, `results`, `options` and what they
 * point to must stay valid until the job has ended.
 * @since 0.1
 */
PLX_API plx_status_t plx_tasks_submit(plx_runtime_t* runtime, const plx_task_t* tasks, int64_t count,
                                      const plx_run_options_t* options, plx_task_result_t* results,
                                      plx_job_t** job);

/**
 * Waits for a job: returns its status (as the synchronous call would) when it
 * ended within `timeout_ms`, or PLX_ERR_TIMEOUT (the job goes on). A negative
 * timeout waits as long as it takes. Called from a callback of a run on the
 * same runtime, an unbounded wait runs the job on the calling thread if it
 * has not started, so it never deadlocks; a bounded wait may then time out.
 * @since 0.1
 */
PLX_API plx_status_t plx_job_wait(plx_job_t* job, int64_t timeout_ms);

/** Sets *done to 1 when the job has ended, 0 otherwise. @since 0.1 */
PLX_API plx_status_t plx_job_poll(plx_job_t* job, int* done);

/** Asks the job to stop (it ends with PLX_ERR_CANCELLED). @since 0.1 */
PLX_API plx_status_t plx_job_cancel(plx_job_t* job);

/**
 * Cancels the job if it still runs, waits for it, and frees the handle (a
 * job that had not started runs, cancelled, on this thread). NULL is
 * allowed. Destroying the runtime also cancels and waits for its jobs; their
 * handles stay valid for plx_job_wait and plx_job_destroy, and keep the
 * runtime's threads until they are destroyed. Not from the job's own
 * callbacks.
 * @since 0.1
 */
PLX_API void plx_job_destroy(plx_job_t* job);

/* ======================================================================== */
/*  Devices and custom kernels                                              */
/* ======================================================================== */

/*
 * OpenCL through the ICD loader only, on the devices the runtime's policy,
 * types and filter admit (PoCL is a CPU device: add PLX_DEVICE_TYPE_CPU to
 * use it). Programs are built once per device and cached in memory and on
 * disk (cache_dir). Every OpenCL failure says which call, which error and
 * which device.
 */

/**
 * Creates a kernel: builds `source` with `build_options` (NULL = none) for
 * every usable device and checks it has a __kernel named `kernel_name`. A
 * device where the build fails is left out (logged); creating fails only when
 * no device can build it, with the build log in the message. With no usable
 * device at all the kernel is created anyway, for runs that have a CPU
 * fallback. Free with plx_kernel_destroy once its runs have ended, before
 * destroying the runtime (destroying it after is safe; using it is not).
 * Errors: PLX_ERR_INVALID_ARGUMENT (NULL, no such kernel name), PLX_ERR_DEVICE
 * (build failed; the log is in the message), PLX_ERR_OUT_OF_MEMORY.
 * @since 0.1
 */
PLX_API plx_status_t plx_kernel_create(plx_runtime_t* runtime, const char* source, const char* kernel_name,
                                       const char* build_options, plx_kernel_t** kernel);

/** Destroys a kernel. NULL is allowed. @since 0.1 */
PLX_API void plx_kernel_destroy(plx_kernel_t* kernel);

/** The devices a kernel was built for: *count, and up to `capacity` device
 *  indices in `devices` (NULL with capacity 0 asks for the count). @since 0.1 */
PLX_API plx_status_t plx_kernel_devices(const plx_kernel_t* kernel, int32_t* devices, int32_t capacity,
                                        int32_t* count);

/**
 * Writes rows [first_row, first_row + rows) of an input, contiguously, to
 * `dst` — pinned staging memory on the way to a device, so there is no extra
 * copy. Return 0, or non-zero to fail the run. Called from several threads at
 * once, for ranges in no particular order, and again for rows already given
 * when a chunk is redone (split after a device ran out of memory, or moved to
 * the CPU function): it must give the same rows for the same range every
 * time. A source that can only be read in order needs the rows buffered.
 */
typedef int (*plx_rows_provider_fn)(int64_t first_row, int64_t rows, void* dst, void* user_data);

/** One input of a row run: host rows, or a provider. Layout frozen. */
typedef struct plx_rows_input {
  const void* data; /**< rows x bytes_per_row bytes, or NULL with a provider */
  int64_t bytes_per_row;
  plx_rows_provider_fn provider;
  void* provider_user_data;
} plx_rows_input_t;

/** One output of a row run: host rows. Layout frozen. */
typedef struct plx_rows_output {
  void* data; /**< rows x bytes_per_row bytes */
  int64_t bytes_per_row;
} plx_rows_output_t;

/** A scalar kernel argument (copied at the call). Layout frozen. */
typedef struct plx_kernel_scalar {
  const void* data;
  size_t size; /**< 1 .. 256 bytes */
} plx_kernel_scalar_t;

/**
 * The CPU version of a row kernel, for rows [first_row, first_row + rows):
 * inputs[i] and outputs[j] point at those rows. Used for chunks that failed
 * on a device, when no device can run the kernel, and beside the devices for
 * a plan of kind MIXED. Return 0, or non-zero to fail the run.
 */
typedef int (*plx_rows_cpu_fn)(int64_t first_row, int64_t rows, const void* const* inputs, void* const* outputs,
                               void* user_data);

/** A row run. Fill with plx_rows_desc_init. */
typedef struct plx_rows_desc {
  size_t struct_size;
  int64_t rows; /**< rows of every input and output, >= 0 */
  const plx_rows_input_t* inputs;
  int32_t input_count;  /**< 0 .. 64 */
  int32_t output_count; /**< 1 .. 64 */
  const plx_rows_output_t* outputs;
  const plx_kernel_scalar_t* scalars;
  int32_t scalar_count; /**< 0 .. 64 */
  int32_t reserved0;    /**< 0 */
  /** Work-items per row: the kernel runs on a 2-D range (work_items_per_row,
   *  rows of the chunk); default 1. */
  int64_t work_items_per_row;
  /** Rows per device chunk; 0 (default) = sized to each device: within a
   *  quarter of its largest allocation per buffer, two chunks within
   *  vram_fraction of its memory and the plan's gpu_rows_per_chunk, the size
   *  that transfers best (64 MiB buffers on a GPU, 1 MiB on a CPU device). */
  int64_t rows_per_chunk;
  plx_rows_cpu_fn cpu_fallback; /**< NULL: none */
  void* cpu_user_data;
} plx_rows_desc_t;

/** Fills `desc` with defaults. Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_rows_desc_init(plx_rows_desc_t* desc, size_t struct_size);

/**
 * Runs a kernel over rows of host memory of any size — larger than any
 * device — in chunks. The kernel's arguments are: each input buffer, each
 * output buffer (holding only the chunk's rows), each scalar, then
 * `long first_row` and `long rows` of the chunk; it runs on the range
 * (work_items_per_row, rows). Chunks go through pinned memory, double
 * buffered so that transfers overlap kernels, and are shared by all the
 * kernel's devices through one queue (faster devices take more). A device
 * out of memory halves its chunks and retries, down to one row; any other
 * failure of a chunk runs it on cpu_fallback (not under GPU_REQUIRED) or on
 * another device; every row's output is written by exactly one successful
 * chunk. `plan` (optional) caps the chunk size (gpu_rows_per_chunk). The
 * run's workers (plx_run_options_t.workers, else the plan's cpu_workers) run
 * cpu_fallback when no device can run the kernel, and beside the devices for
 * a plan of kind MIXED; otherwise the devices do all the work. The report's
 * workers counts device lanes plus CPU lanes, and peak_concurrency the most
 * chunks queued on devices or running on the CPU at once.
 * Errors: PLX_ERR_INVALID_ARGUMENT, PLX_ERR_NO_DEVICE (no device and no CPU
 * fallback), PLX_ERR_OUT_OF_MEMORY (not even one row fits), PLX_ERR_DEVICE
 * (a chunk failed and nothing could take it), PLX_ERR_TASK_FAILED (a provider
 * or the CPU function returned non-zero), PLX_ERR_CANCELLED.
 * @since 0.1
 */
PLX_API plx_status_t plx_kernel_run_rows(plx_kernel_t* kernel, const plx_plan_t* plan, const plx_rows_desc_t* desc,
                                         const plx_run_options_t* options);

/**
 * Allocates `bytes` on device `device_index` (counted against
 * device_memory_limit_bytes). Free with plx_buffer_destroy, before
 * destroying the runtime (destroying it after is safe; using it is not).
 * Errors: PLX_ERR_INVALID_ARGUMENT (bad device or size), PLX_ERR_OUT_OF_MEMORY,
 * PLX_ERR_DEVICE, PLX_ERR_UNSUPPORTED (a device simulated by a profile).
 * @since 0.1
 */
PLX_API plx_status_t plx_buffer_create(plx_runtime_t* runtime, int32_t device_index, int64_t bytes,
                                       plx_buffer_t** buffer);

/** Copies `bytes` from host `src` into the buffer at `offset` (blocking). @since 0.1 */
PLX_API plx_status_t plx_buffer_write(plx_buffer_t* buffer, int64_t offset, const void* src, int64_t bytes);

/** Copies `bytes` of the buffer at `offset` to host `dst` (blocking). @since 0.1 */
PLX_API plx_status_t plx_buffer_read(const plx_buffer_t* buffer, int64_t offset, void* dst, int64_t bytes);

/** Frees a buffer. NULL is allowed. @since 0.1 */
PLX_API void plx_buffer_destroy(plx_buffer_t* buffer);

/** Kinds of plx_kernel_arg_t. */
typedef enum plx_kernel_arg_kind {
  PLX_ARG_BUFFER = 0, /**< a plx_buffer_t on the run's device */
  PLX_ARG_SCALAR = 1, /**< `size` bytes at `data` */
  PLX_ARG_LOCAL = 2   /**< `size` bytes of __local memory */
} plx_kernel_arg_kind_t;

/** One argument of plx_kernel_run. Layout frozen. */
typedef struct plx_kernel_arg {
  int32_t kind;         /**< a plx_kernel_arg_kind_t */
  int32_t reserved0;    /**< 0 */
  plx_buffer_t* buffer; /**< PLX_ARG_BUFFER */
  const void* data;     /**< PLX_ARG_SCALAR */
  size_t size;          /**< PLX_ARG_SCALAR / PLX_ARG_LOCAL */
} plx_kernel_arg_t;

/**
 * Runs a kernel once on device-resident buffers, over `dims` (1..3)
 * dimensions of `global_size` (with `local_size`, or NULL to let the driver
 * choose), on device `device_index` (where its buffers live). Blocks until
 * done.
 * Errors: PLX_ERR_INVALID_ARGUMENT (arguments, sizes, a buffer of another
 * device, a kernel not built there), PLX_ERR_DEVICE, PLX_ERR_OUT_OF_MEMORY.
 * @since 0.1
 */
PLX_API plx_status_t plx_kernel_run(plx_kernel_t* kernel, int32_t device_index, const plx_kernel_arg_t* args,
                                    int32_t arg_count, int32_t dims, const int64_t* global_size,
                                    const int64_t* local_size);

/** What plx_device_measure found. Set struct_size before the call. */
typedef struct plx_device_figures {
  size_t struct_size;
  double h2d_pinned_gbps;     /**< host to device from pinned memory */
  double h2d_pageable_gbps;   /**< host to device from ordinary memory */
  double d2h_pinned_gbps;     /**< device to pinned host memory */
  double device_copy_gbps;    /**< a copy kernel on the device, read + write */
  double launch_us;           /**< an empty kernel, launches queued back to back */
  double launch_roundtrip_us; /**< an empty kernel, each waited for */
  double stream_gbps;         /**< y = a*x + b over host memory through
                                   plx_kernel_run_rows: input bytes per second */
  int64_t transfer_bytes;     /**< size of each transfer test */
  int64_t stream_bytes;       /**< size of the streamed input */
} plx_device_figures_t;

/**
 * Measures device `device_index` (seconds to a minute) and caches the
 * figures in cache_dir, keyed by the device, so that runtimes created
 * afterwards plan with its measured streaming throughput (device shares,
 * plx_device_info_t.measured_gbps). `transfer_bytes` 0 = 256 MiB;
 * `stream_bytes` 0 = 4 GiB, both cut to what the device and the memory budget
 * hold. Not to be called while other runs use the device (they would skew
 * the figures).
 * Errors: PLX_ERR_INVALID_ARGUMENT, PLX_ERR_UNSUPPORTED (a simulated
 * device), PLX_ERR_DEVICE, PLX_ERR_OUT_OF_MEMORY, PLX_ERR_IO (the cache could
 * not be written: the figures are still returned).
 * @since 0.1
 */
PLX_API plx_status_t plx_device_measure(plx_runtime_t* runtime, int32_t device_index, int64_t transfer_bytes,
                                        int64_t stream_bytes, plx_device_figures_t* figures);

/* ======================================================================== */
/*  Image stacking                                                          */
/* ======================================================================== */

/*
 * plx_stack combines N registered frames of H x W x C float32 pixels (planar
 * channels) into one image, pixel by pixel, after rejecting outliers. NaN
 * marks a missing sample: never counted, never combined. +-inf is a sample
 * that is always rejected (counted in the rejection maps). Everything is
 * computed in double precision; results are the same bits for any number of
 * workers and any tiling, on the CPU path, and within 1e-6 relative between
 * the CPU and OpenCL paths.
 *
 * Rejection at one pixel, over its finite samples (nothing is rejected where
 * fewer than 3 are finite):
 * - SIGMA_CLIP is astropy.stats.sigma_clip(axis=0, sigma_lower, sigma_upper,
 *   maxiters, cenfunc='median' or 'mean', stdfunc='std'): repeat { centre =
 *   median (or mean) of the survivors; std = their population standard
 *   deviation; keep survivors in [centre - sigma_low x std, centre +
 *   sigma_high x std] } until nothing changes or max_iters; then every finite
 *   sample is tested again against the last bounds, so a sample rejected early
 *   can come back. As in astropy, if an iteration rejects every survivor the
 *   bounds become NaN and nothing is rejected. The bounds are inclusive, and
 *   the variance (m sum d^2 - (sum d)^2) / m^2 carries one rounding where the
 *   sums are exact (integer data): a sample exactly on a bound is kept, as
 *   in astropy.
 * - WINSORIZED_SIGMA_CLIP: the same, but each iteration clamps the survivors
 *   to their 5th and 95th percentiles (numpy's linear interpolation) before
 *   taking centre and std; the bounds test the unclamped samples.
 * - PERCENTILE: keep samples between the percentile_low-th and
 *   percentile_high-th percentiles of the finite samples (numpy's linear
 *   interpolation); one pass.
 * - MINMAX: reject the n_low lowest and n_high highest finite samples (ties
 *   are ranked by frame index, lower first); nothing when they would leave no
 *   sample.
 * Then the combine of the survivors: MEAN, WEIGHTED_MEAN (sum w x / sum w,
 * with the frame weights), SUM, MEDIAN (of an even count: the mean of the two
 * middle values), MIN, MAX. A pixel with no survivor is NaN with count 0. A
 * WEIGHTED_MEAN pixel whose survivors all weigh 0 is NaN with its count > 0.
 */

/** How the surviving samples of a pixel are combined. */
typedef enum plx_stack_combine {
  PLX_COMBINE_MEAN = 0,
  PLX_COMBINE_WEIGHTED_MEAN = 1,
  PLX_COMBINE_SUM = 2,
  PLX_COMBINE_MEDIAN = 3,
  PLX_COMBINE_MIN = 4,
  PLX_COMBINE_MAX = 5
} plx_stack_combine_t;

/** How outliers are rejected before combining (see above). */
typedef enum plx_stack_reject {
  PLX_REJECT_NONE = 0,
  PLX_REJECT_SIGMA_CLIP = 1,
  PLX_REJECT_WINSORIZED_SIGMA_CLIP = 2,
  PLX_REJECT_PERCENTILE = 3,
  PLX_REJECT_MINMAX = 4
} plx_stack_reject_t;

/** The centre of sigma clipping (astropy's cenfunc). */
typedef enum plx_stack_centre {
  PLX_CENTRE_MEDIAN = 0,
  PLX_CENTRE_MEAN = 1
} plx_stack_centre_t;

/** Where the frame weights of WEIGHTED_MEAN come from (which needs GIVEN or
 *  NOISE_VARIANCE; the other combines need NONE). */
typedef enum plx_stack_weights {
  PLX_WEIGHTS_NONE = 0,          /**< no weights: every frame counts alike */
  PLX_WEIGHTS_GIVEN = 1,         /**< plx_stack_desc_t.frame_weights */
  PLX_WEIGHTS_NOISE_VARIANCE = 2 /**< 1 / sigma^2 per frame and channel, sigma
                                      = 1.482602218505602 (astropy's mad_std) x
                                      the MAD of the normalized frame */
} plx_stack_weights_t;

/**
 * Per-frame normalization to the reference frame, per channel, from the
 * median of each frame's finite pixels: x' = scale x + offset, rounded to
 * float (a normalized sample beyond FLT_MAX becomes +-inf, and is rejected as
 * an infinite sample is). A frame (or the reference) with no finite pixel is
 * refused, as is a median of 0 for MULTIPLICATIVE; NOISE_VARIANCE refuses a
 * frame whose MAD is 0 (more than half of it one value).
 */
typedef enum plx_stack_normalize {
  PLX_NORMALIZE_NONE = 0,
  PLX_NORMALIZE_ADDITIVE = 1,       /**< offset = median(ref) - median(frame) */
  PLX_NORMALIZE_MULTIPLICATIVE = 2, /**< scale = median(ref) / median(frame) */
  /** scale and offset from a robust least-squares fit ref ~ scale x frame +
   *  offset over the pixels finite in both and not 0 in both (a padded
   *  border): from a start up to half the pixels may be outliers to (the
   *  least median of squares over 256 evenly spread pixels; 3 x 1.4826 x its
   *  median absolute residual), least squares over the pixels whose residual
   *  is within 3 standard deviations, refitted until those pixels do not
   *  change (10 fits at most). */
  PLX_NORMALIZE_LINEAR_FIT = 3
} plx_stack_normalize_t;

/**
 * Writes pixels [row0, row0 + rows) x [col0, col0 + cols) of channel
 * `channel` of frame `frame` to `dst`, row after row, `dst_stride` floats
 * apart (dst may be pinned staging memory on its way to a device). Return 0,
 * or non-zero to fail the stack with PLX_ERR_TASK_FAILED. Called from several
 * threads at once, in no particular order, and possibly more than once for
 * the same pixels (frame statistics, then the stack; a chunk redone after a
 * device failure): it must give the same pixels every time.
 */
typedef int (*plx_stack_provider_fn)(void* user_data, int64_t frame, int64_t row0, int64_t rows, int64_t col0,
                                     int64_t cols, int32_t channel, float* dst, int64_t dst_stride);

/** A stack. Fill with plx_stack_desc_init, then set frames, sizes and input. */
typedef struct plx_stack_desc {
  size_t struct_size;
  int64_t frames; /**< N >= 1 */
  int64_t height; /**< >= 1 */
  int64_t width;  /**< >= 1 */
  int32_t channels; /**< 1 .. 64; default 1 */
  int32_t combine;  /**< a plx_stack_combine_t; default MEAN */
  /** N pointers, one per frame, to its first pixel (channel 0, row 0); or
   *  NULL with a provider. Read only; must stay valid during the call. */
  const float* const* frame_data;
  int64_t row_stride;     /**< floats from a row to the next; 0 = width */
  int64_t channel_stride; /**< floats from a channel plane to the next; 0 =
                               height x row_stride */
  plx_stack_provider_fn provider; /**< instead of frame_data */
  void* provider_user_data;
  int32_t reject;        /**< a plx_stack_reject_t; default NONE */
  int32_t centre;        /**< a plx_stack_centre_t; default MEDIAN */
  double sigma_low;      /**< >= 0; default 3 */
  double sigma_high;     /**< >= 0; default 3 */
  int32_t max_iters;     /**< >= 1, or -1 = until nothing changes; default 5 */
  int32_t n_low;         /**< MINMAX: lowest samples rejected, >= 0; default 1 */
  int32_t n_high;        /**< MINMAX: highest samples rejected, >= 0; default 1 */
  int32_t weights;       /**< a plx_stack_weights_t; default NONE */
  double percentile_low;  /**< PERCENTILE, in [0, 100]; default 10 */
  double percentile_high; /**< PERCENTILE, in [percentile_low, 100]; default 90 */
  /** PLX_WEIGHTS_GIVEN: N finite weights >= 0, one per frame. Copied. */
  const double* frame_weights;
  int32_t normalize;       /**< a plx_stack_normalize_t; default NONE */
  int32_t device;          /**< a plx_device_preference_t; default AUTO (a
                                device when the runtime has one) */
  int64_t reference_frame; /**< normalization reference, in [0, N); default 0 */
  /** Progress (items = row units: channels x column tiles x height, one per
   *  output row segment; plx_stack_result_t.tiles says how they were cut;
   *  with normalization or NOISE_VARIANCE weights, a first pass over the
   *  frames reports before, items = frames, total = frames), cancellation,
   *  workers, memory budget, name and report of the run (of the frame pass
   *  when that fails: callback_code is the provider's); NULL = defaults. */
  const plx_run_options_t* run_options;
  /** With a provider on the CPU, the rows of each call (a band: the same
   *  rows of every frame, then stacked). 0 (default): bands that fit a
   *  worker's L2 cache, so that the pixels a provider has just written are
   *  stacked from the cache, not from memory (a provider copying from
   *  memory: 1.2 to 1.7x faster), in calls of at least 16 KiB of a frame;
   *  bands as large as the plan allows when one row through all frames is
   *  already larger. -1: bands as large as the
   *  plan allows (memory budget, load balance): the fewest calls, for a
   *  provider with a high cost per call (an interpreter, a file to reopen).
   *  N > 0: at most N rows. Ignored with frame_data. @since 0.1 */
  int64_t provider_rows;
} plx_stack_desc_t;

/** Fills `desc` with defaults. Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_stack_desc_init(plx_stack_desc_t* desc, size_t struct_size);

/**
 * Where plx_stack writes, and what it reports. Fill with plx_stack_result_init,
 * then set the output pointers (planar H x W x C, contiguous). Only `image`
 * is required; the other outputs are written when not NULL.
 */
typedef struct plx_stack_result {
  size_t struct_size;
  float* image;           /**< the combined image */
  int32_t* count;         /**< samples kept per pixel */
  int32_t* rejected_low;  /**< samples rejected below per pixel (-inf included) */
  int32_t* rejected_high; /**< samples rejected above per pixel (+inf included) */
  int64_t* frame_rejected; /**< N: samples rejected per frame, all channels */
  double* frame_scale;    /**< N x C: normalization scale used (frame-major) */
  double* frame_offset;   /**< N x C: normalization offset used */
  double* frame_weight;   /**< N x C: weight used */
  /* Filled by plx_stack: */
  int64_t samples;        /**< N x H x W x C */
  int64_t missing;        /**< NaN samples */
  int64_t kept;           /**< samples combined */
  int64_t rejected;       /**< samples rejected (low + high) */
  int32_t device_index;   /**< the device that stacked, or -1 for the CPU */
  int32_t workers;        /**< CPU workers */
  int64_t tile_rows;      /**< rows per tile (all frames, all columns) */
  int64_t tiles;
  double frame_stats_s;   /**< seconds spent on normalization and weights */
  double stack_s;         /**< seconds spent stacking */
  /** The CPU's instruction set chosen for the pixel loops ("AVX3", "AVX2",
   *  "SSE4", "EMU128", ...); $PLX_SIMD_TARGET picks a lower one. */
  char simd_target[16];
} plx_stack_result_t;

/** Fills `result` with defaults (NULL outputs). Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_stack_result_init(plx_stack_result_t* result, size_t struct_size);

/**
 * Stacks the frames of `desc` into `result`. Memory stays within the
 * runtime's budget for any N: the frames are read in bands of rows through
 * all frames (see plx_stack_plan). Normalization and NOISE_VARIANCE weights
 * first measure each frame's channel planes whole, one plane per worker (as
 * many workers as the budget holds; LINEAR_FIT also holds the reference
 * frame's planes and a byte per pixel). Nothing is written to `result` on
 * failure, except that the outputs may hold partial pixels.
 * A runtime with PLX_DEVICE_GPU_REQUIRED takes device AUTO as GPU and never
 * falls back to the CPU.
 * Errors: PLX_ERR_INVALID_ARGUMENT (any field: the message names it),
 * PLX_ERR_OUT_OF_MEMORY (not even one row through all frames, or one plane
 * of the frame pass, fits the budget), PLX_ERR_TASK_FAILED (the provider
 * returned non-zero), PLX_ERR_NO_DEVICE (device GPU, or a GPU_REQUIRED
 * runtime, without a usable device), PLX_ERR_DEVICE, PLX_ERR_CANCELLED.
 * @since 0.1
 */
PLX_API plx_status_t plx_stack(plx_runtime_t* runtime, const plx_stack_desc_t* desc, plx_stack_result_t* result);

/**
 * The plan plx_stack would follow for `desc` (workers, bands of rows,
 * streaming, devices), to show or check before running. Free with
 * plx_plan_destroy. Errors as plx_stack, before any pixel is read.
 * @since 0.1
 */
PLX_API plx_status_t plx_stack_plan(plx_runtime_t* runtime, const plx_stack_desc_t* desc, plx_plan_t** plan);

/* ======================================================================== */
/*  Mosaic co-addition                                                      */
/* ======================================================================== */

/*
 * plx_coadd resamples N input images onto one output pixel grid and combines
 * them, as reproject.mosaicking.reproject_and_coadd(reproject_function=
 * reproject_interp) does. Pixel coordinates are 0-based, pixel centres at
 * integers. For each input i and output pixel (x, y) inside the box covered by
 * the input's four outer corners (-0.5, -0.5) .. (W - 0.5, H - 0.5) mapped to
 * the output (reproject's rule: floor(min + 0.5) .. ceil(max + 0.5)):
 *   (xi, yi) = mapping_i(x, y)           input pixel coordinates
 *   v = interpolate(data_i, xi, yi)      NaN outside -0.5 <= xi <= W - 0.5,
 *                                        -0.5 <= yi <= H - 0.5 (edge pixels
 *                                        extend half a pixel) and where a tap
 *                                        is NaN (BILINEAR reads all four, even
 *                                        one weighing 0)
 *   f = isnan(v) ? 0 : weight_i x (weights_i ? interpolate(weights_i) : 1)
 *   v = v - background_i
 * then, over the inputs with f != 0 at the pixel, in input order:
 *   MEAN: sum(v f) / sum(f) (NaN where sum(f) is 0); SUM: sum(v f) (0 there);
 *   MIN / MAX / MEDIAN (unweighted; of an even count the mean of the middle
 *   two) / FIRST / LAST of the values (NaN where no input contributes).
 * The footprint is sum(f). BILINEAR and NEAREST are
 * scipy.ndimage.map_coordinates order 1 and 0 with reproject's edge padding,
 * operation for operation; with WCS mappings, MEAN and SUM match reproject
 * 0.10 to 1e-6 relative. BICUBIC is Keys' cubic convolution (a = -0.5) and
 * LANCZOS3 the normalised 6 x 6 Lanczos kernel, both with edge pixels
 * repeated: local kernels, unlike scipy's order 3 B-spline, whose prefilter
 * spreads one NaN over the whole image. Everything is computed in double,
 * accumulated in input order: the same bits for any number of workers and
 * any output tiling.
 */

/** How output pixel coordinates map to an input's pixel coordinates. */
typedef enum plx_coadd_mapping {
  /** xi = m[0] x + m[1] y + m[2], yi = m[3] x + m[4] y + m[5] */
  PLX_MAPPING_AFFINE = 0,
  /** (u, v, w) = m (x, y, 1) with m row-major 3 x 3; xi = u / w, yi = v / w
   *  (NaN where w is 0) */
  PLX_MAPPING_HOMOGRAPHY = 1,
  /** The input's FITS header (wcs_header) against plx_coadd_desc_t.
   *  output_wcs_header, parsed by wcslib. TAN and TAN-SIP are computed
   *  natively (TAN to TAN is a homography; SIP as astropy applies it, the
   *  inverse by fixed-point iteration to 1e-10 pixel, AP/BP ignored); other
   *  projections through wcslib, every 16th pixel of a row and in between
   *  wherever linear interpolation would err by more than 1e-3 pixel, with
   *  reproject's round-trip check (no counterpart if it comes back more than
   *  1 pixel off). Celestial frames: the same, or any pair of ICRS, FK5
   *  J2000 and Galactic. */
  PLX_MAPPING_WCS = 2,
  /** The host's function (map) */
  PLX_MAPPING_COORDINATE_MAP = 3
} plx_coadd_mapping_t;

/** Interpolation of input pixels at non-integer coordinates (see above). */
typedef enum plx_interpolation {
  PLX_INTERP_NEAREST = 0,
  PLX_INTERP_BILINEAR = 1,
  PLX_INTERP_BICUBIC = 2,
  PLX_INTERP_LANCZOS3 = 3
} plx_interpolation_t;

/** How the inputs covering an output pixel are combined (see above). */
typedef enum plx_coadd_combine {
  PLX_COADD_MEAN = 0,
  PLX_COADD_SUM = 1,
  PLX_COADD_MIN = 2,
  PLX_COADD_MAX = 3,
  PLX_COADD_MEDIAN = 4,
  PLX_COADD_FIRST = 5,
  PLX_COADD_LAST = 6
} plx_coadd_combine_t;

/**
 * PLX_MAPPING_COORDINATE_MAP: writes the input pixel coordinates (x_in[k],
 * y_in[k]) of the n output pixels (x_out[k], y_out[k]) of input `input`; NaN
 * where the output pixel has no counterpart. Return 0, or non-zero to fail the
 * call with PLX_ERR_TASK_FAILED. Called from several threads at once.
 */
typedef int (*plx_coordinate_map_fn)(void* user_data, int64_t input, int64_t n, const double* x_out,
                                     const double* y_out, double* x_in, double* y_in);

/**
 * With no output image: receives each finished output tile, rows [row0, row0 +
 * rows) x all columns, image and footprint `width` floats per row. Called
 * from one thread at a time, in no particular order; return non-zero to fail
 * the call with PLX_ERR_TASK_FAILED. The output may then be larger than memory.
 */
typedef int (*plx_coadd_tile_fn)(void* user_data, int64_t row0, int64_t rows, const float* image,
                                 const float* footprint);

/** One input image. Fill with plx_coadd_input_init. */
typedef struct plx_coadd_input {
  size_t struct_size;
  const float* data; /**< height x width, row_stride floats per row; read only */
  int64_t height;    /**< >= 1 */
  int64_t width;     /**< >= 1 */
  int64_t row_stride; /**< 0 = width */
  const float* weights; /**< per-pixel weights, the same layout as data (NaN
                              counts as 0), or NULL */
  double weight;        /**< scalar weight, finite; default 1 */
  double background;    /**< subtracted from every value, finite; default 0 */
  int32_t mapping;      /**< a plx_coadd_mapping_t; default AFFINE (identity) */
  double matrix[9];     /**< AFFINE (6) or HOMOGRAPHY (9); default identity */
  const char* wcs_header; /**< WCS: the FITS header, 80-character cards (as
                               cfitsio's fits_hdr2str writes it) */
  plx_coordinate_map_fn map; /**< COORDINATE_MAP */
  void* map_user_data;
} plx_coadd_input_t;

/** Fills `input` with defaults. Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_coadd_input_init(plx_coadd_input_t* input, size_t struct_size);

/** A co-addition. Fill with plx_coadd_desc_init. */
typedef struct plx_coadd_desc {
  size_t struct_size;
  /** `count` inputs, each filled by plx_coadd_input_init (all with the same
   *  struct_size: the array's stride). Read only during the call. */
  const plx_coadd_input_t* inputs;
  int64_t count;  /**< >= 1 */
  int64_t height; /**< output rows, >= 1 */
  int64_t width;  /**< output columns, >= 1 */
  const char* output_wcs_header; /**< the output grid's FITS header: required
                                      when an input's mapping is WCS */
  int32_t interpolation; /**< a plx_interpolation_t; default BILINEAR */
  int32_t combine;       /**< a plx_coadd_combine_t; default MEAN */
  int32_t device;        /**< a plx_device_preference_t; default AUTO */
  int32_t reserved;      /**< 0 */
  plx_coadd_tile_fn tile; /**< instead of plx_coadd_result_t.image */
  void* tile_user_data;
  /** Progress (items = output rows), cancellation, workers, memory budget,
   *  name and report of the run; NULL = defaults. */
  const plx_run_options_t* run_options;
} plx_coadd_desc_t;

/** Fills `desc` with defaults. Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_coadd_desc_init(plx_coadd_desc_t* desc, size_t struct_size);

/** Where plx_coadd writes (height x width, contiguous) and what it reports. */
typedef struct plx_coadd_result {
  size_t struct_size;
  float* image;     /**< the combined image; NULL with desc.tile */
  float* footprint; /**< sum of the weights per pixel, or NULL */
  /* Filled by plx_coadd: */
  int64_t covered;      /**< output pixels with a non-zero footprint */
  int64_t samples;      /**< (input, output pixel) pairs interpolated */
  int64_t tile_rows;    /**< output rows per tile (on a device: per band, all rows without desc.tile) */
  int64_t tiles;
  int32_t device_index; /**< the device that resampled most rows, or -1 for the CPU */
  int32_t workers;      /**< CPU workers */
  int32_t native_wcs;   /**< WCS inputs mapped natively (TAN, TAN-SIP) */
  int32_t grid_wcs;     /**< WCS inputs mapped through wcslib on a grid */
  double seconds;
} plx_coadd_result_t;

/** Fills `result` with defaults (NULL outputs). Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_coadd_result_init(plx_coadd_result_t* result, size_t struct_size);

/**
 * Co-adds the inputs of `desc` into `result` (see above). Output tiles of
 * rows are planned within the runtime's memory budget; each input only visits
 * the output pixels its box covers.
 * Devices (desc.device): AUTO resamples on a GPU or accelerator with double
 * precision when the runtime has one, GPU on any such OpenCL device (a CPU
 * one such as PoCL included), CPU never. The device path computes what the
 * CPU path does, operation for operation (the same bits except for a few ulps
 * of sin in LANCZOS3): TAN, TAN-SIP, affine and homography mappings in the
 * kernel, wcslib grids and coordinate maps on the host, their coordinates
 * sent with the rows. Every input image is uploaded once per device: when
 * they do not fit in one allocation of a device, or their host copy and one
 * output row not in the memory budget, the call runs on the CPU (logged). A
 * chunk a device fails runs on the CPU; under AUTO a device path that cannot
 * start (kernel build) falls back to the CPU as a whole. A runtime with
 * PLX_DEVICE_GPU_REQUIRED takes AUTO as GPU and does none of these
 * fallbacks: it fails instead (PLX_ERR_NO_DEVICE when the images do not fit,
 * PLX_ERR_DEVICE when a chunk fails). With desc.tile the
 * output goes to the device in bands of rows the memory budget holds.
 * Errors: PLX_ERR_INVALID_ARGUMENT (any field: the message names it and the
 * input index; a WCS header that wcslib cannot parse or that is not
 * celestial), PLX_ERR_UNSUPPORTED (celestial frames without a rotation
 * between them), PLX_ERR_OUT_OF_MEMORY, PLX_ERR_TASK_FAILED (the map or tile
 * function returned non-zero), PLX_ERR_NO_DEVICE (device GPU without a usable
 * OpenCL device with double precision), PLX_ERR_DEVICE, PLX_ERR_CANCELLED.
 * @since 0.1
 */
PLX_API plx_status_t plx_coadd(plx_runtime_t* runtime, const plx_coadd_desc_t* desc, plx_coadd_result_t* result);

/* ======================================================================== */
/*  Matrix multiply                                                         */
/* ======================================================================== */

/*
 * plx_gemm computes C = alpha op(A) op(B) + beta C, as BLAS xGEMM does, in
 * single or double precision: op(A) is m x k, op(B) is k x n, C is m x n, and
 * op(X) is X or its transpose. Matrices are row-major (element (i, j) at
 * i x ld + j) or column-major (at i + j x ld); a leading dimension is at least
 * the length of a stored row (row-major) or column (column-major), and at
 * least 1.
 *
 * Semantics are BLAS's, edge cases included: m or n = 0 does nothing; k = 0
 * or alpha = 0 gives C = beta C without reading A or B; beta = 0 gives C =
 * alpha op(A) op(B) without reading C, so NaN or garbage in C does not
 * propagate (only then: with beta != 0 a NaN in C gives NaN, and 0 x NaN is
 * NaN). A NaN alpha or beta is allowed and propagates as IEEE arithmetic says
 * (except that beta = 0 and alpha = 0 are exact tests, as in BLAS). Products
 * are accumulated in the precision of the matrices, in an order that depends
 * on the path (OpenBLAS, the blocked CPU kernel, CLBlast), so results agree
 * to rounding, not to the bit: typically within 1e-6 (F32) or 1e-14 (F64) of
 * the largest |a b| term, relative.
 *
 * Where it runs (plx_gemm_result_t says):
 * - the CPU path: OpenBLAS (CBLAS) with as many threads as the run's workers
 *   (plx_run_options_t.workers, else the runtime's CPUs), so a host's other
 *   parallel work is not oversubscribed; OpenBLAS's thread count is
 *   process-wide, so Parallax sets it under a lock for the call and restores
 *   it after (concurrent calls take turns). A build without OpenBLAS uses a
 *   cache-blocked kernel, vectorised for the CPU's instruction set, on the
 *   runtime's threads.
 * - an OpenCL device through CLBlast. Host matrices of any size are cut into
 *   tiles whose buffers fit the device (its largest allocation and
 *   vram_fraction of its memory), uploaded, multiplied and accumulated into
 *   C tile by tile over k. A device out of memory halves the tiles and
 *   retries; when not even the smallest tile fits, or on any other device
 *   failure, what is left runs on the CPU path (logged; not under
 *   PLX_DEVICE_GPU_REQUIRED, whose failures are returned).
 *   The first call for a precision on a device compiles CLBlast's kernels
 *   (about 1.7 s on an NVIDIA GPU, 10 s on PoCL); CLBlast keeps them for the
 *   process (every runtime of it), and the OpenCL driver's own cache (PoCL's
 *   kernel cache, NVIDIA's compute cache; on by default) keeps them for the
 *   next process. Parallax's disk program cache cannot hold them: CLBlast
 *   1.5 builds its programs internally, with no API to export or import
 *   their binaries. Parameters tuned by plx_gemm_tune are applied on the
 *   device's first call.
 * - with device AUTO, a GPU or accelerator is used only when its estimated
 *   time (upload and download of the matrices, plus the multiply) is below
 *   0.8 x the CPU path's, so small problems stay on the CPU. The rates are
 *   those plx_gemm_tune measured for the device and precision (device,
 *   CPU path and upload); before any tuning, the upload rate is the device's
 *   measured streaming rate (parallax bench --suite device) or 6 GB/s, and
 *   the compute rates are estimates on the CPU's side (32 GFLOP/s per CPU
 *   worker in F32, 16 in F64; 64 F32 or 8 F64 flops per compute unit and
 *   cycle on the device). CPU OpenCL devices (PoCL) are never chosen by
 *   AUTO: they run on the same cores as the CPU path, slower.
 *
 * Batches: a descriptor describes one product. plx_gemm_batched_strided
 * repeats it batch_count times, matrix i at a + i x stride_a (and so on),
 * as CLBlast's GemmStridedBatched and cuBLAS do, so one descriptor serves
 * both calls and a plain plx_gemm never has batch fields to refuse.
 */

/** Element type of the matrices. */
typedef enum plx_precision {
  PLX_PRECISION_F32 = 0, /**< float */
  PLX_PRECISION_F64 = 1  /**< double (devices need cl_khr_fp64) */
} plx_precision_t;

/** How a matrix is stored. */
typedef enum plx_matrix_layout {
  PLX_ROW_MAJOR = 0, /**< element (i, j) at i x ld + j */
  PLX_COL_MAJOR = 1  /**< element (i, j) at i + j x ld (BLAS, Fortran, numpy order='F') */
} plx_matrix_layout_t;

/** op(X) of a matrix in plx_gemm. */
typedef enum plx_transpose {
  PLX_NO_TRANS = 0, /**< op(X) = X */
  PLX_TRANS = 1     /**< op(X) = X transposed */
} plx_transpose_t;

/**
 * One matrix product. Fill with plx_gemm_desc_init, then set the sizes and
 * either the three host pointers (a, b, c) or the three device buffers
 * (a_buffer, b_buffer, c_buffer, all on one device), not a mix.
 */
typedef struct plx_gemm_desc {
  size_t struct_size;
  int32_t precision; /**< a plx_precision_t; default F32 */
  int32_t layout;    /**< a plx_matrix_layout_t of A, B and C; default ROW_MAJOR */
  int32_t trans_a;   /**< a plx_transpose_t; default NO_TRANS */
  int32_t trans_b;   /**< a plx_transpose_t; default NO_TRANS */
  int64_t m;         /**< rows of op(A) and C, >= 0 */
  int64_t n;         /**< columns of op(B) and C, >= 0 */
  int64_t k;         /**< columns of op(A), rows of op(B), >= 0 */
  double alpha;      /**< default 1 */
  double beta;       /**< default 0: C is not read */
  /** Host matrices (read only for a and b; must stay valid during the
   *  call), with their leading dimensions in elements. a and b may be NULL
   *  when k = 0 or alpha = 0, and all three when m or n is 0 (not read). */
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  void* c;
  int64_t ldc;
  /** Device matrices instead: buffers of plx_buffer_create on one device,
   *  each matrix starting `_offset` elements into its buffer. The call runs
   *  on that device (device must be AUTO or GPU). */
  plx_buffer_t* a_buffer;
  plx_buffer_t* b_buffer;
  plx_buffer_t* c_buffer;
  int64_t a_offset;
  int64_t b_offset;
  int64_t c_offset;
  int32_t device;    /**< a plx_device_preference_t; default AUTO (see above);
                          GPU: the first usable device that can (any type, PoCL
                          included), else PLX_ERR_NO_DEVICE */
  int32_t reserved0; /**< 0 */
  /** Workers of the CPU path (OpenBLAS threads), memory budget, name; NULL =
   *  defaults. Progress and cancellation are not offered: one multiply is
   *  not interruptible. */
  const plx_run_options_t* run_options;
} plx_gemm_desc_t;

/** Fills `desc` with defaults. Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_gemm_desc_init(plx_gemm_desc_t* desc, size_t struct_size);

/** What a plx_gemm call did. Set struct_size before the call. */
typedef struct plx_gemm_result {
  size_t struct_size;
  int32_t device_index; /**< the OpenCL device that multiplied, or -1 for the CPU */
  int32_t workers;      /**< CPU threads of the CPU path; 0 on a device */
  int64_t tiles;        /**< device: tiles of C (x k tiles) run; 0 on the CPU */
  int32_t splits;       /**< device: times tiles were halved after running out of memory */
  int32_t fallback;     /**< 1 when a device failed and the CPU path did (the rest of) the work */
  double seconds;       /**< wall time of the call */
  double gflops;        /**< 2 m n k x batch / seconds / 1e9 */
  /** "openblas", "blocked" (the CPU kernel of a build without OpenBLAS),
   *  "clblast", or "scale" (k = 0 or alpha = 0: only C = beta C). */
  char path[16];
} plx_gemm_result_t;

/**
 * C = alpha op(A) op(B) + beta C (see above). `result` may be NULL. Every
 * argument is checked before any matrix is touched. C is written only by a
 * successful call, except that a call failing on a device (under
 * PLX_DEVICE_GPU_REQUIRED) may leave tiles of C written.
 * Errors: PLX_ERR_INVALID_ARGUMENT (a NULL matrix, m, n or k < 0, a leading
 * dimension smaller than its stored row or column, a matrix whose extent
 * overflows 64 bits, a device buffer too small for its matrix, buffers on
 * different devices, host and device matrices mixed, an unknown enum: the
 * message names the field), PLX_ERR_NO_DEVICE (device GPU without a usable
 * device, or one with double precision for F64), PLX_ERR_DEVICE (a CLBlast or
 * OpenCL failure under GPU_REQUIRED, or on device buffers that cannot be
 * brought to the host: the message names CLBlast's status, e.g.
 * "kInvalidLocalMemUsage"), PLX_ERR_OUT_OF_MEMORY (not even the smallest tile
 * fits the device under GPU_REQUIRED, or the host cannot hold the copies of
 * a CPU fallback of device buffers), PLX_ERR_VERSION.
 * @since 0.1
 */
PLX_API plx_status_t plx_gemm(plx_runtime_t* runtime, const plx_gemm_desc_t* desc, plx_gemm_result_t* result);

/**
 * `batch_count` products of `desc`: product i reads A at a + i x stride_a
 * elements (a_offset + i x stride_a in a_buffer), B likewise, and writes C at
 * c + i x stride_c. A stride of 0 for A or B reuses one matrix for every
 * product; C's products must not overlap (stride_c at least the extent of
 * one C: (rows - 1) x ldc + row length), unless batch_count is 1.
 * batch_count 0 does nothing. Errors as plx_gemm, plus
 * PLX_ERR_INVALID_ARGUMENT for a negative batch_count or stride, or
 * overlapping C matrices.
 * @since 0.1
 */
PLX_API plx_status_t plx_gemm_batched_strided(plx_runtime_t* runtime, const plx_gemm_desc_t* desc,
                                              int64_t batch_count, int64_t stride_a, int64_t stride_b,
                                              int64_t stride_c, plx_gemm_result_t* result);

/** Which CLBlast kernels plx_gemm_tune tunes, as bits of a mask. */
typedef enum plx_gemm_tune_kernels {
  PLX_TUNE_XGEMM = 1,        /**< the tiled kernel of large products */
  PLX_TUNE_XGEMM_DIRECT = 2, /**< the single-kernel path of small products */
  /** The copy, pad and transpose kernels the tiled path uses around Xgemm
   *  for sizes that are not multiples of its tiles. */
  PLX_TUNE_HELPERS = 4
} plx_gemm_tune_kernels_t;

/** Options of plx_gemm_tune. Fill with plx_gemm_tune_options_init. */
typedef struct plx_gemm_tune_options {
  size_t struct_size;
  int32_t precision; /**< a plx_precision_t; default F32 */
  int32_t kernels;   /**< a mask of plx_gemm_tune_kernels_t; default XGEMM | XGEMM_DIRECT */
  /** m = n = k of the problem tuned on, 64 .. 8192; default 1024 (CLBlast's
   *  tuners' own default). */
  int64_t size;
  /** Share of each kernel's search space tried (at random), in (0, 1]:
   *  CLBlast's tuners compile one program per configuration tried, about
   *  1 s each on a GPU and several seconds on PoCL; default 1/64. */
  double fraction;
} plx_gemm_tune_options_t;

/** Fills `options` with defaults. Errors as plx_runtime_options_init. @since 0.1 */
PLX_API plx_status_t plx_gemm_tune_options_init(plx_gemm_tune_options_t* options, size_t struct_size);

/** What plx_gemm_tune did. Set struct_size before the call. */
typedef struct plx_gemm_tune_result {
  size_t struct_size;
  int32_t kernels_tuned; /**< CLBlast kernels whose parameters were stored */
  int32_t reserved0;     /**< 0 */
  double seconds;        /**< wall time of the tuning */
  double default_gflops; /**< a size^3 product with CLBlast's parameters */
  double tuned_gflops;   /**< the same with the tuned ones; when they were
                              not faster they are not stored (kernels_tuned
                              0) and this is default_gflops */
  double cpu_gflops;     /**< the same on the CPU path, for the AUTO crossover */
  double upload_gbps;    /**< host-to-device rate of the matrices, for the crossover */
  /** The file the parameters were stored in (NUL-terminated; truncated). */
  char path[256];
} plx_gemm_tune_result_t;

/**
 * Runs CLBlast's tuners (clblast::TuneXgemm, TuneXgemmDirect, ...) for
 * device `device_index` and stores the best parameters per kernel and
 * precision in cache_dir ("gemm_tuning.json", keyed by platform, device and
 * driver); every later runtime applies them with clblast::OverrideParameters
 * on the device's first plx_gemm. Also measures the product's rate with
 * CLBlast's default and the tuned parameters, the CPU path's rate and the
 * upload rate, stored with the parameters: plx_gemm's AUTO device choice
 * reads them. Minutes to hours (fraction); not to be called while other runs
 * use the device.
 * Errors: PLX_ERR_INVALID_ARGUMENT (bad device or options), PLX_ERR_NO_DEVICE
 * (F64 on a device without double precision), PLX_ERR_UNSUPPORTED (a
 * simulated device), PLX_ERR_DEVICE (a tuner failed: the message has CLBlast's
 * status), PLX_ERR_IO (no cache directory, or it cannot be written: nothing
 * is applied).
 * @since 0.1
 */
PLX_API plx_status_t plx_gemm_tune(plx_runtime_t* runtime, int32_t device_index,
                                   const plx_gemm_tune_options_t* options, plx_gemm_tune_result_t* result);

/* ======================================================================== */
/*  EXPERIMENTAL                                                            */
/* ======================================================================== */

/* Declarations below appear only with PLX_EXPERIMENTAL defined. They are
 * exported under their own version node, are outside the ABI baseline, and may
 * change or go in any release; once stable they move above unchanged. None yet.
 */
#ifdef PLX_EXPERIMENTAL
#endif /* PLX_EXPERIMENTAL */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PARALLAX_H */
