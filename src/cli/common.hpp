// What the CLI's commands share: the runtime flags every command takes,
// creating the runtime from them, errors, byte sizes and JSON from the API.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/format_bytes.hpp"
#include "parallax.h"

namespace plx::cli {

// Flags of every command: --json, --profile, --device and runtime options.
struct RuntimeFlags {
  bool json = false;
  bool verbose = false;
  std::string profile;
  std::string device = "auto";
  std::string device_types;  // "cpu,gpu,accelerator"
  std::string device_filter;
  double ram_fraction = 0.75;
  double vram_fraction = 0.5;
  int reserve_cpus = 0;
  int max_cpu_workers = 0;
  std::string cache_dir;  // not a flag: empty = the library's default

  // --device as a desc.device (a plx_device_preference_t).
  int32_t device_preference() const {
    return device == "cpu" ? PLX_PREFER_CPU : device == "gpu" ? PLX_PREFER_GPU : PLX_PREFER_AUTO;
  }
};

void add_runtime_flags(CLI::App& command, RuntimeFlags& flags);

// A failed call: the status name and the library's message.
struct Failure {
  plx_status_t status;
  std::string message;
};

// Throws Failure when `status` is not PLX_OK.
void check(plx_status_t status);

// RAII owner of a runtime made from the flags.
class Runtime {
 public:
  explicit Runtime(const RuntimeFlags& flags);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  plx_runtime_t* get() const { return runtime_; }
  nlohmann::json describe() const;
  // Its RAM budget (describing it discovers the devices: ask when needed).
  int64_t memory_budget_bytes() const;
  // A run's result.device_index said: "cpu" (-1) or the device's name.
  std::string device_name(int32_t index) const;

 private:
  plx_runtime_t* runtime_ = nullptr;
};

// Reads JSON through a snprintf-like describe function.
template <class Handle>
nlohmann::json describe_json(Handle* handle, plx_status_t (*describe)(Handle*, char*, size_t, size_t*)) {
  size_t size = 0;
  check(describe(handle, nullptr, 0, &size));
  std::string text(size, '\0');
  check(describe(handle, text.data(), text.size(), &size));
  text.resize(size - 1);
  return nlohmann::json::parse(text);
}

// "24883200", "2GiB", "1.5 GB", "512K" -> bytes; nullopt when malformed or
// out of range. KiB/MiB/GiB/TiB and bare K/M/G/T are powers of 1024,
// KB/MB/GB/TB powers of 1000.
std::optional<int64_t> parse_size(const std::string& text);

// CLI11 validator built on parse_size.
CLI::Validator size_validator();

// The keys of a map, in its order: the choices of an option, for CLI::IsMember.
template <class Map>
std::vector<std::string> keys(const Map& map) {
  std::vector<std::string> out;
  for (const auto& [key, value] : map) out.push_back(key);
  return out;
}

// A validator for numbers >= lowest with a plain message ("must be a number
// >= 1, got '0'"): CLI11's ranges print doubles with all their digits.
CLI::Validator at_least(double lowest);

// The document as --json prints it (indented); bytes that are not UTF-8 (a
// file name in another encoding) become U+FFFD instead of failing the dump.
std::string json_text(const nlohmann::json& doc);

// Numbers for summaries and HISTORY: "0.25" (shortest, as a stream prints
// it), "12.5%" (3 significant digits of part / whole), "3.14" (fixed
// digits), "1,234,567" (thousands grouped), "1 worker" / "2 workers" (a count
// and its noun, plural by adding "s").
std::string number(double v);
std::string percent(double part, double whole);
std::string fixed(double v, int digits = 2);
std::string grouped(int64_t v);
std::string counted(int64_t n, const std::string& noun);

// `text` with every occurrence of each pair's first string replaced by its
// second, pair after pair: how the commands say a library message in their
// own terms (the API's names as their options).
using Replacements = std::initializer_list<std::pair<const char*, const char*>>;
std::string replaced(std::string text, Replacements pairs);

}  // namespace plx::cli
