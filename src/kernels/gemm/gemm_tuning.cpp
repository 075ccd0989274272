#include "kernels/gemm/gemm_tuning.hpp"

#include "kernels/gemm/clblast_include.hpp"
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/json_text.hpp"
#include "device/device_context.hpp"
#include "kernels/gemm/clblast_status.hpp"

namespace plx::gemm {
namespace {

constexpr int kFormat = 1;

// The parsed file, re-read when its modification time or size changes: a
// plx_gemm on a device asks for it every call.
struct CachedFile {
  int64_t mtime_ns = -1, size = -1;
  nlohmann::json doc;
  std::string warning;
};
std::mutex files_mutex;
std::unordered_map<std::string, CachedFile> files;

nlohmann::json read_file(const std::string& path, std::string& warning) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return nullptr;
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  std::lock_guard lock(files_mutex);
  CachedFile& f = files[path];
  if (f.mtime_ns == mtime && f.size == static_cast<int64_t>(st.st_size)) {
    warning = f.warning;
    return f.doc;
  }
  f = CachedFile{mtime, static_cast<int64_t>(st.st_size), nullptr, ""};
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("format", 0) != kFormat || !doc.contains("devices") ||
      !doc["devices"].is_object())
    f.warning = cat(path, " is not a GEMM tuning file of format ", kFormat, ": ignored (run parallax tune again)");
  else
    f.doc = std::move(doc);
  warning = f.warning;
  return f.doc;
}

double number(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() && it->get<double>() > 0 ? it->get<double>() : 0;
}

}  // namespace

std::string clblast_version() {
  return cat(CLBLAST_VERSION_MAJOR, ".", CLBLAST_VERSION_MINOR, ".", CLBLAST_VERSION_PATCH);
}

std::string tuning_path(const std::string& cache_dir) { return cache_dir + "/gemm_tuning.json"; }

std::optional<Tuning> load_tuning(const std::string& cache_dir, const std::string& device_key, Precision precision,
                                  std::string& warning) {
  warning.clear();
  if (cache_dir.empty()) return std::nullopt;
  const std::string path = tuning_path(cache_dir);
  nlohmann::json doc = read_file(path, warning);
  if (doc.is_null()) return std::nullopt;
  auto device = doc["devices"].find(device_key);
  if (device == doc["devices"].end() || !device->is_object()) return std::nullopt;
  auto entry = device->find(precision_name(precision));
  if (entry == device->end() || !entry->is_object()) return std::nullopt;
  const nlohmann::json& e = *entry;
  if (e.value("clblast", std::string()) != clblast_version()) {
    warning = cat(path, ": the ", precision_name(precision), " entry of '", device_key, "' was tuned with CLBlast ",
                  e.value("clblast", std::string("?")), ", this is ", clblast_version(), ": ignored");
    return std::nullopt;
  }
  Tuning t;
  t.size = e.value("size", int64_t{0});
  t.fraction = number(e, "fraction");
  t.device_gflops = number(e, "device_gflops");
  t.default_gflops = number(e, "default_gflops");
  t.cpu_gflops = number(e, "cpu_gflops");
  t.cpu_workers = static_cast<int>(number(e, "cpu_workers"));
  t.upload_gbps = number(e, "upload_gbps");
  if (auto kernels = e.find("kernels"); kernels != e.end() && kernels->is_object()) {
    for (const auto& [name, params] : kernels->items()) {
      if (!params.is_object()) continue;
      KernelParameters values;
      bool ok = true;
      for (const auto& [key, value] : params.items()) {
        if (!value.is_number_unsigned()) ok = false;
        else values[key] = value.get<size_t>();
      }
      if (ok && !values.empty()) t.kernels[name] = std::move(values);
      else warning = cat(path, ": kernel ", name, " of '", device_key, "' has non-integer parameters: ignored");
    }
  }
  return t;
}

Status save_tuning(const std::string& cache_dir, const std::string& device_key, Precision precision,
                   const Tuning& t) {
  if (cache_dir.empty())
    return make_error(Code::io, "no cache directory to store the tuning in (runtime option cache_dir is \"\", or "
                                "neither XDG_CACHE_HOME nor HOME is set)");
  if (::mkdir(cache_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Code::io, "cannot create ", cache_dir, ": ", std::strerror(errno));
  const std::string path = tuning_path(cache_dir);
  std::string ignored;
  nlohmann::json doc = read_file(path, ignored);
  if (doc.is_null()) doc = {{"format", kFormat}, {"devices", nlohmann::json::object()}};
  nlohmann::json kernels = nlohmann::json::object();
  for (const auto& [name, params] : t.kernels) kernels[name] = params;
  doc["devices"][device_key][precision_name(precision)] = {
      {"clblast", clblast_version()},       {"size", t.size},
      {"fraction", t.fraction},             {"tuned_at", static_cast<int64_t>(std::time(nullptr))},
      {"kernels", kernels},                 {"device_gflops", t.device_gflops},
      {"default_gflops", t.default_gflops}, {"cpu_gflops", t.cpu_gflops},
      {"cpu_workers", t.cpu_workers},       {"upload_gbps", t.upload_gbps}};
  const std::string temp = cat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(temp);
    out << json_text(doc, 2) << "\n";
    if (!out) return make_error(Code::io, "cannot write ", temp, ": ", std::strerror(errno));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return make_error(Code::io, "cannot replace ", path, ": ", std::strerror(errno));
  }
  return Ok{};
}

void apply_tuning(DeviceContext& dev, Precision precision, const std::string& cache_dir, const Logger& log) {
  std::string warning;
  std::optional<Tuning> t = load_tuning(cache_dir, dev.info().key, precision, warning);
  if (!warning.empty()) log.log(LogLevel::debug, warning);
  if (!t) return;
  const clblast::Precision p = precision == Precision::f32 ? clblast::Precision::kSingle : clblast::Precision::kDouble;
  for (const auto& [kernel, params] : t->kernels) {
    std::unordered_map<std::string, size_t> current;
    if (clblast::RetrieveParameters(dev.device()(), kernel, p, current) == clblast::StatusCode::kSuccess) {
      bool same = current.size() == params.size();
      for (const auto& [key, value] : params) {
        auto it = current.find(key);
        same = same && it != current.end() && it->second == value;
      }
      if (same) continue;
    }
    const std::unordered_map<std::string, size_t> values(params.begin(), params.end());
    const auto s = clblast::OverrideParameters(dev.device()(), kernel, p, values);
    if (s == clblast::StatusCode::kSuccess)
      log.log(LogLevel::info, cat("plx_gemm: tuned ", precision_name(precision), " parameters of CLBlast kernel ",
                                  kernel, " applied on device '", dev.name(), "' (", tuning_path(cache_dir), ")"));
    else
      log.log(LogLevel::warn, cat("plx_gemm: the tuned ", precision_name(precision), " parameters of CLBlast kernel ",
                                  kernel, " for device '", dev.name(), "' were refused with ",
                                  clblast_status_name(static_cast<int>(s)), ": CLBlast's own are used"));
  }
}

}  // namespace plx::gemm
