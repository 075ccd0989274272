// What the benchmark suites share: Python peers (a script run by Debian's
// python3 in a temporary directory that holds the suite's data, printing its
// figures as one JSON object) and the OpenCL-against-CPU comparison.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "bench.hpp"

namespace plx::cli {

std::string read_all(FILE* pipe) {
  std::string out;
  char buffer[4096];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
  return out;
}

double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t p = 0; p < a.size(); ++p)
    if (std::isfinite(a[p]))
      worst = std::max(worst, std::fabs(static_cast<double>(b[p]) - a[p]) / std::fabs(static_cast<double>(a[p])));
  return worst;
}

TempDir::TempDir(const std::string& what) {
  char pattern[] = "/tmp/parallax-bench-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error(what + ": cannot create a temporary directory");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

nlohmann::json run_python_peer(const std::string& suite, const std::string& modules, const std::string& script,
                               const std::vector<PeerFile>& files, const std::vector<std::string>& args) {
  const char* python = "/usr/bin/python3";
  const std::string probe = std::string(python) + " -c 'import " + modules + "' >/dev/null 2>&1";
  if (access(python, X_OK) != 0 || std::system(probe.c_str()) != 0) return nullptr;
  const std::string what = "bench --suite " + suite;
  const TempDir temp(what);
  const std::filesystem::path& dir = temp.path();
  for (const PeerFile& f : files) {
    std::ofstream file(dir / f.name, std::ios::binary);
    file.write(static_cast<const char*>(f.data), static_cast<std::streamsize>(f.bytes));
    if (!file) throw std::runtime_error(what + ": cannot write " + (dir / f.name).string());
  }
  std::ofstream(dir / "peer.py") << script;
  std::string command = std::string(python) + " " + (dir / "peer.py").string() + " " + dir.string();
  for (const std::string& a : args) command += " '" + a + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error(what + ": cannot run " + command);
  const std::string text = read_all(pipe);
  if (pclose(pipe) != 0) throw std::runtime_error(what + ": the Python peer failed: " + command);
  return nlohmann::json::parse(text);
}

}  // namespace plx::cli
