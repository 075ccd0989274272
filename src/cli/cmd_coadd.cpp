// `parallax coadd`: FITS images with celestial WCS in, one mosaic on a common
// grid out (plus its footprint), through plx_coadd with WCS mappings. The grid
// is a reference header's, or the optimal TAN frame over the inputs
// (reproject's find_optimal_celestial_wcs). See `parallax coadd --help`.
#include <sys/stat.h>
#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "commands.hpp"
#include "common.hpp"
#include "fits_output.hpp"
#include "progress.hpp"
#include "sky_wcs.hpp"

namespace plx::cli {
namespace {

using nlohmann::json;

struct CoaddFlags {
  RuntimeFlags runtime;
  std::string output;
  std::vector<std::string> inputs;
  std::string reference;
  bool auto_frame = false;
  std::string footprint;
  std::string interp = "bilinear";
  std::string combine = "mean";
  std::vector<std::string> weights;
  bool overwrite = false;
};

const std::map<std::string, int32_t> kInterp = {{"nearest", PLX_INTERP_NEAREST},
                                                {"bilinear", PLX_INTERP_BILINEAR},
                                                {"bicubic", PLX_INTERP_BICUBIC},
                                                {"lanczos3", PLX_INTERP_LANCZOS3}};
const std::map<std::string, int32_t> kCombine = {
    {"mean", PLX_COADD_MEAN},     {"sum", PLX_COADD_SUM},     {"min", PLX_COADD_MIN},  {"max", PLX_COADD_MAX},
    {"median", PLX_COADD_MEDIAN}, {"first", PLX_COADD_FIRST}, {"last", PLX_COADD_LAST}};

constexpr const char* kTwoD = "parallax coadd takes 2-D images (the first HDU with pixels)";

// ---- inputs ----------------------------------------------------------------------

// One input image: its pixels, header, WCS and (optionally) weights.
struct Input {
  std::string path;
  fits::ImageShape shape;
  std::vector<float> pixels;
  std::string header;
  std::unique_ptr<wcs::Celestial> sky;
  std::string weights_path;
  std::vector<float> weights;
};

Input read_input(const std::string& path) {
  Input in;
  in.path = path;
  fits::File file = fits::open_read(path);
  const fits::ImageInfo info = fits::find_image_2d(file, kTwoD);
  in.shape = info.shape;
  in.header = fits::header_text(file);
  in.sky = std::make_unique<wcs::Celestial>(in.header, path);
  in.pixels = fits::read_pixels(file, in.shape);
  return in;
}

// A weight map: the input's shape; as reproject_and_coadd, any NaN makes the
// whole map go through numpy's nan_to_num (NaN -> 0, +-inf -> +-largest).
void read_weights(Input& in, const std::string& path) {
  in.weights_path = path;
  fits::File file = fits::open_read(path);
  const fits::ImageInfo info = fits::find_image_2d(file, kTwoD);
  if (!info.shape.same_pixels(in.shape))
    throw FileError{
        "the weights are " + info.shape.text() + " pixels, but their input, " + in.path + ", has " + in.shape.text(),
        path, "give one weight map per input, of its shape, in the order of the inputs"};
  in.weights = fits::read_pixels(file, info.shape);
  bool any_nan = false;
  for (float w : in.weights) any_nan = any_nan || std::isnan(w);
  if (any_nan)
    for (float& w : in.weights) w = std::isnan(w) ? 0.0f : std::isinf(w) ? std::copysign(FLT_MAX, w) : w;
}

// ---- the output grid ---------------------------------------------------------------

struct Grid {
  std::string cards;  // NAXIS, NAXIS1, NAXIS2 and the WCS
  int64_t width = 0, height = 0;
  std::unique_ptr<wcs::Celestial> sky;
  std::string text;  // for the summary and HISTORY
};

// A header as text, one card per line (Montage's .hdr, astropy's
// Header.totextfile), or as concatenated 80-character cards; empty when the
// file is neither.
std::string text_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return {};
  std::string cards;
  if (raw.find('\n') == std::string::npos) {
    if (raw.empty() || raw.size() % 80 != 0) return {};
    cards = raw;
  } else {
    std::istringstream lines(raw);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() > 80) return {};
      if (line.find_first_not_of(' ') == std::string::npos) continue;
      line.append(80 - line.size(), ' ');
      cards += line;
    }
  }
  for (char c : cards)
    if (c < 32 || c > 126) return {};
  return cards;
}

