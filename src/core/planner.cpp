// Planning rules (DESIGN.md, "Planning"); each has a test in
// tests/unit/planner_*.cpp.
//
//  1. CPUs: available = usable CPUs - reserve_cpus (at least 1).
//  2. Workers by kind: CPU = available; MEMORY = min(available, NUMA nodes x
//     workers that saturate one node's bandwidth (measured, else its physical
//     cores: SMT siblings add no bandwidth)); IO = 2 x available; GPU = one
//     feeder per device used; MIXED = available - one feeder per device.
//     Then capped by max_cpu_workers and the workload's max_workers.
//  3. Devices are used when the workload asks (kind GPU/MIXED or preference
//     GPU), the policy allows, and one chunk fits: a device chunk's input is
//     at most min(max single allocation / 4, vram_fraction x device memory /
//     (2 x working_set_factor) for double buffering, RAM budget / (4 x
//     devices) for the two pinned staging buffers, which must also leave one
//     CPU worker its minimum (rule 4)). Shares follow measured
//     throughput when every device has one, else are equal (the executor
//     rebalances by measured speed).
//  4. Memory: the RAM budget (min(available, cgroup headroom) x ram_fraction)
//     minus staging must hold, per worker, per_worker_bytes plus the smallest
//     chunk (one item, one row of one item, or one row through all items,
//     times working_set_factor); workers are cut until it does, and if one
//     worker does not fit the plan fails with the numbers.
//  5. Chunks: the room per worker bounds a chunk; within it, chunks are cut
//     to give about 4 per worker so uneven chunks even out. Rows stay in
//     [1, rows]. Results never depend on the plan.
//  6. Streaming: the whole working set does not fit the budget, so the data
//     goes through in passes.
#include "core/planner.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/json_text.hpp"
#include "core/text.hpp"

namespace plx {
namespace {

using nlohmann::json;
using i128 = __int128;

constexpr int kChunksPerWorker = 4;

int64_t clamp_to_int64(long double v) {
  if (!(v > 0)) return 0;
  if (v >= 9.2e18L) return INT64_MAX;
  return static_cast<int64_t>(v);
}

int64_t clamp_to_int64(i128 v) {
  if (v <= 0) return 0;
  return v > INT64_MAX ? INT64_MAX : static_cast<int64_t>(v);
}

int64_t ceil_div(int64_t a, int64_t b) { return b <= 0 ? 0 : a / b + (a % b != 0); }

std::string bytes(long double b) { return format_bytes(static_cast<double>(b)); }

struct Sizes {
  int64_t item_bytes = 0;       // bytes of one item
  int64_t row_unit_bytes = 0;   // one row (ITEMS) or one row through all items (ACROSS)
  long double min_input = 0;    // input bytes of the smallest chunk
  long double min_working = 0;  // its working set
  std::string min_what;         // "one item", "one row of one item", ...
};

Sizes workload_sizes(const Workload& w) {
  Sizes s;
  s.item_bytes = w.bytes_per_item > 0 ? w.bytes_per_item : w.rows * w.bytes_per_row;
  if (w.layout == Layout::rows_across_items) {
    s.row_unit_bytes = clamp_to_int64(static_cast<i128>(w.bytes_per_row) * w.items);
    s.min_input = static_cast<long double>(w.bytes_per_row) * w.items;
    s.min_what = cat("one row through all ", w.items, " items");
  } else if (w.rows > 0) {
    s.row_unit_bytes = w.bytes_per_row;
    s.min_input = static_cast<long double>(w.bytes_per_row);
    s.min_what = "one row of one item";
  } else {
    s.min_input = static_cast<long double>(s.item_bytes);
    s.min_what = "one item";
  }
  s.min_working = std::ceil(s.min_input * w.working_set_factor);
  return s;
}

// How much of the work one chunk of `cap` input bytes covers.
struct ChunkShape {
  int64_t items = 0;
  int64_t rows = 0;
  bool fits = false;
};

ChunkShape shape_chunk(const Workload& w, const Sizes& s, int64_t cap, int64_t balance_chunks) {
  ChunkShape c;
  if (w.layout == Layout::rows_across_items) {
    int64_t by_memory = s.row_unit_bytes > 0 ? cap / s.row_unit_bytes : w.rows;
    c.items = w.items;
    c.rows = std::min({by_memory, ceil_div(w.rows, balance_chunks), w.rows});
    c.fits = by_memory >= 1;
    c.rows = std::max<int64_t>(c.rows, 1);
    return c;
  }
  if (s.item_bytes == 0) {  // no data: chunk by count alone
    c.items = std::max<int64_t>(1, ceil_div(w.items, balance_chunks));
    c.rows = w.rows;
    c.fits = true;
    return c;
  }
  if (s.item_bytes <= cap) {
    c.items = std::max<int64_t>(1, std::min(cap / s.item_bytes, ceil_div(w.items, balance_chunks)));
    c.rows = w.rows;
    c.fits = true;
    return c;
  }
  // One item is too big: rows of one item.
  c.items = 1;
  c.rows = w.rows > 0 && w.bytes_per_row > 0 ? std::min(cap / w.bytes_per_row, w.rows) : 0;
  c.fits = c.rows >= 1;
  return c;
}

std::string quota_text(const Machine& m) {
  return m.cpu_quota ? cat("cgroup quota ", std::round(*m.cpu_quota * 100) / 100, " CPUs") : "no cgroup quota";
}

std::string budget_text(const Machine& m, const PlannerSettings& s, int64_t budget) {
  std::string room = cat("available ", bytes(m.memory_available_bytes));
  if (m.memory_headroom_bytes)
    room = cat("min(", room, ", cgroup limit ", bytes(*m.memory_limit_bytes), " - usage ", bytes(m.memory_usage_bytes),
               ")");
  return cat("memory budget ", bytes(budget), " = ", room, " x ram_fraction ", s.ram_fraction);
}

}  // namespace

const char* kind_name(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::cpu:
      return "cpu";
    case WorkloadKind::memory:
      return "memory";
    case WorkloadKind::io:
      return "io";
    case WorkloadKind::gpu:
      return "gpu";
    case WorkloadKind::mixed:
      return "mixed";
  }
  return "unknown";
}

