// `parallax plan`: how a workload would run on this (or a profiled) machine.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "common.hpp"

namespace plx::cli {
namespace {

using nlohmann::json;

struct PlanFlags {
  RuntimeFlags runtime;
  std::string name = "workload";
  std::string kind = "cpu";
  std::string layout = "items";
  std::string prefer = "auto";
  int64_t items = 0;
  int64_t bytes_per_item = 0;
  int64_t rows = 0;
  int64_t bytes_per_row = 0;
  double working_set = 1.0;
  int64_t per_worker_bytes = 0;
  int max_workers = 0;
};

class Plan {
 public:
  Plan(plx_runtime_t* runtime, const plx_workload_t& workload) { check(plx_plan_create(runtime, &workload, &plan_)); }
  ~Plan() { plx_plan_destroy(plan_); }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  json describe() const { return describe_json<const plx_plan_t>(plan_, plx_plan_describe_json); }

 private:
  plx_plan_t* plan_ = nullptr;
};

std::string yes_no(const json& v) { return v.get<bool>() ? "yes" : "no"; }

void print_plan(const json& p, const json& machine) {
  const json& w = p["workload"];
  std::cout << "Plan '" << w["name"].get<std::string>() << "': " << w["kind"].get<std::string>() << " work, "
            << w["items"] << " items of " << format_bytes(w["bytes_per_item"].get<double>())
            << (w["layout"] == "rows_across_items" ? ", each output row needs every item" : "") << "\n";
  std::cout << "Machine: " << machine["source"].get<std::string>() << " (" << machine["cpu"]["usable"]
            << " usable CPUs, budget " << format_bytes(machine["memory"]["budget_bytes"].get<double>()) << ")\n\n";
  auto row = [](const char* key, const std::string& value) {
    std::cout << "  " << key << std::string(22 - std::string(key).size(), ' ') << value << "\n";
  };
  row("cpu_workers", p["cpu_workers"].dump());
  row("use_gpu", yes_no(p["use_gpu"]));
  for (const json& d : p["devices"])
    row("  device", "[" + d["device_index"].dump() + "] " + d["name"].get<std::string>() + ", share " +
                        std::to_string(static_cast<int>(d["share"].get<double>() * 100 + 0.5)) + "%, chunks of " +
                        format_bytes(d["chunk_bytes"].get<double>()));
  row("items_per_chunk", p["items_per_chunk"].dump());
  row("rows_per_chunk", p["rows_per_chunk"].dump());
  row("gpu_rows_per_chunk", p["gpu_rows_per_chunk"].dump());
  row("max_chunk_bytes", p["max_chunk_bytes"].dump() + " (" + format_bytes(p["max_chunk_bytes"].get<double>()) + ")");
  row("chunks", p["chunk_count"].dump());
  row("streaming", yes_no(p["streaming"]) + " (working set " + format_bytes(p["total_bytes"].get<double>()) + ")");
  std::cout << "\nWhy:\n";
  for (const json& reason : p["reasons"]) std::cout << "  - " << reason.get<std::string>() << "\n";
}

int32_t to_kind(const std::string& k) {
  if (k == "memory") return PLX_WORKLOAD_MEMORY;
  if (k == "io") return PLX_WORKLOAD_IO;
  if (k == "gpu") return PLX_WORKLOAD_GPU;
  if (k == "mixed") return PLX_WORKLOAD_MIXED;
  return PLX_WORKLOAD_CPU;
}

}  // namespace

Command add_plan_command(CLI::App& app) {
  auto f = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand("plan", "Plan a workload: workers, devices, chunk sizes, and why");
  cmd->add_option("--kind", f->kind, "What limits the work: cpu, memory, io, gpu or mixed")
      ->check(CLI::IsMember({"cpu", "memory", "io", "gpu", "mixed"}));
  cmd->add_option("--items", f->items, "Number of items (frames, tiles, tasks)")
      ->required()
      ->check(at_least(1));
  cmd->add_option("--bytes-per-item", f->bytes_per_item, "Input bytes of one item (e.g. 24883200 or 23.7MiB)")
      ->required()
      ->transform(size_validator());
  cmd->add_option("--rows", f->rows, "Rows of one item (image height)")->check(at_least(0));
  cmd->add_option("--bytes-per-row", f->bytes_per_row, "Bytes of one row of one item")->transform(size_validator());
  cmd->add_option("--working-set", f->working_set, "Bytes in memory per input byte while working (>= 1)");
  cmd->add_option("--per-worker-bytes", f->per_worker_bytes, "Fixed scratch bytes per worker")
      ->transform(size_validator());
  cmd->add_option("--max-workers", f->max_workers, "Most workers the work can use (0 = no cap)")
      ->check(at_least(0));
  cmd->add_option("--layout", f->layout,
                  "items: items are independent; across: each output row needs that row of every item (stacking)")
      ->check(CLI::IsMember({"items", "across"}));
  cmd->add_option("--prefer", f->prefer, "Device preference: auto, cpu or gpu")
      ->check(CLI::IsMember({"auto", "cpu", "gpu"}));
  cmd->add_option("--name", f->name, "Name for logs");
  add_runtime_flags(*cmd, f->runtime);
  return [cmd, f]() -> int {
    if (!cmd->parsed()) return -1;
    Runtime runtime(f->runtime);
    plx_workload_t w;
    check(plx_workload_init(&w, sizeof w));
    w.name = f->name.c_str();
    w.kind = to_kind(f->kind);
    w.layout = f->layout == "across" ? PLX_LAYOUT_ROWS_ACROSS_ITEMS : PLX_LAYOUT_ITEMS;
    w.preferred_device = f->prefer == "cpu" ? PLX_PREFER_CPU : f->prefer == "gpu" ? PLX_PREFER_GPU : PLX_PREFER_AUTO;
    w.items = f->items;
    w.bytes_per_item = f->bytes_per_item;
    w.rows = f->rows;
    w.bytes_per_row = f->bytes_per_row;
    w.working_set_factor = f->working_set;
    w.per_worker_bytes = f->per_worker_bytes;
    w.max_workers = f->max_workers;
    Plan plan(runtime.get(), w);
    json doc = plan.describe();
    if (f->runtime.json)
      std::cout << json_text(doc) << "\n";
    else
      print_plan(doc, runtime.describe());
    return 0;
  };
}

}  // namespace plx::cli
