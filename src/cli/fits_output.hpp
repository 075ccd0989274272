// An output FITS image written under a temporary name beside its final path
// (OUT.fits.tmp-XXXXXX) and renamed into place only when complete: a failure
// or an interrupt never leaves a partial OUT.fits, nor the temporary file.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fits_file.hpp"

namespace plx::cli::fits {

class OutputFile {
 public:
  // Creates the temporary file at once, so that an unwritable directory is
  // found before any work. Throws FileError.
  explicit OutputFile(std::string path);
  ~OutputFile();  // removes the temporary file unless committed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  // The primary image, of `bitpix` (FLOAT_IMG or LONG_IMG) and `shape`, with
  // an input's header `cards` (image_header_text): structural keywords made
  // anew; BSCALE, BZERO, BLANK, checksums and DATAMIN/DATAMAX dropped (the
  // pixels are written as they are), and BUNIT too unless `keep_unit`.
  // Call it when the pixels are ready: an image sized in its header but not
  // written is filled in full (zeros) when the file is closed, even to remove it.
  void copy_header(const std::string& cards, int bitpix, const ImageShape& shape, bool keep_unit);
  // A new image of `bitpix` and `shape` whose header holds the 80-character
  // `cards` (e.g. a WCS), less structural keywords (SIMPLE, BITPIX, NAXISn,
  // EXTEND, XTENSION, PCOUNT, GCOUNT, END), scaling (BSCALE, BZERO, BLANK),
  // checksums and the keywords in `also_skip`: the pixels are written as they are.
  void create_image(int bitpix, const ImageShape& shape, const std::string& cards,
                    const std::set<std::string>& also_skip = {});
  void add_history(const std::vector<std::string>& lines);
  void set_key(const std::string& name, int64_t value, const std::string& comment);
  void set_key(const std::string& name, const std::string& value, const std::string& comment);
  void write_pixels(const float* pixels, int64_t count);
  void write_pixels(const int32_t* pixels, int64_t count);
  // Closes the file and flushes it to disk; throws FileError.
  void finish();
  // Renames the temporary file to its final path; throws FileError.
  void commit();

 private:
  void check(int status, const std::string& what);

  std::string path_;
  std::string temp_path_;
  File file_;
  bool committed_ = false;
  int interrupt_slot_ = -1;  // remember_temporary
};

// Outputs must be new (or `overwrite`), distinct, and none of the inputs;
// throws FileError naming the output otherwise.
void check_outputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs, bool overwrite);

}  // namespace plx::cli::fits