const char* layout_name(Layout layout) { return layout == Layout::rows_across_items ? "rows_across_items" : "items"; }

const char* policy_name(DevicePolicy policy) {
  switch (policy) {
    case DevicePolicy::automatic:
      return "auto";
    case DevicePolicy::cpu_only:
      return "cpu_only";
    case DevicePolicy::gpu_required:
      return "gpu_required";
  }
  return "unknown";
}

const char* preference_name(DevicePreference preference) {
  switch (preference) {
    case DevicePreference::automatic:
      return "auto";
    case DevicePreference::cpu:
      return "cpu";
    case DevicePreference::gpu:
      return "gpu";
  }
  return "unknown";
}

Status validate_workload(const Workload& w) {
  auto bad = [](auto&&... parts) { return make_error(Code::invalid_argument, "workload.", parts...); };
  if (w.items < 1) return bad("items must be >= 1, got ", w.items, " (the number of frames, tiles or tasks)");
  if (w.bytes_per_item < 0) return bad("bytes_per_item must be >= 0, got ", w.bytes_per_item);
  if (w.rows < 0) return bad("rows must be >= 0, got ", w.rows);
  if (w.bytes_per_row < 0) return bad("bytes_per_row must be >= 0, got ", w.bytes_per_row);
  if ((w.rows > 0) != (w.bytes_per_row > 0))
    return bad("rows and bytes_per_row go together (both 0, or both > 0); got rows=", w.rows,
               ", bytes_per_row=", w.bytes_per_row);
  i128 image_bytes = static_cast<i128>(w.rows) * w.bytes_per_row;
  if (image_bytes > INT64_MAX)
    return bad("rows x bytes_per_row overflows 64 bits (", w.rows, " x ", w.bytes_per_row, ")");
  if (w.bytes_per_item > 0 && image_bytes > w.bytes_per_item)
    return bad("rows x bytes_per_row (", w.rows, " x ", w.bytes_per_row, " = ", static_cast<int64_t>(image_bytes),
               ") exceeds bytes_per_item ", w.bytes_per_item, ": rows describe one item");
  if (!std::isfinite(w.working_set_factor) || w.working_set_factor < 1.0 || w.working_set_factor > 1e6)
    return bad("working_set_factor must be a finite number from 1 to 1e6 (1 = only the input is in memory), got ",
               w.working_set_factor);
  if (w.per_worker_bytes < 0) return bad("per_worker_bytes must be >= 0, got ", w.per_worker_bytes);
  if (w.max_workers < 0) return bad("max_workers must be >= 0 (0 = no cap), got ", w.max_workers);
  if (w.layout == Layout::rows_across_items && w.rows == 0)
    return bad("layout ROWS_ACROSS_ITEMS needs rows and bytes_per_row (a chunk is a band of rows through all items)");
  return Ok{};
}

