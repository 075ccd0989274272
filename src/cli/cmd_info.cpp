// `parallax info`: the machine as this process may use it.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "common.hpp"

namespace plx::cli {
namespace {

using nlohmann::json;

std::string or_unknown(const json& v, const std::string& fallback = "unknown") {
  return v.is_string() && !v.get<std::string>().empty() ? v.get<std::string>() : fallback;
}

void print_info(const json& d) {
  const json& cpu = d["cpu"];
  const json& mem = d["memory"];
  std::cout << "Parallax " << d["parallax_version"].get<std::string>() << " - machine "
            << d["source"].get<std::string>() << "\n\n";
  std::cout << "CPU      " << or_unknown(cpu["model"], "model unknown") << ": " << cpu["logical"] << " logical, "
            << cpu["physical"] << " physical, " << cpu["numa_nodes"] << " NUMA node"
            << (cpu["numa_nodes"].get<int>() == 1 ? "" : "s") << "\n";
  std::cout << "         usable " << cpu["usable"] << " = min(affinity " << cpu["affinity"] << ", "
            << (cpu["quota"].is_null() ? std::string("no cgroup quota")
                                       : "ceil(cgroup quota " + cpu["quota"].dump() + ")")
            << ")\n";
  const json& caches = cpu["caches"];
  std::cout << "Caches   L1d " << format_bytes(caches["l1d_bytes"].get<double>()) << ", L2 "
            << format_bytes(caches["l2_bytes"].get<double>()) << ", L3 "
            << format_bytes(caches["l3_bytes"].get<double>()) << "\n";
  std::cout << "Memory   total " << format_bytes(mem["total_bytes"].get<double>()) << ", available "
            << format_bytes(mem["available_bytes"].get<double>()) << ", "
            << (mem["limit_bytes"].is_null() ? std::string("no cgroup limit")
                                             : "cgroup limit " + format_bytes(mem["limit_bytes"].get<double>()) +
                                                   " (using " + format_bytes(mem["usage_bytes"].get<double>()) + ")")
            << "\n";
  std::cout << "         budget " << format_bytes(mem["budget_bytes"].get<double>()) << " (ram_fraction "
            << d["options"]["ram_fraction"] << ")\n";
  const json& devices = d["devices"];
  std::cout << "Devices  " << devices.size() << " OpenCL device" << (devices.size() == 1 ? "" : "s")
            << (devices.empty() ? " (the CPU path runs everything)" : ":") << "\n";
  for (const json& dev : devices) {
    std::cout << "         [" << dev["index"] << "] " << dev["name"].get<std::string>() << " ("
              << dev["type"].get<std::string>() << ", " << or_unknown(dev["platform"]) << ", "
              << or_unknown(dev["opencl_c_version"], "OpenCL C ?") << "): " << dev["compute_units"]
              << " compute units, " << format_bytes(dev["global_memory_bytes"].get<double>()) << ", max allocation "
              << format_bytes(dev["max_alloc_bytes"].get<double>()) << (dev["fp64"].get<bool>() ? ", fp64" : "")
              << (dev["simulated"].get<bool>() ? ", simulated" : "")
              << (dev["measured_gbps"].is_number()
                      ? ", measured " + std::to_string(dev["measured_gbps"].get<double>()).substr(0, 5) +
                            " GB/s streaming"
                      : "")
              << (dev["usable"].get<bool>() ? "" : " - not used by this runtime (device types/filter)") << "\n";
  }
  if (!d["warnings"].empty()) {
    std::cout << "Warnings\n";
    for (const json& w : d["warnings"]) std::cout << "         " << w.get<std::string>() << "\n";
  }
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto flags = std::make_shared<RuntimeFlags>();
  CLI::App* cmd = app.add_subcommand("info", "Show the machine: usable CPUs, memory budget, OpenCL devices");
  add_runtime_flags(*cmd, *flags);
  return [cmd, flags]() -> int {
    if (!cmd->parsed()) return -1;
    Runtime runtime(*flags);
    json doc = runtime.describe();
    if (flags->json)
      std::cout << json_text(doc) << "\n";
    else
      print_info(doc);
    return 0;
  };
}

}  // namespace plx::cli
