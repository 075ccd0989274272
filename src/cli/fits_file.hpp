// FITS files through cfitsio, for the CLI: an owning handle, the image HDU of
// an input and its shape, and failures that name the file and what to do.
// File names are taken literally (fits_open_diskfile / fits_create_diskfile):
// no cfitsio extended syntax, so "a[1].fits" is a file name.
#pragma once

#include <fitsio.h>

#include <cstdint>
#include <string>
#include <vector>

namespace plx::cli {

// A failure the user can act on: "<what> (<file>): <advice>".
struct FileError {
  std::string what;
  std::string file;  // may be empty
  std::string advice;

  std::string message() const;
};

namespace fits {

// cfitsio's short text for a status ("could not open the named file").
std::string status_text(int status);

// An open FITS file; closed (errors ignored) when destroyed.
class File {
 public:
  File() = default;
  File(fitsfile* file, std::string path) : file_(file), path_(std::move(path)) {}
  ~File() { close_quietly(); }
  File(File&& other) noexcept : file_(other.file_), path_(std::move(other.path_)) { other.file_ = nullptr; }
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  fitsfile* get() const { return file_; }
  const std::string& path() const { return path_; }
  explicit operator bool() const { return file_ != nullptr; }
  // Closes and returns cfitsio's status (0 = written out fine).
  int close();
  void close_quietly();

 private:
  fitsfile* file_ = nullptr;
  std::string path_;
};

// The image an input holds: 2-D (H x W), or a cube of 1 or 3 planes taken as
// channels (NAXIS3 = 1 or 3).
struct ImageShape {
  int naxis = 0;  // 2 or 3, as in the file
  int64_t width = 0, height = 0;
  int channels = 1;

  bool same_pixels(const ImageShape& o) const {
    return width == o.width && height == o.height && channels == o.channels;
  }
  std::string text() const;  // "1920 x 1080" or "1920 x 1080 x 3"
};

struct ImageInfo {
  int hdu = 1;  // 1-based HDU number of the image
  int bitpix = 0;
  ImageShape shape;
};

// Opens `path` read-only; throws FileError (no such file, a directory, not
// readable, not FITS). `missing_advice` replaces "check the path" when there
// is no such file.
File open_read(const std::string& path, const std::string& missing_advice = {});

// The first HDU holding an image with pixels (the primary array, or an image
// extension after an empty primary, tile-compressed images included), made
// the current HDU. Throws FileError when there is none or its shape is not a
// 2-D image or a 1- or 3-plane cube.
ImageInfo find_image(File& file);

// As find_image, for commands that take 2-D images only: throws FileError
// with `advice` when the image's NAXIS is not 2.
ImageInfo find_image_2d(File& file, const std::string& advice);

// All pixels of the current HDU (an image of `shape`) as float, BSCALE and
// BZERO applied, BLANK pixels NaN; throws FileError.
std::vector<float> read_pixels(File& file, const ImageShape& shape);

// The null value to read `f`'s current image as floats with: NaN where
// BLANK (integer images) or a compressed image's ZBLANK marks missing pixels;
// 0, cfitsio's "no check", for a plain float image, whose NaN are NaN as they
// are. With the check cfitsio turns +-inf into NaN too (its test reads only
// the exponent), and an infinite sample, always rejected, would be missing.
float read_null_value(fitsfile* f);

// The current HDU's header as 80-character cards, END excluded (cfitsio's
// fits_hdr2str; a tile-compressed image's as the image it holds); throws
// FileError.
std::string header_text(File& file);

// The keyword of an 80-character card, trailing blanks removed ("" for a
// blank card).
std::string card_key(const std::string& card);

// The header of the image in `hdu`, as header_text, made current. An image in
// an extension also gets the keywords of the primary header it lacks
// (TELESCOP, DATE-OBS...: FITS's INHERIT convention), first, unless it says
// INHERIT = F. Throws FileError.
std::string image_header_text(File& file, int hdu);

// Creates a new FITS file at `path`, which must not exist; throws FileError.
File create(const std::string& path);

// Throws FileError{what + cfitsio's text, file, advice} when status != 0.
void check(int status, const std::string& what, const std::string& file, const std::string& advice = {});

}  // namespace fits
}  // namespace plx::cli