namespace {

// What the rules below share: the workload's sizes, the budget, the reasons.
struct Context {
  const Machine& m;
  const PlannerSettings& settings;
  const Workload& w;
  Sizes sizes;
  int64_t budget = 0;
  long double per_worker_min = 0;  // one CPU worker's scratch plus the smallest chunk
  std::vector<std::string>& why;
};

// The budget the plan has, and where it came from: the run's own, or the
// machine's.
std::string budget_said(const Context& c) {
  if (c.settings.run_budget_bytes > 0 && c.settings.run_budget_bytes == c.budget)
    return cat("run's memory_budget_bytes ", bytes(c.budget));
  return budget_text(c.m, c.settings, c.budget);
}

// Rule 1: CPUs left for workers, and how to say where they came from.
int available_cpus(const Context& c, std::string& cpus) {
  const Machine& m = c.m;
  cpus = cat(m.cpu_usable, " usable CPUs (affinity ", m.cpu_affinity, " of ", m.cpu_logical, " logical, ",
             quota_text(m), ")");
  if (c.settings.reserve_cpus <= 0) return m.cpu_usable;
  cpus += cat(" minus reserve_cpus ", c.settings.reserve_cpus,
              m.cpu_usable - c.settings.reserve_cpus < 1 ? " (keeping 1: a plan needs a worker)" : "");
  return std::max(1, m.cpu_usable - c.settings.reserve_cpus);
}

// Rule 3, first part: does the workload take devices at all?
Result<bool> wants_devices(const Context& c, const std::vector<int>& usable_devices) {
  const Workload& w = c.w;
  bool want =
      w.preferred_device == DevicePreference::gpu || (w.preferred_device == DevicePreference::automatic &&
                                                      (w.kind == WorkloadKind::gpu || w.kind == WorkloadKind::mixed));
  if (want && c.settings.policy == DevicePolicy::cpu_only) {
    c.why.push_back("Devices not used: the runtime's device policy is CPU_ONLY.");
    return false;
  }
  if (want && usable_devices.empty()) {
    if (c.settings.policy == DevicePolicy::gpu_required)
      return make_error(Code::no_device, "plan '", w.name, "': the runtime requires a device but none is usable");
    std::string found;
    for (const DeviceInfo& d : c.m.devices)
      found += cat(found.empty() ? ": " : ", ", d.name, " (", device_type_name(d.type), ")");
    c.why.push_back(cat("Devices not used: no OpenCL device matches the runtime's device types and filter (",
                        c.m.devices.size(), " found", found, "); the work runs on the CPU."));
    return false;
  }
  if (!want && !usable_devices.empty())
    c.why.push_back(cat("Devices not used: ", kind_name(w.kind), " work with device preference ",
                        preference_name(w.preferred_device),
                        " stays on the CPU (ask with kind gpu/mixed or prefer gpu)."));
  return want;
}

// Input bytes of one chunk of the given shape.
int64_t chunk_input_bytes(const Workload& w, const Sizes& sizes, const ChunkShape& shape) {
  if (w.layout == Layout::rows_across_items)
    return clamp_to_int64(static_cast<i128>(shape.rows) * sizes.row_unit_bytes);
  if (shape.items == 1 && w.rows > 0 && shape.rows < w.rows)
    return clamp_to_int64(static_cast<i128>(shape.rows) * w.bytes_per_row);
  return clamp_to_int64(static_cast<i128>(shape.items) * sizes.item_bytes);
}

// Rule 3: each device's chunk. Staging comes out of RAM, so this runs before
// the CPU's share is known, but never takes the room one CPU worker needs.
std::vector<PlanDevice> plan_devices(const Context& c, const std::vector<int>& usable_devices) {
  const Workload& w = c.w;
  const int64_t n = static_cast<int64_t>(usable_devices.size());
  const int64_t staging_room = clamp_to_int64(std::floor(c.budget - c.per_worker_min));
  std::vector<PlanDevice> devices;
  for (int index : usable_devices) {
    const DeviceInfo& d = c.m.devices[static_cast<size_t>(index)];
    PlanDevice pd;
    pd.device_index = index;
    pd.name = d.name;
    pd.memory_budget_bytes =
        clamp_to_int64(std::floor(static_cast<long double>(d.global_memory_bytes) * c.settings.vram_fraction));
    int64_t by_alloc = d.max_alloc_bytes / 4;
    int64_t by_vram = clamp_to_int64(std::floor(pd.memory_budget_bytes / (2.0L * w.working_set_factor)));
    int64_t by_staging = std::min(c.budget / (4 * n), staging_room / (2 * n));
    int64_t cap = std::min({by_alloc, by_vram, by_staging});
    ChunkShape shape = shape_chunk(w, c.sizes, cap, kChunksPerWorker * n);
    if (!shape.fits || cap < 1) {
      c.why.push_back(cat("Device ", index, " (", d.name, ") not used: its chunk limit ", bytes(cap),
                          " = min(max allocation/4 ", bytes(by_alloc), ", vram budget/(2 x working set) ",
                          bytes(by_vram), ", RAM staging share ", bytes(by_staging), ") cannot hold ", c.sizes.min_what,
                          " (", bytes(c.sizes.min_input), ")."));
      continue;
    }
    pd.items_per_chunk = shape.items;
    pd.rows_per_chunk = shape.rows;
    pd.chunk_bytes = chunk_input_bytes(w, c.sizes, shape);
    c.why.push_back(cat("Device ", index, " (", d.name, "): chunks of ", bytes(pd.chunk_bytes), " (",
                        w.rows > 0 ? cat(pd.rows_per_chunk, pd.rows_per_chunk == 1 ? " row" : " rows")
                                   : cat(pd.items_per_chunk, pd.items_per_chunk == 1 ? " item" : " items"),
                        "), limit ", bytes(cap), " = min(max allocation/4, ", c.settings.vram_fraction,
                        " x device memory/(2 x working set), RAM staging share); double-buffered."));
    devices.push_back(pd);
  }
  return devices;
}

// Rule 3, last part: shares by measured throughput, equal until measured;
// the plan's device figures are the smallest over its devices.
void share_devices(const Context& c, Plan& plan) {
  auto measured = [&](const PlanDevice& d) { return c.m.devices[static_cast<size_t>(d.device_index)].measured_gbps; };
  bool all_measured = std::all_of(plan.devices.begin(), plan.devices.end(),
                                  [&](const PlanDevice& d) { return measured(d).has_value(); });
  double total = 0;
  for (PlanDevice& d : plan.devices) {
    d.share = all_measured ? *measured(d) : 1.0;
    total += d.share;
  }
  for (PlanDevice& d : plan.devices) d.share /= total;
  c.why.push_back(all_measured ? "Device shares follow their measured throughput."
                               : "Device shares are equal until measured; chunks go to whichever device is free, so "
                                 "faster devices take more.");
  plan.gpu_chunk_bytes = plan.gpu_rows_per_chunk = plan.gpu_items_per_chunk = INT64_MAX;
  for (const PlanDevice& d : plan.devices) {
    plan.staging_bytes += 2 * d.chunk_bytes;
    plan.gpu_chunk_bytes = std::min(plan.gpu_chunk_bytes, d.chunk_bytes);
    plan.gpu_rows_per_chunk = std::min(plan.gpu_rows_per_chunk, d.rows_per_chunk);
    plan.gpu_items_per_chunk = std::min(plan.gpu_items_per_chunk, d.items_per_chunk);
  }
  c.why.push_back(cat("Pinned staging for devices: ", bytes(plan.staging_bytes),
                      " of host memory (two chunk buffers per device)."));
}

// Rule 2: workers by kind, then the caps.
int workers_by_kind(const Context& c, int available, const std::string& cpus, int devices_used) {
  const Machine& m = c.m;
  int workers = available;
  switch (c.w.kind) {
    case WorkloadKind::cpu:
      c.why.push_back(cat("cpu_workers ", workers, ": CPU-bound work, one worker per CPU of ", cpus, "."));
      break;
    case WorkloadKind::memory: {
      int per_node =
          m.bandwidth_workers_per_node.value_or(std::max(1, (m.cpu_physical + m.numa_nodes - 1) / m.numa_nodes));
      workers = std::min(available, m.numa_nodes * per_node);
      c.why.push_back(cat("cpu_workers ", workers, ": memory-bound work, min(", cpus, ", ", m.numa_nodes,
                          " NUMA nodes x ", per_node, " workers saturating one node's bandwidth",
                          m.bandwidth_workers_per_node ? " (measured)" : " (its physical cores)", ")."));
      break;
    }
    case WorkloadKind::io:
      workers = 2 * available;
      c.why.push_back(cat("cpu_workers ", workers,
                          ": I/O-bound work waits more than it computes, 2 workers per CPU of ", cpus, "."));
      break;
    case WorkloadKind::gpu:
      if (devices_used > 0) {
        workers = std::min(available, devices_used);
        c.why.push_back(cat("cpu_workers ", workers, ": one host worker feeds each of ", devices_used, " devices."));
      } else {
        c.why.push_back(cat("cpu_workers ", workers, ": GPU work without a device runs CPU-bound on ", cpus, "."));
      }
      break;
    case WorkloadKind::mixed:
      if (devices_used > 0) {
        workers = std::max(1, available - devices_used);
        c.why.push_back(
            cat("cpu_workers ", workers, ": mixed work, ", cpus, " less one feeder per device (", devices_used, ")."));
      } else {
        c.why.push_back(
            cat("cpu_workers ", workers, ": mixed work without a device, one worker per CPU of ", cpus, "."));
      }
      break;
  }
  if (c.settings.max_cpu_workers > 0 && workers > c.settings.max_cpu_workers) {
    workers = c.settings.max_cpu_workers;
    c.why.push_back(cat("cpu_workers capped at ", workers, " by the runtime's max_cpu_workers."));
  }
  if (c.w.max_workers > 0 && workers > c.w.max_workers) {
    workers = c.w.max_workers;
    c.why.push_back(cat("cpu_workers capped at ", workers, " by the workload's max_workers."));
  }
  return workers;
}

// Rule 4: memory bounds the workers; if one does not fit, the plan fails.
Result<int> fit_workers(const Context& c, int workers, int64_t cpu_room, int64_t staging) {
  if (c.per_worker_min <= 0) return workers;
  long double fit = cpu_room > 0 ? std::floor(cpu_room / c.per_worker_min) : 0;
  if (fit < 1)
    return make_error(
        Code::out_of_memory, "plan '", c.w.name, "' does not fit: one worker needs ", bytes(c.per_worker_min),
        " (per_worker_bytes ", bytes(c.w.per_worker_bytes), " + ", c.sizes.min_what, " of ", bytes(c.sizes.min_input),
        " x working_set_factor ", c.w.working_set_factor, ") but the ", budget_said(c),
        staging > 0 ? cat(" less device staging ", bytes(staging)) : std::string(), " leaves ",
        bytes(cpu_room > 0 ? cpu_room : 0), ". ",
        c.w.advice.empty() ? "Raise ram_fraction, free memory, lower working_set_factor or per_worker_bytes, or give "
                             "rows so items can be split."
                           : c.w.advice);
  if (fit >= workers) return workers;
  c.why.push_back(cat("cpu_workers cut to ", static_cast<int>(fit), " so each holds ",
                      c.w.per_worker_bytes > 0 ? cat("per_worker_bytes ", bytes(c.w.per_worker_bytes), " plus ") : "",
                      "at least ", c.sizes.min_what, " (", bytes(c.sizes.min_working), " with its working set) in ",
                      bytes(cpu_room), "."));
  return static_cast<int>(fit);
}

// Rule 5: the CPU chunks within each worker's room.
void shape_cpu_chunks(const Context& c, Plan& plan, int64_t cpu_room) {
  const Workload& w = c.w;
  const int workers = plan.cpu_workers;
  const int64_t chunk_room = (cpu_room - static_cast<int64_t>(workers) * w.per_worker_bytes) / workers;
  plan.max_chunk_bytes = clamp_to_int64(std::floor(chunk_room / static_cast<long double>(w.working_set_factor)));
  ChunkShape shape = shape_chunk(w, c.sizes, plan.max_chunk_bytes, static_cast<int64_t>(kChunksPerWorker) * workers);
  plan.items_per_chunk = shape.items;
  plan.rows_per_chunk = shape.rows;
  if (w.layout == Layout::rows_across_items) {
    plan.chunk_count = ceil_div(w.rows, shape.rows);
    c.why.push_back(cat("Chunks are bands of ", shape.rows, shape.rows == 1 ? " row" : " rows", " through all ",
                        w.items, " items (", bytes(static_cast<long double>(shape.rows) * c.sizes.row_unit_bytes),
                        " of input each; at most ", bytes(plan.max_chunk_bytes), " per worker), ", plan.chunk_count,
                        " bands."));
  } else if (shape.items == 1 && w.rows > 0 && shape.rows < w.rows) {
    plan.chunk_count = clamp_to_int64(static_cast<i128>(w.items) * ceil_div(w.rows, shape.rows));
    c.why.push_back(cat("One item (", bytes(c.sizes.item_bytes), ") exceeds a worker's chunk limit ",
                        bytes(plan.max_chunk_bytes), ": items are split into chunks of ", shape.rows, " rows."));
  } else {
    plan.chunk_count = ceil_div(w.items, shape.items);
    const bool memory_bound = c.sizes.item_bytes > 0 && plan.max_chunk_bytes / c.sizes.item_bytes <= shape.items;
    c.why.push_back(cat(
        "Chunks of ", shape.items, " items",
        c.sizes.item_bytes > 0 ? cat(" (", bytes(static_cast<long double>(shape.items) * c.sizes.item_bytes), ")") : "",
        memory_bound ? cat(", as many as fit a worker's ", bytes(plan.max_chunk_bytes), " of input (room ",
                           bytes(chunk_room), " / working set ", w.working_set_factor, ")")
                     : cat(", about ", kChunksPerWorker, " chunks per worker so uneven chunks even out"),
        "; ", plan.chunk_count, " chunks."));
  }
}

}  // namespace

