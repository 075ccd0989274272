// `parallax stack`: FITS frames in, one stacked FITS image out (plus count and
// rejection maps), through plx_stack with a tile provider, so that any number
// of frames of any size is read tile by tile with a bounded number of open
// files. See `parallax stack --help` for the options and their rules.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "commands.hpp"
#include "common.hpp"
#include "fits_output.hpp"
#include "fits_source.hpp"
#include "progress.hpp"

namespace plx::cli {
namespace {

using nlohmann::json;

constexpr const char* kNone = "none";

struct StackFlags {
  RuntimeFlags runtime;
  std::string output;
  std::string list;
  std::vector<std::string> inputs;
  std::string combine = "mean";
  std::string reject = "none";
  std::string centre = "median";
  double sigma_low = 3, sigma_high = 3;
  int max_iters = 5;
  double percentile_low = 10, percentile_high = 90;
  int minmax_low = 1, minmax_high = 1;
  std::string weights = "none";
  std::string normalize = "none";
  int64_t reference = 1;
  std::string count;
  std::string rejected;
  bool overwrite = false;
  int64_t max_open_files = 0;
};

const std::map<std::string, int32_t> kCombine = {{"mean", PLX_COMBINE_MEAN}, {"wmean", PLX_COMBINE_WEIGHTED_MEAN},
                                                 {"sum", PLX_COMBINE_SUM},   {"median", PLX_COMBINE_MEDIAN},
                                                 {"min", PLX_COMBINE_MIN},   {"max", PLX_COMBINE_MAX}};
const std::map<std::string, int32_t> kReject = {{"none", PLX_REJECT_NONE},
                                                {"sigma", PLX_REJECT_SIGMA_CLIP},
                                                {"winsorized", PLX_REJECT_WINSORIZED_SIGMA_CLIP},
                                                {"percentile", PLX_REJECT_PERCENTILE},
                                                {"minmax", PLX_REJECT_MINMAX}};
const std::map<std::string, int32_t> kNormalize = {{"none", PLX_NORMALIZE_NONE},
                                                   {"add", PLX_NORMALIZE_ADDITIVE},
                                                   {"mul", PLX_NORMALIZE_MULTIPLICATIVE},
                                                   {"linear", PLX_NORMALIZE_LINEAR_FIT}};

// ---- text files: the list of frames and the weights -----------------------------

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string trim(const std::string& s) {
  const char* blanks = " \t\r\n\f\v";
  const size_t first = s.find_first_not_of(blanks);
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

// Lines of a text file, trimmed, numbered from 1, without blank lines and
// '#' comments.
std::vector<std::pair<int, std::string>> read_lines(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw FileError{"cannot read the " + what + ": " + std::strerror(errno), path, "check the path"};
  if (S_ISDIR(st.st_mode)) throw FileError{"the " + what + " is a directory", path, "give a text file"};
  std::ifstream in(path);
  if (!in) throw FileError{"cannot read the " + what + ": " + std::strerror(errno), path, "check its permissions"};
  std::vector<std::pair<int, std::string>> lines;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    // A UTF-8 byte order mark (Windows editors write one) is not part of the first path.
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    line = trim(line);
    if (!line.empty() && line[0] != '#') lines.emplace_back(number, line);
  }
  if (in.bad()) throw FileError{"cannot read the " + what + ": " + std::strerror(errno), path, "check the file"};
  return lines;
}

// The frames of --list FILE, one path per line; relative paths are relative
// to the list's own directory. Each keeps its line, for messages.
struct ListedFrames {
  std::string list;
  std::vector<std::string> paths;
  std::vector<int> lines;