// The integer value of `key` in a header of cards, or -1.
int64_t int_card(const std::string& cards, const std::string& key) {
  for (size_t at = 0; at + 80 <= cards.size(); at += 80) {
    std::string k = cards.substr(at, 8);
    k.erase(k.find_last_not_of(' ') + 1);
    if (k != key || cards.compare(at + 8, 1, "=") != 0) continue;
    const std::string value = cards.substr(at + 10, 70);
    char* end = nullptr;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    return end != value.c_str() ? v : -1;
  }
  return -1;
}

Grid reference_grid(const std::string& path) {
  Grid grid;
  std::string header;
  try {
    fits::File file = fits::open_read(path);
    try {
      const fits::ImageInfo info = fits::find_image_2d(file, kTwoD);
      grid.width = info.shape.width;
      grid.height = info.shape.height;
    } catch (const FileError& e) {
      throw FileError{"the reference has no 2-D image to take the grid from: " + e.what, path,
                      "--reference takes a FITS image (its header and NAXIS1 x NAXIS2 give the grid) or a text "
                      "header with NAXIS1, NAXIS2 and a celestial WCS"};
    }
    header = fits::header_text(file);
  } catch (const FileError& e) {
    // Not FITS: perhaps a text header.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || e.what.rfind("not a readable FITS file", 0) != 0)
      throw;
    header = text_header(path);
    grid.width = int_card(header, "NAXIS1");
    grid.height = int_card(header, "NAXIS2");
    if (header.empty() || grid.width < 1 || grid.height < 1)
      throw FileError{"the reference is neither a FITS file nor a text header with NAXIS1 and NAXIS2 >= 1", path,
                      "--reference takes a FITS image or a text header (one card per line)"};
  }
  grid.cards = wcs::card("NAXIS", int64_t{2}, "number of array dimensions") + wcs::card("NAXIS1", grid.width, "") +
               wcs::card("NAXIS2", grid.height, "") + wcs::wcs_cards(header);
  grid.sky = std::make_unique<wcs::Celestial>(grid.cards, path);
  grid.text = "the grid of " + path + " (" + grid.sky->ctype(0) + " / " + grid.sky->ctype(1) + ", " +
              grid.sky->frame().text() + ")";
  return grid;
}

Grid optimal_grid(const std::vector<Input>& inputs) {
  std::vector<const wcs::Celestial*> skies;
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (const Input& in : inputs) {
    skies.push_back(in.sky.get());
    shapes.emplace_back(in.shape.width, in.shape.height);
  }
  const wcs::TanFrame frame = wcs::optimal_tan_frame(skies, shapes);
  Grid grid;
  grid.cards = frame.cards();
  grid.width = frame.width;
  grid.height = frame.height;
  grid.sky = std::make_unique<wcs::Celestial>(grid.cards, "the optimal TAN frame");
  grid.text = "the optimal TAN frame (" + frame.frame.text() + ", centre " + number(frame.crval[0]) + ", " +
              number(frame.crval[1]) + ", " + number(frame.cdelt * 3600) + " arcsec/pixel)";
  return grid;
}

// ---- the command -------------------------------------------------------------------

// The library names an input by its index: add the file.
std::string name_inputs(std::string message, const std::vector<Input>& inputs) {
  static const std::regex index("inputs?\\s*\\[?\\s*(\\d+)\\]?");
  std::smatch m;
  if (std::regex_search(message, m, index)) {
    const size_t i = std::stoul(m[1].str());
    if (i < inputs.size()) message += " (inputs[" + std::to_string(i) + "] is " + inputs[i].path + ")";
  }
  return message;
}