Result<Plan> make_plan(const Machine& m, const std::vector<int>& usable_devices, const PlannerSettings& settings,
                       const Workload& w) {
  PLX_TRY(validate_workload(w));
  Plan plan;
  plan.workload = w;
  Context c{m, settings, w, workload_sizes(w), memory_budget_bytes(m, settings.ram_fraction), 0, plan.reasons};
  c.per_worker_min = static_cast<long double>(w.per_worker_bytes) + c.sizes.min_working;
  if (settings.run_budget_bytes > 0 && settings.run_budget_bytes < c.budget) {
    c.why.push_back(cat(budget_text(m, settings, c.budget), ", cut to the run's own memory_budget_bytes ",
                        bytes(settings.run_budget_bytes), "."));
    c.budget = settings.run_budget_bytes;
  } else {
    c.why.push_back(cat(budget_text(m, settings, c.budget), "."));
  }
  plan.memory_budget_bytes = c.budget;

  std::string cpus;
  const int available = available_cpus(c, cpus);

  bool use_devices = false;
  PLX_TRY_ASSIGN(use_devices, wants_devices(c, usable_devices));
  if (use_devices) {
    plan.devices = plan_devices(c, usable_devices);
    if (plan.devices.empty()) {
      if (settings.policy == DevicePolicy::gpu_required)
        return make_error(Code::no_device, "plan '", w.name,
                          "': the runtime requires a device but no usable device can hold ", c.sizes.min_what, " (",
                          bytes(c.sizes.min_input), "); ", c.why.back());
      c.why.push_back("No device can take a chunk: the work runs on the CPU.");
    } else {
      share_devices(c, plan);
    }
  }
  plan.use_gpu = !plan.devices.empty();

  const int64_t cpu_room = c.budget - plan.staging_bytes;
  int workers = workers_by_kind(c, available, cpus, static_cast<int>(plan.devices.size()));
  PLX_TRY_ASSIGN(plan.cpu_workers, fit_workers(c, workers, cpu_room, plan.staging_bytes));
  shape_cpu_chunks(c, plan, cpu_room);

  // Rule 6: streaming.
  plan.total_bytes = static_cast<double>(static_cast<long double>(w.items) * c.sizes.item_bytes * w.working_set_factor +
                                         static_cast<long double>(plan.cpu_workers) * w.per_worker_bytes);
  plan.streaming = plan.total_bytes > static_cast<double>(cpu_room);
  c.why.push_back(
      plan.streaming
          ? cat("Streaming: the working set ", bytes(plan.total_bytes), " exceeds the ", bytes(cpu_room),
                " available, so data passes through in chunks, ", plan.cpu_workers, " at a time.")
          : cat("No streaming: the working set ", bytes(plan.total_bytes), " fits in ", bytes(cpu_room), "."));
  return plan;
}