  explicit ListedFrames(const std::string& list_path) : list(list_path) {
    if (list.empty()) return;
    // "-" is the standard input; the names from a pipe (--list <(ls *.fits),
    // /dev/stdin) are relative to the working directory, not to /dev/fd.
    const std::string source = list == "-" ? "/dev/stdin" : list;
    struct stat st {};
    const bool regular = ::stat(source.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    const std::string dir = regular ? directory_of(list) : "";
    for (auto& [number, line] : read_lines(source, "list of frames")) {
      paths.push_back(line[0] == '/' || dir.empty() ? line : dir + "/" + line);
      lines.push_back(number);
    }
  }

  // An error about a file the list names says on which line: in a list of
  // thousands, the line is what its user will look for.
  FileError located(FileError e) const {
    for (size_t j = 0; j < paths.size(); ++j)
      if (paths[j] == e.file) {
        e.file += ", line " + std::to_string(lines[j]) + " of " + (list == "-" ? "the standard input" : list);
        break;
      }
    return e;
  }
};

// The library's message in this command's terms: its own prefix gone
// ("plx_stack: parallax stack: "), "frame J (counting from 0)" as the file
// (plx_stack counts frames from 0, the command's users count files, and
// --reference, from 1), and the API's names as this command's options.
std::string in_command_terms(std::string message, const std::vector<std::string>& paths) {
  message = replaced(std::move(message), {{"plx_stack_plan: ", ""}, {"plx_stack: ", ""}, {"parallax stack: ", ""}});
  for (size_t at = 0; (at = message.find("frame ", at)) != std::string::npos;) {
    const size_t digits = at + 6;
    size_t end = digits;
    while (end < message.size() && std::isdigit(static_cast<unsigned char>(message[end]))) ++end;
    const std::string tail = " (counting from 0)";
    std::string plane;
    size_t close = end;
    if (end > digits && message.compare(end, 9, " channel ") == 0) {
      size_t c = end + 9;
      while (c < message.size() && std::isdigit(static_cast<unsigned char>(message[c]))) ++c;
      plane = message.substr(end + 9, c - end - 9);
      close = c;
    }
    const size_t j = end > digits ? std::stoull(message.substr(digits, end - digits)) : paths.size();
    if (j >= paths.size() || message.compare(close, tail.size(), tail) != 0) {
      at = digits;
      continue;
    }
    std::string name = paths[j] + " (frame " + std::to_string(j + 1);
    if (!plane.empty()) name += ", plane " + std::to_string(std::stoi(plane) + 1);
    name += ")";
    message.replace(at, close + tail.size() - at, name);
    at += name.size();
  }
  return replaced(std::move(message), {{"ADDITIVE or MULTIPLICATIVE normalization", "--normalize add or mul"},
                                       {"(use ADDITIVE or LINEAR_FIT)", "(use --normalize add or linear)"},
                                       {"NOISE_VARIANCE weights are", "--weights noise weighs by"},
                                       {"NOISE_VARIANCE weights", "--weights noise"},
                                       {"give the weights instead", "give the weights with --weights FILE instead"},
                                       {"choose another reference frame", "choose another with --reference"},
                                       {"desc.percentile_high must be from percentile_low",
                                        "--percentile-high must be from --percentile-low"},
                                       {"desc.percentile_low", "--percentile-low"},
                                       {"desc.sigma_low", "--sigma-low"},
                                       {"desc.sigma_high", "--sigma-high"},
                                       {"desc.max_iters", "--max-iters"}});
}

// --weights FILE: one number >= 0 per frame, one per line, in frame order.
std::vector<double> read_weights(const std::string& path, int64_t frames) {
  std::vector<double> weights;
  double total = 0;
  for (auto& [number, line] : read_lines(path, "weights file")) {
    char* end = nullptr;
    const double w = std::strtod(line.c_str(), &end);
    if (end == line.c_str() || trim(end) != "" || !std::isfinite(w) || w < 0)
      throw FileError{"line " + std::to_string(number) + " is '" + line + "', not a finite number >= 0", path,
                      "write one weight per line"};
    weights.push_back(w);
    total += w;
  }
  if (static_cast<int64_t>(weights.size()) != frames)
    throw FileError{
        "the weights file has " + std::to_string(weights.size()) + " weights for " + std::to_string(frames) + " frames",
        path, "give one weight per frame, in the order of the frames"};
  if (!(total > 0)) throw FileError{"every weight is 0", path, "at least one frame must weigh something"};
  return weights;
}

// ---- the command -----------------------------------------------------------------

// "reject sigma (low 3, high 3, max 5 iterations, centre median)"
std::string reject_text(const StackFlags& f) {
  std::string t = "reject " + f.reject;
  if (f.reject == "sigma" || f.reject == "winsorized")
    t += " (low " + number(f.sigma_low) + ", high " + number(f.sigma_high) + ", " +
         (f.max_iters < 0 ? std::string("until stable") : "max " + std::to_string(f.max_iters) + " iterations") +
         ", centre " + f.centre + ")";
  if (f.reject == "percentile") t += " (keep " + number(f.percentile_low) + "-" + number(f.percentile_high) + "%)";
  if (f.reject == "minmax")
    t += " (" + std::to_string(f.minmax_low) + " lowest, " + std::to_string(f.minmax_high) + " highest)";
  return t;
}

// "combine mean, normalize none, weights none"
std::string combine_text(const StackFlags& f, bool given_weights) {
  std::string t = "combine " + f.combine + ", normalize " + f.normalize;
  if (f.normalize != kNone) t += " to frame " + std::to_string(f.reference);
  return t + ", weights " + (given_weights ? "from " + f.weights : f.weights);
}

int run_stack(StackFlags& f, const CLI::App& cmd) {
  const auto t_start = Clock::now();
  catch_interrupts("\nparallax stack: stopping after the chunks under way (again to kill at once)\n");

  // Options that depend on each other.
  const bool given_weights = f.weights != "none" && f.weights != "noise";
  const bool weighted = f.weights != "none";
  if (weighted && cmd.count("--combine") == 0) f.combine = "wmean";
  if (f.combine == "wmean" && !weighted)
    throw FileError{"--combine wmean needs frame weights", "", "add --weights noise or --weights FILE"};
  if (weighted && f.combine != "wmean")
    throw FileError{"--weights " + f.weights + " applies to --combine wmean only, not " + f.combine, "",
                    "use --combine wmean, or drop --weights"};
  std::string rejected_low, rejected_high;
  if (!f.rejected.empty()) {
    const size_t comma = f.rejected.find(',');
    if (comma == std::string::npos || comma == 0 || comma + 1 == f.rejected.size() ||
        f.rejected.find(',', comma + 1) != std::string::npos)
      throw FileError{"--rejected takes two files, LOW.fits,HIGH.fits, got '" + f.rejected + "'", "",
                      "give the map of samples rejected low, a comma, then the map rejected high"};
    rejected_low = f.rejected.substr(0, comma);
    rejected_high = f.rejected.substr(comma + 1);
  }
  size_t open_limit = fits::default_open_limit();
  if (f.max_open_files > 0) {
    if (static_cast<size_t>(f.max_open_files) > fits::max_open_limit())
      throw FileError{"--max-open-files " + std::to_string(f.max_open_files) + " is more than this process may open (" +
                          std::to_string(fits::max_open_limit()) + ", from RLIMIT_NOFILE)",
                      "", "give a smaller number, or raise the limit (ulimit -n)"};
    open_limit = static_cast<size_t>(f.max_open_files);
  }

  // The frames: the list's, then the arguments'.
  const ListedFrames listed(f.list);
  std::vector<std::string> paths = listed.paths;
  paths.insert(paths.end(), f.inputs.begin(), f.inputs.end());
  if (paths.empty())
    throw FileError{f.list.empty() ? "no input frames" : "no input frames: the list names none", f.list,
                    "give FITS files as arguments or with --list FILE"};
  if (f.reference < 1 || f.reference > static_cast<int64_t>(paths.size()))
    throw FileError{
        "--reference " + std::to_string(f.reference) + " is not a frame (1 to " + std::to_string(paths.size()) + ")",
        "", "give the number of the reference frame, counting from 1"};
  const int64_t minmax = static_cast<int64_t>(f.minmax_low) + f.minmax_high;
  if (f.reject == "minmax" && minmax >= static_cast<int64_t>(paths.size()))
    throw FileError{"--minmax-low " + std::to_string(f.minmax_low) + " and --minmax-high " +
                        std::to_string(f.minmax_high) + " reject " + std::to_string(minmax) +
                        " samples of each pixel, but there are " + std::to_string(paths.size()) +
                        " frames: nothing would be rejected anywhere",
                    "", "reject fewer, leaving at least one sample"};
  std::vector<double> weights;
  if (given_weights) weights = read_weights(f.weights, static_cast<int64_t>(paths.size()));

  std::vector<std::string> outputs = {f.output};
  if (!f.count.empty()) outputs.push_back(f.count);
  if (!rejected_low.empty()) outputs.insert(outputs.end(), {rejected_low, rejected_high});
  fits::check_outputs(outputs, paths, f.overwrite);

  Runtime runtime(f.runtime);  // before reading thousands of headers: --device gpu fails here at once

  // Every input checked up front.
  const bool tty = !f.runtime.json && ::isatty(STDERR_FILENO);
  ProgressBar bar(tty);
  auto t_check = Clock::now();
  // Open compressed inputs are held decompressed: a quarter of the budget for
  // them (asked only when there are some: describing discovers the devices).
  const auto compressed_bytes = [&] { return runtime.memory_budget_bytes() / 4; };
  const auto checked = [&](size_t done, size_t total) {
    check_interrupt();
    if (tty && (done % 16 == 0 || done == total)) {
      const double elapsed = seconds(t_check), fraction = static_cast<double>(done) / static_cast<double>(total);
      bar.draw("checking inputs", fraction, elapsed, done > 0 ? elapsed * (1 - fraction) / fraction : -1);
    }
  };
  fits::FrameSource source = [&] {
    try {
      return fits::FrameSource(paths, open_limit, compressed_bytes, checked);
    } catch (const FileError& e) {
      throw listed.located(e);
    }
  }();
  bar.clear();
  const double check_s = seconds(t_check);
  if (source.compressed_files() > source.open_limit())
    std::cerr << "parallax stack: note: " << counted(static_cast<int64_t>(source.compressed_files()), "input")
              << " are compressed (.gz or the like), which cfitsio decompresses whole into memory on every open; "
              << source.open_limit() << " at a time fit the memory budget, so each is decompressed again for every "
              << "band of rows. Decompress them first (gunzip), or tile-compress them (fpack), for speed.\n";
  const fits::ImageShape& shape = source.shape();

  // The stack, checked by the library before any output is made.
  plx_stack_desc_t desc;
  check(plx_stack_desc_init(&desc, sizeof desc));
  desc.frames = source.frames();
  desc.height = shape.height;
  desc.width = shape.width;
  desc.channels = shape.channels;
  desc.provider = fits::FrameSource::provide;
  desc.provider_user_data = &source;
  // Bands that fit the cache while every input stays open; else whole bands,
  // since each band reopens the files beyond the limit.
  desc.provider_rows = source.distinct_files() <= source.open_limit() ? 0 : -1;
  desc.combine = kCombine.at(f.combine);
  desc.reject = kReject.at(f.reject);
  desc.centre = f.centre == "mean" ? PLX_CENTRE_MEAN : PLX_CENTRE_MEDIAN;
  desc.sigma_low = f.sigma_low;
  desc.sigma_high = f.sigma_high;
  desc.max_iters = f.max_iters;
  desc.percentile_low = f.percentile_low;
  desc.percentile_high = f.percentile_high;
  desc.n_low = f.minmax_low;
  desc.n_high = f.minmax_high;
  desc.weights = given_weights ? PLX_WEIGHTS_GIVEN : weighted ? PLX_WEIGHTS_NOISE_VARIANCE : PLX_WEIGHTS_NONE;
  if (given_weights) desc.frame_weights = weights.data();
  desc.normalize = kNormalize.at(f.normalize);
  desc.reference_frame = f.reference - 1;
  desc.device = f.runtime.device_preference();
  plx_run_options_t run;
  check(plx_run_options_init(&run, sizeof run));
  run.name = "parallax stack";
  run.progress = RunProgress::callback;  // also how an interrupt stops the stack
  run.progress_interval_ms = 100;
  desc.run_options = &run;

  {
    plx_plan_t* plan = nullptr;
    const plx_status_t planned = plx_stack_plan(runtime.get(), &desc, &plan);
    plx_plan_destroy(plan);
    if (planned != PLX_OK) throw Failure{planned, "cannot stack: " + in_command_terms(plx_last_error_message(), paths)};
  }

  // The outputs' files, created before the work so that an unwritable place
  // fails now; their headers (the first frame's) are written with the pixels.
  auto t_write = Clock::now();
  fits::OutputFile image_out(f.output);
  std::unique_ptr<fits::OutputFile> count_out, low_out, high_out;
  if (!f.count.empty()) count_out = std::make_unique<fits::OutputFile>(f.count);
  if (!rejected_low.empty()) {
    low_out = std::make_unique<fits::OutputFile>(rejected_low);
    high_out = std::make_unique<fits::OutputFile>(rejected_high);
  }
  double write_s = seconds(t_write);
  check_interrupt();

  const size_t pixels = static_cast<size_t>(shape.width * shape.height * shape.channels);
  std::vector<float> image(pixels);
  std::vector<int32_t> count(count_out ? pixels : 0), low(low_out ? pixels : 0), high(low_out ? pixels : 0);
  plx_stack_result_t result;
  check(plx_stack_result_init(&result, sizeof result));
  result.image = image.data();
  if (count_out) result.count = count.data();
  if (low_out) {
    result.rejected_low = low.data();
    result.rejected_high = high.data();
  }
  auto t_stack = Clock::now();
  // The library's first pass measures the frames when normalizing or weighing
  // by noise; an interrupt makes reads fail so that the stack stops at once.
  const bool frame_pass = desc.normalize != PLX_NORMALIZE_NONE || desc.weights == PLX_WEIGHTS_NOISE_VARIANCE;
  RunProgress progress(
      bar, frame_pass ? std::vector<std::string>{"measuring frames", "stacking"} : std::vector<std::string>{"stacking"},
      [&source] { source.stop(); });
  run.progress_user_data = &progress;
  const plx_status_t status = plx_stack(runtime.get(), &desc, &result);
  const double stack_s = seconds(t_stack);
  progress.stop();
  bar.clear();
  if (status != PLX_OK) {
    if (interrupted()) throw Interrupted{};
    if (auto failure = source.failure()) throw listed.located(*failure);
    throw Failure{status, "stacking failed: " + in_command_terms(plx_last_error_message(), paths)};
  }
  check_interrupt();

  // The outputs, renamed into place once all are written.
  t_write = Clock::now();
  const int64_t non_missing = result.kept + result.rejected;
  std::vector<std::string> history = {
      std::string("Parallax ") + plx_version_string() + ": parallax stack of " + std::to_string(source.frames()) +
          " frames",
      "first frame: " + source.first_path(), reject_text(f), combine_text(f, given_weights),
      "rejected " + grouped(result.rejected) + " of " + grouped(non_missing) + " samples (" +
          percent(static_cast<double>(result.rejected), static_cast<double>(non_missing)) + "), " +
          grouped(result.missing) + " missing"};
  // One output: the first frame's header, HISTORY (`what` first, for a map),
  // the pixels; closed and on disk, not yet renamed.
  auto write = [&](fits::OutputFile& out, const std::string& what, const auto& values) {
    const bool image = what.empty();
    out.copy_header(source.first_header(), image ? FLOAT_IMG : LONG_IMG, shape, image);
    std::vector<std::string> lines = history;
    if (!image) lines.insert(lines.begin(), what);
    out.add_history(lines);
    out.set_key("NCOMBINE", source.frames(), "frames stacked");
    out.write_pixels(values.data(), static_cast<int64_t>(pixels));
    out.finish();
  };
  write(image_out, "", image);
  if (count_out) write(*count_out, "Samples combined per pixel, from:", count);
  if (low_out) {
    write(*low_out, "Samples rejected below per pixel (-inf included), from:", low);
    write(*high_out, "Samples rejected above per pixel (+inf included), from:", high);
  }
  check_interrupt();
  for (fits::OutputFile* out : {count_out.get(), low_out.get(), high_out.get(), &image_out})
    if (out) out->commit();
  write_s += seconds(t_write);

  // The summary.
  const int workers = std::max(1, result.workers);
  const double read_share_s = std::min(stack_s, source.read_thread_s() / workers);
  const double read_s = check_s + read_share_s;
  const double compute_s = stack_s - read_share_s;
  const double total_s = seconds(t_start);
  // The rest: the runtime's creation (OpenCL discovery), the plan, options.
  const double setup_s = std::max(0.0, total_s - read_s - compute_s - write_s);
  const std::string device = runtime.device_name(result.device_index);
  int64_t low_total = 0, high_total = 0;
  for (int32_t v : low) low_total += v;
  for (int32_t v : high) high_total += v;
  const double rejected_percent = non_missing > 0 ? 100.0 * static_cast<double>(result.rejected) / non_missing : 0.0;

  if (f.runtime.json) {
    json doc = {{"frames", source.frames()},
                {"files", source.distinct_files()},
                {"width", shape.width},
                {"height", shape.height},
                {"channels", shape.channels},
                {"pixels", shape.width * shape.height},
                {"samples", result.samples},
                {"missing", result.missing},
                {"kept", result.kept},
                {"rejected", result.rejected},
                {"rejected_percent", rejected_percent},
                {"options",
                 {{"combine", f.combine},
                  {"reject", f.reject},
                  {"centre", f.centre},
                  {"sigma_low", f.sigma_low},
                  {"sigma_high", f.sigma_high},
                  {"max_iters", f.max_iters},
                  {"percentile_low", f.percentile_low},
                  {"percentile_high", f.percentile_high},
                  {"minmax_low", f.minmax_low},
                  {"minmax_high", f.minmax_high},
                  {"normalize", f.normalize},
                  {"reference", f.reference},
                  {"weights", given_weights ? "file" : f.weights}}},
                {"check_s", check_s},
                {"read_s", read_s},
                {"read_thread_s", source.read_thread_s()},
                {"compute_s", compute_s},
                {"frame_stats_s", result.frame_stats_s},
                {"write_s", write_s},
                {"setup_s", setup_s},
                {"total_s", total_s},
                {"bytes_read", source.bytes_read()},
                {"device", device},
                {"device_index", result.device_index},
                {"simd_target", result.simd_target},
                {"workers", result.workers},
                {"tiles", result.tiles},
                {"tile_rows", result.tile_rows},
                {"open_files_limit", source.open_limit()},
                {"open_files_peak", source.peak_open()},
                {"file_opens", source.opens()},
                {"outputs",
                 {{"image", f.output},
                  {"count", f.count.empty() ? json(nullptr) : json(f.count)},
                  {"rejected_low", rejected_low.empty() ? json(nullptr) : json(rejected_low)},
                  {"rejected_high", rejected_high.empty() ? json(nullptr) : json(rejected_high)}}}};
    if (low_out) {
      doc["rejected_low"] = low_total;
      doc["rejected_high"] = high_total;
    }
    std::cout << json_text(doc) << "\n";
    return 0;
  }
  auto row = [](const char* key, const std::string& value) {
    std::cout << "  " << key << std::string(10 - std::string(key).size(), ' ') << value << "\n";
  };
  std::cout << "Stacked " << counted(source.frames(), "frame") << " of " << shape.width << " x " << shape.height
            << (shape.channels > 1 ? " x " + std::to_string(shape.channels) : std::string()) << " ("
            << counted(shape.width * shape.height, "pixel")
            << (shape.channels > 1 ? " x " + std::to_string(shape.channels) + " planes" : std::string()) << ") into "
            << f.output << "\n";
  row("rule", reject_text(f) + ", " + combine_text(f, given_weights));
  std::string rejected = grouped(result.rejected) + " of " + grouped(non_missing) + " samples rejected (" +
                         fixed(rejected_percent, 3) + "%";
  if (low_out)
    rejected += ": " + percent(static_cast<double>(low_total), static_cast<double>(non_missing)) + " low, " +
                percent(static_cast<double>(high_total), static_cast<double>(non_missing)) + " high";
  row("samples", rejected + "), " + grouped(result.missing) + " missing");
  row("time", "read " + fixed(read_s) + " s, compute " + fixed(compute_s) + " s, write " + fixed(write_s) +
                  " s, setup " + fixed(setup_s) + " s (total " + fixed(total_s) + " s)");
  row("on", (device == "cpu" ? "CPU" : device) + ", " + counted(result.workers, "worker") + ", " + result.simd_target +
                ", " + counted(result.tiles, "tile") + " of " + counted(result.tile_rows, "row") + "; at most " +
                counted(static_cast<int64_t>(source.peak_open()), "file") + " open (limit " +
                std::to_string(source.open_limit()) + ")");
  std::string wrote = f.output;
  for (const std::string& out : {f.count, rejected_low, rejected_high})
    if (!out.empty()) wrote += ", " + out;
  row("wrote", wrote);
  return 0;
}

}  // namespace

Command add_stack_command(CLI::App& app) {
  auto f = std::make_shared<StackFlags>();
  CLI::App* cmd = app.add_subcommand("stack", "Stack FITS frames with outlier rejection into one FITS image");
  cmd->footer(R"(Frames: 2-D images, or cubes of 1 or 3 planes (channels, stacked each on its own), all of the
first frame's shape; the first HDU with pixels is read (primary array, or an image extension after
an empty primary; tile-compressed images too). Any BITPIX is read as float with BSCALE/BZERO
applied; BLANK pixels and NaN are missing samples. File names are taken literally.

--list FILE: one path per line; blank lines and lines starting with # are ignored; relative paths
are relative to the list's directory (to the working directory when FILE is - for the standard
input, or a pipe). Frames come in the list's order, then the arguments'.
--weights FILE: one number >= 0 per line, one per frame in that order (implies --combine wmean).

Outputs are written to OUT.tmp-XXXXXX beside OUT and renamed when complete; nothing is left on
failure or Ctrl-C. An existing output is replaced only with --overwrite. The image is BITPIX -32
with the first frame's header, HISTORY cards of what was done, DATE and NCOMBINE; count and
rejection maps are BITPIX 32. Where fewer than 3 samples of a pixel are finite nothing is rejected.

Times: read = checking the inputs + time inside the tile reader summed over threads / workers;
compute = the rest of the stack; write = the outputs; setup = the rest (the runtime, its OpenCL
devices, the plan). A progress bar is drawn on stderr when it is
a terminal (not with --json).)");
  cmd->add_option("-o,--output", f->output, "Stacked image to write (FITS)")->required()->type_name("OUT.fits");
  cmd->add_option("inputs", f->inputs, "Input frames (FITS)")->type_name("IN.fits");
  cmd->add_option("--list", f->list, "Text file listing the input frames, one per line")->type_name("FILE");
  cmd->add_option("--combine", f->combine, "How survivors are combined: mean, wmean, sum, median, min, max")
      ->check(CLI::IsMember(keys(kCombine)))
      ->capture_default_str();
  cmd->add_option("--reject", f->reject, "Outlier rejection: none, sigma, winsorized, percentile, minmax")
      ->check(CLI::IsMember(keys(kReject)))
      ->capture_default_str();
  cmd->add_option("--sigma-low", f->sigma_low, "Sigma clipping: lower bound in standard deviations")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--sigma-high", f->sigma_high, "Sigma clipping: upper bound in standard deviations")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--max-iters", f->max_iters, "Sigma clipping: most iterations (-1 = until nothing changes)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            try {
              size_t used = 0;
              const int v = std::stoi(text, &used);
              if (used == text.size() && (v >= 1 || v == -1)) return {};
            } catch (...) {
            }
            return "must be >= 1, or -1 for until nothing changes, got '" + text + "'";
          },
          "N >= 1 or -1", "iterations"))
      ->capture_default_str();
  cmd->add_option("--centre", f->centre, "Sigma clipping: centre of the bounds, median or mean")
      ->check(CLI::IsMember({"median", "mean"}))
      ->capture_default_str();
  cmd->add_option("--percentile-low", f->percentile_low, "Percentile rejection: keep samples above this percentile")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--percentile-high", f->percentile_high, "Percentile rejection: keep samples below this percentile")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--minmax-low", f->minmax_low,
                  "Min/max rejection: lowest samples rejected per pixel (none where they and the highest would "
                  "leave no sample)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--minmax-high", f->minmax_high, "Min/max rejection: highest samples rejected per pixel")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--weights", f->weights,
                  "Frame weights for wmean: none, noise (1 / sigma^2 from each frame's MAD) or a FILE of numbers")
      ->type_name("none|noise|FILE")
      ->capture_default_str();
  cmd->add_option("--normalize", f->normalize,
                  "Bring frames to the reference's level: none, add (offset), mul (scale), linear (both, fitted)")
      ->check(CLI::IsMember(keys(kNormalize)))
      ->capture_default_str();
  cmd->add_option("--reference", f->reference, "Reference frame of --normalize, counting from 1")
      ->check(at_least(1))
      ->capture_default_str();
  cmd->add_option("--count", f->count, "Also write the count of samples combined per pixel (FITS, int32)")
      ->type_name("COUNT.fits");
  cmd->add_option("--rejected", f->rejected, "Also write the samples rejected low and high per pixel (FITS, int32)")
      ->type_name("LOW.fits,HIGH.fits");
  cmd->add_flag("--overwrite", f->overwrite, "Replace outputs that exist");
  cmd->add_option("--max-open-files", f->max_open_files,
                  "Most input files open at once (default: from RLIMIT_NOFILE, at most 512)")
      ->check(at_least(1));
  add_runtime_flags(*cmd, f->runtime);
  return [cmd, f]() -> int {
    if (!cmd->parsed()) return -1;
    return report_failures("stack", "the output image and maps must fit in memory",
                           [&] { return run_stack(*f, *cmd); });
  };
}

}  // namespace plx::cli
