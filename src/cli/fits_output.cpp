#include "fits_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "progress.hpp"

namespace plx::cli::fits {
namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string random_suffix() {
  static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::mt19937 gen(device());
  std::uniform_int_distribution<int> pick(0, 35);
  std::string s(6, 'x');
  for (char& c : s) c = digits[pick(gen)];
  return s;
}

}  // namespace

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  // Through a symbolic link the file it points to is replaced, and the link
  // kept: the temporary file goes beside the target, not beside the link.
  std::error_code error;
  if (std::filesystem::is_symlink(path_, error)) {
    const std::filesystem::path target = std::filesystem::canonical(path_, error);
    if (error)
      throw FileError{"the output is a symbolic link to nothing (" + error.message() + ")", path_,
                      "remove the link, or give another name"};
    path_ = target.string();
  }
  const std::string dir = directory_of(path_);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw FileError{"the output's directory " + dir + " does not exist", path_, "create it first"};
  if (::access(dir.c_str(), W_OK) != 0)
    throw FileError{"cannot write in the output's directory " + dir + ": " + std::strerror(errno), path_,
                    "choose a writable place"};
  for (int attempt = 0;; ++attempt) {
    temp_path_ = path_ + ".tmp-" + random_suffix();
    struct stat existing {};
    if (::lstat(temp_path_.c_str(), &existing) == 0 && attempt < 100) continue;
    try {
      file_ = create(temp_path_);
    } catch (FileError& e) {
      throw FileError{"cannot create a temporary file beside the output (" + temp_path_ + "): " + e.what, path_,
                      "check that its directory is writable"};
    }
    interrupt_slot_ = remember_temporary(temp_path_);
    return;
  }
}

OutputFile::~OutputFile() {
  if (committed_) return;
  file_.close_quietly();
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  forget_temporary(interrupt_slot_);
}

void OutputFile::check(int status, const std::string& what) {
  if (status != 0)
    throw FileError{"cannot write the output: " + what + ": " + status_text(status), path_,
                    "check the free space and the permissions of its directory"};
}

void OutputFile::copy_header(const std::string& cards, int bitpix, const ImageShape& shape, bool keep_unit) {
  std::set<std::string> skip = {"DATAMIN", "DATAMAX", "INHERIT"};  // INHERIT: meaningless in a primary HDU
  if (!keep_unit) skip.insert("BUNIT");
  create_image(bitpix, shape, cards, skip);
}

void OutputFile::create_image(int bitpix, const ImageShape& shape, const std::string& cards,
                              const std::set<std::string>& also_skip) {
  int status = 0;
  fitsfile* out = file_.get();
  LONGLONG naxes[3] = {shape.width, shape.height, shape.channels};
  fits_create_imgll(out, bitpix, shape.naxis, naxes, &status);
  check(status, "creating the image");
  static const std::set<std::string> skip = {"SIMPLE", "BITPIX", "EXTEND", "XTENSION", "PCOUNT",   "GCOUNT",
                                             "END",    "BSCALE", "BZERO",  "BLANK",    "CHECKSUM", "DATASUM"};
  for (size_t at = 0; at + 80 <= cards.size(); at += 80) {
    const std::string card = cards.substr(at, 80);
    const std::string key = card_key(card);
    if (skip.count(key) || also_skip.count(key) || key.rfind("NAXIS", 0) == 0) continue;
    // fits_create_imgll wrote cfitsio's two COMMENT cards citing the FITS
    // paper; an input written by cfitsio has them too.
    if (key == "COMMENT" && (card.find("FITS (Flexible Image Transport System) format is") != std::string::npos ||
                             card.find("and Astrophysics', volume 376, page 359") != std::string::npos))
      continue;
    if (key.empty() && card.find_first_not_of(' ') == std::string::npos) continue;
    fits_write_record(out, card.c_str(), &status);
    check(status, "writing the header card " + key);
  }
  fits_set_bscale(out, 1.0, 0.0, &status);
  check(status, "rewriting the header");
}