std::string weights_text(const CoaddFlags& f) {
  if (f.weights.empty()) return "weights none";
  std::string t = "weights from " + f.weights[0];
  if (f.weights.size() > 1) t += " and " + std::to_string(f.weights.size() - 1) + " more";
  return t;
}

int run_coadd(CoaddFlags& f) {
  const auto t_start = Clock::now();
  catch_interrupts("\nparallax coadd: stopping after the tiles under way (again to kill at once)\n");

  if (f.inputs.empty())
    throw FileError{"no input images", "",
                    f.weights.empty() ? "give FITS images as arguments"
                                      : "give FITS images as arguments (the list of --weights ends at the next "
                                        "option or --: --weights W1.fits W2.fits -- IN1.fits IN2.fits)"};
  if (f.reference.empty() == !f.auto_frame)
    throw FileError{f.auto_frame ? "--reference and --auto-frame exclude each other" : "no output grid", "",
                    "give --reference HEADER (its grid) or --auto-frame (the optimal TAN frame over the inputs)"};
  if (!f.weights.empty() && f.weights.size() != f.inputs.size())
    throw FileError{"--weights gives " + std::to_string(f.weights.size()) + " weight maps for " +
                        std::to_string(f.inputs.size()) + " inputs",
                    f.weights.back(),
                    "give one weight map per input, in the order of the inputs (the list of --weights ends at the "
                    "next option or --)"};
  std::vector<std::string> outputs = {f.output};
  if (!f.footprint.empty()) outputs.push_back(f.footprint);
  std::vector<std::string> read = f.inputs;
  read.insert(read.end(), f.weights.begin(), f.weights.end());
  if (!f.reference.empty()) read.push_back(f.reference);
  fits::check_outputs(outputs, read, f.overwrite);

  Runtime runtime(f.runtime);

  // The outputs' temporary files, made first so that an unwritable place fails
  // before any input is read; removed on any failure.
  auto t_write = Clock::now();
  fits::OutputFile image_out(f.output);
  std::unique_ptr<fits::OutputFile> footprint_out;
  if (!f.footprint.empty()) footprint_out = std::make_unique<fits::OutputFile>(f.footprint);
  double write_s = seconds(t_write);

  // Every input read and its WCS checked up front.
  const bool tty = !f.runtime.json && ::isatty(STDERR_FILENO);
  ProgressBar bar(tty);
  const auto t_read = Clock::now();
  std::vector<Input> inputs;
  inputs.reserve(f.inputs.size());
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    check_interrupt();
    inputs.push_back(read_input(f.inputs[i]));
    if (!f.weights.empty()) read_weights(inputs.back(), f.weights[i]);
    bar.draw("reading inputs", static_cast<double>(i + 1) / static_cast<double>(f.inputs.size()), seconds(t_read), -1);
  }
  const Grid grid = f.auto_frame ? optimal_grid(inputs) : reference_grid(f.reference);
  for (const Input& in : inputs)
    if (!wcs::convertible(in.sky->frame(), grid.sky->frame()))
      throw FileError{"its celestial frame, " + in.sky->frame().text() + ", cannot be mapped to the output's, " +
                          grid.sky->frame().text(),
                      in.path, "parallax coadd maps between ICRS, FK5 (J2000) and Galactic, or within one frame"};
  bar.clear();
  const double read_s = seconds(t_read);
  check_interrupt();
  // The command holds the output (and footprint) in memory: say so before
  // creating files of that size (an --auto-frame grid can be terabytes).
  const long double output_bytes =
      static_cast<long double>(grid.width) * static_cast<long double>(grid.height) * 4 * (footprint_out ? 2 : 1);
  const int64_t budget = runtime.memory_budget_bytes();
  if (output_bytes > static_cast<long double>(budget))
    throw FileError{"the output grid, " + std::to_string(grid.width) + " x " + std::to_string(grid.height) +
                        " pixels, needs " + format_bytes(static_cast<double>(output_bytes)) +
                        (footprint_out ? " with its footprint" : "") + " in memory, more than the memory budget (" +
                        format_bytes(static_cast<double>(budget)) + ")",
                    f.auto_frame ? "" : f.reference,
                    f.auto_frame ? "give --reference with a smaller grid, or raise --ram-fraction"
                                 : "give a smaller reference grid, or raise --ram-fraction"};

  // The outputs' headers: the grid's WCS.
  t_write = Clock::now();
  fits::ImageShape shape;
  shape.naxis = 2;
  shape.width = grid.width;
  shape.height = grid.height;
  image_out.create_image(FLOAT_IMG, shape, grid.cards);
  if (footprint_out) footprint_out->create_image(FLOAT_IMG, shape, grid.cards);
  write_s += seconds(t_write);

  // The co-addition.
  std::vector<plx_coadd_input_t> descs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    plx_coadd_input_t& d = descs[i];
    check(plx_coadd_input_init(&d, sizeof d));
    d.data = inputs[i].pixels.data();
    d.height = inputs[i].shape.height;
    d.width = inputs[i].shape.width;
    d.weights = inputs[i].weights.empty() ? nullptr : inputs[i].weights.data();
    d.mapping = PLX_MAPPING_WCS;
    d.wcs_header = inputs[i].header.c_str();
  }
  plx_coadd_desc_t desc;
  check(plx_coadd_desc_init(&desc, sizeof desc));
  desc.inputs = descs.data();
  desc.count = static_cast<int64_t>(descs.size());
  desc.height = grid.height;
  desc.width = grid.width;
  desc.output_wcs_header = grid.cards.c_str();
  desc.interpolation = kInterp.at(f.interp);
  desc.combine = kCombine.at(f.combine);
  desc.device = f.runtime.device_preference();
  plx_run_options_t run;
  check(plx_run_options_init(&run, sizeof run));
  run.name = "parallax coadd";
  run.progress = RunProgress::callback;  // also how an interrupt stops the co-addition
  run.progress_interval_ms = 100;
  desc.run_options = &run;

  const size_t pixels = static_cast<size_t>(grid.width) * static_cast<size_t>(grid.height);
  std::vector<float> image(pixels), footprint(footprint_out ? pixels : 0);
  plx_coadd_result_t result;
  check(plx_coadd_result_init(&result, sizeof result));
  result.image = image.data();
  if (footprint_out) result.footprint = footprint.data();
  const auto t_coadd = Clock::now();
  RunProgress progress(bar, {"co-adding"});
  run.progress_user_data = &progress;
  const plx_status_t status = plx_coadd(runtime.get(), &desc, &result);
  const double coadd_s = seconds(t_coadd);
  progress.stop();
  bar.clear();
  if (status != PLX_OK) {
    if (interrupted()) throw Interrupted{};
    // Without the library's prefixes: the command's own comes first ("parallax coadd: co-addition failed: ...").
    const std::string message = replaced(plx_last_error_message(), {{"plx_coadd: ", ""}, {"parallax coadd: ", ""}});
    throw Failure{status, name_inputs("co-addition failed: " + message, inputs)};
  }
  check_interrupt();

  // The outputs, renamed into place once both are written.
  t_write = Clock::now();
  const int64_t total = grid.width * grid.height;
  const double covered_percent = total > 0 ? 100.0 * static_cast<double>(result.covered) / total : 0.0;
  std::vector<std::string> history = {std::string("Parallax ") + plx_version_string() + ": parallax coadd of " +
                                      std::to_string(inputs.size()) + " images onto " + grid.text};
  constexpr size_t kListed = 100;
  for (size_t i = 0; i < inputs.size() && i < kListed; ++i)
    history.push_back("input " + std::to_string(i + 1) + ": " + inputs[i].path +
                      (inputs[i].weights_path.empty() ? "" : " weights " + inputs[i].weights_path));
  if (inputs.size() > kListed) history.push_back("... and " + std::to_string(inputs.size() - kListed) + " more inputs");
  history.push_back("interpolation " + f.interp + ", combine " + f.combine + ", " + weights_text(f));
  history.push_back("covered " + grouped(result.covered) + " of " + grouped(total) + " pixels (" +
                    fixed(covered_percent, 2) + "%)");
  auto finish = [&](fits::OutputFile& out, const std::string& what) {
    std::vector<std::string> lines = history;
    if (!what.empty()) lines.insert(lines.begin(), what);
    out.add_history(lines);
    out.set_key("NCOMBINE", static_cast<int64_t>(inputs.size()), "images co-added");
  };
  finish(image_out, "");
  image_out.write_pixels(image.data(), static_cast<int64_t>(pixels));
  image_out.finish();
  if (footprint_out) {
    finish(*footprint_out, "Footprint (sum of the weights per pixel) of:");
    footprint_out->write_pixels(footprint.data(), static_cast<int64_t>(pixels));
    footprint_out->finish();
  }
  check_interrupt();
  if (footprint_out) footprint_out->commit();
  image_out.commit();
  write_s += seconds(t_write);

  // The summary.
  const double total_s = seconds(t_start);
  const std::string device = runtime.device_name(result.device_index);
  const wcs::Celestial& sky = *grid.sky;
  if (f.runtime.json) {
    json inputs_doc = json::array();
    for (const Input& in : inputs)
      inputs_doc.push_back({{"path", in.path},
                            {"width", in.shape.width},
                            {"height", in.shape.height},
                            {"frame", in.sky->frame().text()},
                            {"weights", in.weights_path.empty() ? json(nullptr) : json(in.weights_path)}});
    json doc = {
        {"inputs", inputs.size()},
        {"input_files", inputs_doc},
        {"width", grid.width},
        {"height", grid.height},
        {"pixels", total},
        {"covered", result.covered},
        {"covered_percent", covered_percent},
        {"samples", result.samples},
        {"tile_rows", result.tile_rows},
        {"tiles", result.tiles},
        {"device", device},
        {"device_index", result.device_index},
        {"workers", result.workers},
        {"native_wcs", result.native_wcs},
        {"grid_wcs", result.grid_wcs},
        {"seconds", result.seconds},
        {"options",
         {{"interp", f.interp},
          {"combine", f.combine},
          {"frame", f.auto_frame ? "auto" : "reference"},
          {"reference", f.reference.empty() ? json(nullptr) : json(f.reference)},
          {"weights", f.weights.empty() ? json(nullptr) : json(f.weights)}}},
        {"wcs",
         {{"ctype", {sky.ctype(0), sky.ctype(1)}},
          {"crval", {sky.crval(0), sky.crval(1)}},
          {"crpix", {sky.crpix(0), sky.crpix(1)}},
          {"cd", {{sky.scale(0, 0), sky.scale(0, 1)}, {sky.scale(1, 0), sky.scale(1, 1)}}},
          {"frame", sky.frame().text()}}},
        {"read_s", read_s},
        {"coadd_s", coadd_s},
        {"write_s", write_s},
        {"total_s", total_s},
        {"outputs", {{"image", f.output}, {"footprint", f.footprint.empty() ? json(nullptr) : json(f.footprint)}}}};
    std::cout << json_text(doc) << "\n";
    return 0;
  }
  auto row = [](const char* key, const std::string& value) {
    std::cout << "  " << key << std::string(10 - std::string(key).size(), ' ') << value << "\n";
  };
  std::cout << "Co-added " << inputs.size() << " images into " << f.output << ": " << grid.width << " x " << grid.height
            << " (" << counted(total, "pixel") << "), " << fixed(covered_percent, 2) << "% covered\n";
  row("grid", grid.text);
  row("rule", "interpolation " + f.interp + ", combine " + f.combine + ", " + weights_text(f));
  row("samples", grouped(result.samples) + " (input, pixel) pairs; " + counted(result.native_wcs, "input") +
                     " mapped natively (TAN, TAN-SIP), " + std::to_string(result.grid_wcs) + " through a wcslib grid");
  row("time", "read " + fixed(read_s) + " s, co-add " + fixed(coadd_s) + " s, write " + fixed(write_s) + " s (total " +
                  fixed(total_s) + " s)");
  row("on", (device == "cpu" ? "CPU" : device) + ", " + counted(result.workers, "worker") + ", " +
                counted(result.tiles, "tile") + " of " + counted(result.tile_rows, "row"));
  row("wrote", f.output + (f.footprint.empty() ? "" : ", " + f.footprint));
  return 0;
}

}  // namespace