json plan_to_json(const Plan& p) {
  json devices = json::array();
  for (const PlanDevice& d : p.devices)
    devices.push_back({{"device_index", d.device_index},
                       {"name", d.name},
                       {"share", d.share},
                       {"chunk_bytes", d.chunk_bytes},
                       {"rows_per_chunk", d.rows_per_chunk},
                       {"items_per_chunk", d.items_per_chunk},
                       {"memory_budget_bytes", d.memory_budget_bytes}});
  const Workload& w = p.workload;
  return {
      {"workload",
       {{"name", w.name},
        {"kind", kind_name(w.kind)},
        {"layout", layout_name(w.layout)},
        {"items", w.items},
        {"bytes_per_item", w.bytes_per_item},
        {"rows", w.rows},
        {"bytes_per_row", w.bytes_per_row},
        {"working_set_factor", w.working_set_factor},
        {"per_worker_bytes", w.per_worker_bytes},
        {"max_workers", w.max_workers},
        {"preferred_device", preference_name(w.preferred_device)}}},
      {"cpu_workers", p.cpu_workers},
      {"use_gpu", p.use_gpu},
      {"streaming", p.streaming},
      {"items_per_chunk", p.items_per_chunk},
      {"rows_per_chunk", p.rows_per_chunk},
      {"gpu_rows_per_chunk", p.gpu_rows_per_chunk},
      {"gpu_items_per_chunk", p.gpu_items_per_chunk},
      {"max_chunk_bytes", p.max_chunk_bytes},
      {"gpu_chunk_bytes", p.gpu_chunk_bytes},
      {"chunk_count", p.chunk_count},
      {"total_bytes", p.total_bytes},
      {"budgets",
       {{"memory_budget_bytes", p.memory_budget_bytes},
        {"staging_bytes", p.staging_bytes},
        {"per_worker_bytes", w.per_worker_bytes},
        {"cpu_chunks_bytes", static_cast<double>(p.max_chunk_bytes) * w.working_set_factor * p.cpu_workers}}},
      {"devices", devices},
      {"reasons", p.reasons},
  };
}

std::string plan_summary_line(const Plan& p) {
  json devices = json::array();
  for (const PlanDevice& d : p.devices) devices.push_back({{"device_index", d.device_index}, {"share", d.share}});
  json line = {{"event", "parallel_plan_summary"},
               {"workload", p.workload.name},
               {"kind", kind_name(p.workload.kind)},
               {"items", p.workload.items},
               {"cpu_workers", p.cpu_workers},
               {"use_gpu", p.use_gpu},
               {"devices", devices},
               {"items_per_chunk", p.items_per_chunk},
               {"rows_per_chunk", p.rows_per_chunk},
               {"gpu_rows_per_chunk", p.gpu_rows_per_chunk},
               {"max_chunk_bytes", p.max_chunk_bytes},
               {"memory_budget_bytes", p.memory_budget_bytes},
               {"streaming", p.streaming}};
  return json_text(line);
}

}  // namespace plx
