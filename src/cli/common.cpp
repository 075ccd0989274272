#include "common.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

namespace plx::cli {

void add_runtime_flags(CLI::App& cmd, RuntimeFlags& f) {
  cmd.add_flag("--json", f.json, "Print JSON instead of a summary");
  cmd.add_flag("-v,--verbose", f.verbose, "Print the library's log lines to stderr");
  cmd.add_option("--profile", f.profile, "Machine profile (JSON file) to use instead of this machine");
  cmd.add_option("--device", f.device, "Device policy: auto, cpu (never OpenCL) or gpu (require a device)")
      ->check(CLI::IsMember({"auto", "cpu", "gpu"}));
  cmd.add_option("--device-types", f.device_types,
                 "Device types allowed, comma-separated from cpu,gpu,accelerator (default gpu,accelerator)");
  cmd.add_option("--device-filter", f.device_filter, "Only devices whose name, vendor or platform contain this");
  cmd.add_option("--ram-fraction", f.ram_fraction, "Share of free memory plans may use, in (0, 1]");
  cmd.add_option("--vram-fraction", f.vram_fraction, "Share of device memory plans may use, in (0, 1]");
  cmd.add_option("--reserve-cpus", f.reserve_cpus, "CPUs to leave to other work");
  cmd.add_option("--max-cpu-workers", f.max_cpu_workers, "Most CPU workers (0 = all usable)");
}

void check(plx_status_t status) {
  if (status != PLX_OK) throw Failure{status, plx_last_error_message()};
}

namespace {

void log_to_stderr(void*, plx_log_level_t level, const char* message) {
  static const char* const names[] = {"off", "error", "warn", "info", "debug"};
  std::fprintf(stderr, "[parallax %s] %s\n", level >= 0 && level <= 4 ? names[level] : "?", message);
}

int32_t parse_device_types(const std::string& text) {
  int32_t mask = 0;
  std::string item;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      if (item == "cpu")
        mask |= PLX_DEVICE_TYPE_CPU;
      else if (item == "gpu")
        mask |= PLX_DEVICE_TYPE_GPU;
      else if (item == "accelerator")
        mask |= PLX_DEVICE_TYPE_ACCELERATOR;
      else if (item == "any" || item == "all")
        mask |= PLX_DEVICE_TYPE_ANY;
      else if (!item.empty())
        throw Failure{PLX_ERR_INVALID_ARGUMENT,
                      "--device-types: unknown type '" + item + "' (use cpu, gpu, accelerator or any)"};
      item.clear();
    } else {
      item += text[i];
    }
  }
  return mask;
}

}  // namespace

Runtime::Runtime(const RuntimeFlags& f) {
  plx_runtime_options_t options;
  check(plx_runtime_options_init(&options, sizeof options));
  options.ram_fraction = f.ram_fraction;
  options.vram_fraction = f.vram_fraction;
  options.reserve_cpus = f.reserve_cpus;
  options.max_cpu_workers = f.max_cpu_workers;
  options.device_policy = f.device == "cpu"   ? PLX_DEVICE_CPU_ONLY
                          : f.device == "gpu" ? PLX_DEVICE_GPU_REQUIRED
                                              : PLX_DEVICE_AUTO;
  options.device_types = parse_device_types(f.device_types);
  if (!f.device_filter.empty()) options.device_filter = f.device_filter.c_str();
  if (!f.profile.empty()) options.machine_profile = f.profile.c_str();
  if (!f.cache_dir.empty()) options.cache_dir = f.cache_dir.c_str();
  if (f.verbose) {
    options.log_callback = log_to_stderr;
    options.log_level = PLX_LOG_DEBUG;
  }
  if (plx_status_t status = plx_runtime_create(&options, &runtime_); status != PLX_OK)
    throw Failure{status,
                  replaced(plx_last_error_message(), {{"options.max_cpu_workers", "--max-cpu-workers"},
                                                      {"options.reserve_cpus", "--reserve-cpus"},
                                                      {"options.ram_fraction", "--ram-fraction"},
                                                      {"options.vram_fraction", "--vram-fraction"},
                                                      {"PLX_DEVICE_AUTO", "--device auto"},
                                                      {"device_types/device_filter", "--device-types/--device-filter"},
                                                      {"plx_runtime_create: ", ""},
                                                      {"device_policy GPU_REQUIRED", "--device gpu"},
                                                      {"matches device_types", "matches --device-types"},
                                                      {"and device_filter", "and --device-filter"}})};
}

Runtime::~Runtime() { plx_runtime_destroy(runtime_); }

nlohmann::json Runtime::describe() const { return describe_json(runtime_, plx_runtime_describe_json); }

int64_t Runtime::memory_budget_bytes() const { return describe()["memory"]["budget_bytes"].get<int64_t>(); }

std::string Runtime::device_name(int32_t index) const {
  if (index < 0) return "cpu";
  for (const nlohmann::json& d : describe()["devices"])
    if (d["index"] == index) return d["name"].get<std::string>();
  return "device " + std::to_string(index);
}

std::optional<int64_t> parse_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  std::string number = text.substr(0, i);
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 1;
  static const std::pair<const char*, double> units[] = {
      {"", 1},         {"B", 1},        {"K", 0x1p10},   {"KIB", 0x1p10}, {"KB", 1e3},
      {"M", 0x1p20},   {"MIB", 0x1p20}, {"MB", 1e6},     {"G", 0x1p30},   {"GIB", 0x1p30},
      {"GB", 1e9},     {"T", 0x1p40},   {"TIB", 0x1p40}, {"TB", 1e12},    {"P", 0x1p50},
      {"PIB", 0x1p50}, {"PB", 1e15},    {"E", 0x1p60},   {"EIB", 0x1p60}, {"EB", 1e18}};
  bool known = false;
  for (const auto& [name, factor] : units)
    if (unit == name) {
      scale = factor;
      known = true;
    }
  if (!known) return std::nullopt;
  if (number.find('.') == std::string::npos && scale == 1) {
    // Plain integers exactly, up to 2^63 - 1.
    try {
      size_t used = 0;
      long long value = std::stoll(number, &used);
      if (used != number.size()) return std::nullopt;
      return value;
    } catch (...) {
      return std::nullopt;
    }
  }
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value)) return std::nullopt;
  double bytes = std::round(value * scale);
  if (bytes < 0 || bytes >= 9.2e18) return std::nullopt;
  return static_cast<int64_t>(bytes);
}

CLI::Validator size_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto bytes = parse_size(text);
        if (!bytes) return "'" + text + "' is not a size (examples: 24883200, 23.7MiB, 2GiB, 1.5GB)";
        text = std::to_string(*bytes);
        return {};
      },
      "SIZE", "size");
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string percent(double part, double whole) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g%%", whole > 0 ? 100.0 * part / whole : 0.0);
  return text;
}

std::string fixed(double v, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

std::string grouped(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string counted(int64_t n, const std::string& noun) { return grouped(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string replaced(std::string text, Replacements pairs) {
  for (const auto& [from, to] : pairs) {
    const size_t from_size = std::strlen(from), to_size = std::strlen(to);
    for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to_size) text.replace(at, from_size, to);
  }
  return text;
}

CLI::Validator at_least(double lowest) {
  return CLI::Validator(
      [lowest](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < lowest)
          return "must be a number >= " + number(lowest) + ", got '" + text + "'";
        return {};
      },
      "NUMBER >= " + number(lowest), "at_least");
}

std::string json_text(const nlohmann::json& doc) {
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace plx::cli