void OutputFile::add_history(const std::vector<std::string>& lines) {
  // A header is printable ASCII: cfitsio blanks other bytes, so a file name
  // in UTF-8 would lose its accented letters; they are written as \xNN.
  auto printable = [](const std::string& line) {
    std::string out;
    for (unsigned char c : line) {
      if (c >= 32 && c <= 126) {
        out += static_cast<char>(c);
      } else {
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02X", c);
        out += hex;
      }
    }
    return out;
  };
  int status = 0;
  for (const std::string& line : lines) fits_write_history(file_.get(), printable(line).c_str(), &status);
  fits_write_date(file_.get(), &status);
  check(status, "writing HISTORY");
}

void OutputFile::set_key(const std::string& name, int64_t value, const std::string& comment) {
  int status = 0;
  fits_update_key_lng(file_.get(), name.c_str(), value, comment.c_str(), &status);
  check(status, "writing " + name);
}

void OutputFile::set_key(const std::string& name, const std::string& value, const std::string& comment) {
  int status = 0;
  fits_update_key_str(file_.get(), name.c_str(), value.c_str(), comment.c_str(), &status);
  check(status, "writing " + name);
}

void OutputFile::write_pixels(const float* pixels, int64_t count) {
  int status = 0;
  fits_write_img(file_.get(), TFLOAT, 1, count, const_cast<float*>(pixels), &status);
  check(status, "writing the pixels");
}

void OutputFile::write_pixels(const int32_t* pixels, int64_t count) {
  int status = 0;
  fits_write_img(file_.get(), TINT, 1, count, const_cast<int32_t*>(pixels), &status);
  check(status, "writing the pixels");
}

void OutputFile::finish() {
  check(file_.close(), "closing");
  // On disk before the rename makes it visible under the final name.
  const int fd = ::open(temp_path_.c_str(), O_RDONLY);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!synced)
    throw FileError{std::string("cannot write the output: flushing it to disk failed: ") + std::strerror(err), path_,
                    "check the free space of its file system"};
}

void OutputFile::commit() {
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw FileError{"cannot rename " + temp_path_ + " to the output: " + std::strerror(errno), path_,
                    "check the permissions of its directory"};
  committed_ = true;
  forget_temporary(interrupt_slot_);
}

namespace {

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

}  // namespace

void check_outputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs, bool overwrite) {
  std::vector<std::pair<std::string, struct stat>> existing;
  std::set<std::string> names;
  for (const std::string& out : outputs) {
    // "./a.fits" and "a.fits", or "d/../a.fits", name one file even before it exists.
    std::error_code error;
    std::string name = std::filesystem::weakly_canonical(out, error).string();
    if (error) name = out;
    if (!names.insert(name).second)
      throw FileError{"the same output is given twice", out, "give each output its own file"};
    // cfitsio would compress a name ending in .gz, but the file is written
    // under a temporary name: plain FITS under a .gz name would mislead.
    if (out.size() > 3 && out.compare(out.size() - 3, 3, ".gz") == 0)
      throw FileError{"outputs are written uncompressed", out, "name it .fits, and compress it afterwards"};
    struct stat st {};
    if (::stat(out.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) throw FileError{"the output is a directory", out, "give a file name"};
    // A device or a pipe (-o /dev/stdout) would be replaced by a file named like it.
    if (!S_ISREG(st.st_mode))
      throw FileError{"the output is not a regular file (a device or a pipe)", out,
                      "give a file name; FITS outputs are written to a temporary file and renamed"};
    // Before --overwrite is suggested: it would not help here.
    for (const std::string& in : inputs) {
      struct stat in_st {};
      if (::stat(in.c_str(), &in_st) == 0 && same_file(st, in_st))
        throw FileError{in == out ? std::string("the output is also an input") : "the output is also the input " + in,
                        out, "write the output to another file"};
    }
    if (!overwrite) throw FileError{"the output exists", out, "pass --overwrite to replace it, or choose another name"};
    for (const auto& [other, other_st] : existing)
      if (same_file(st, other_st))
        throw FileError{"the output is the same file as " + other, out, "give distinct outputs"};
    existing.emplace_back(out, st);
  }
}

}  // namespace plx::cli::fits