Command add_coadd_command(CLI::App& app) {
  auto f = std::make_shared<CoaddFlags>();
  CLI::App* cmd =
      app.add_subcommand("coadd", "Resample FITS images with celestial WCS onto one grid and combine them (mosaic)");
  cmd->footer(R"(Inputs: 2-D images (the first HDU with pixels; any BITPIX, BSCALE/BZERO applied, BLANK and
NaN pixels missing) whose headers hold a celestial WCS that wcslib reads (TAN, TAN-SIP, any other
projection, distortions). Each output pixel takes, from each input whose corner box covers it, the
input interpolated at the pixel's sky position, as reproject_and_coadd(reproject_interp) does.

The grid: --reference HEADER, a FITS image whose NAXIS1 x NAXIS2 and WCS give it (or a text header,
one card per line, with NAXIS1 and NAXIS2), or --auto-frame, the optimal TAN frame over the inputs
as reproject's find_optimal_celestial_wcs computes it (frame of the first input; square pixels of
the finest input scale; north up). Inputs in another frame than the grid's must be ICRS, FK5
(J2000) or Galactic, as the grid; --auto-frame needs every input in the first one's frame.

--weights W1.fits W2.fits ...: one weight map per input, of its shape, in the order of the inputs
(the list ends at the next option or --); a map with any NaN has NaN made 0 and infinities the
largest float, as reproject does. The footprint is the sum of the weights per output pixel.
--combine: mean and sum are weighted; min, max, median (unweighted), first and last take the
inputs that cover a pixel, in input order. Pixels no input covers are NaN (0 with sum).

Outputs are written to OUT.tmp-XXXXXX beside OUT and renamed when complete; nothing is left on
failure or Ctrl-C. An existing output is replaced only with --overwrite. Both are BITPIX -32 with
the grid's WCS, HISTORY cards of what was done, DATE and NCOMBINE. A progress bar is drawn on
stderr when it is a terminal (not with --json).)");
  cmd->add_option("-o,--output", f->output, "Mosaic to write (FITS)")->required()->type_name("OUT.fits");
  cmd->add_option("inputs", f->inputs, "Input images (FITS)")->type_name("IN.fits");
  auto* reference = cmd->add_option("--reference", f->reference, "The output grid: this header's WCS and size")
                        ->type_name("HEADER.fits");
  auto* auto_frame =
      cmd->add_flag("--auto-frame", f->auto_frame, "The output grid: the optimal TAN frame covering all inputs");
  reference->excludes(auto_frame);
  cmd->add_option("--footprint", f->footprint, "Also write the footprint: the sum of the weights per pixel (FITS)")
      ->type_name("FP.fits");
  cmd->add_option("--interp", f->interp, "Interpolation: nearest, bilinear, bicubic (Keys) or lanczos3")
      ->check(CLI::IsMember(keys(kInterp)))
      ->capture_default_str();
  cmd->add_option("--combine", f->combine, "How inputs are combined: mean, sum, min, max, median, first, last")
      ->check(CLI::IsMember(keys(kCombine)))
      ->capture_default_str();
  cmd->add_option("--weights", f->weights, "Weight maps, one per input, in the inputs' order")->type_name("FILE");
  cmd->add_flag("--overwrite", f->overwrite, "Replace outputs that exist");
  add_runtime_flags(*cmd, f->runtime);
  return [cmd, f]() -> int {
    if (!cmd->parsed()) return -1;
    return report_failures("coadd", "the inputs and the output must fit in memory", [&] {
      try {
        return run_coadd(*f);
      } catch (const std::length_error&) {  // a vector sized from a header
        throw std::bad_alloc();
      }
    });
  };
}

}  // namespace plx::cli
