#include "fits_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>

namespace plx::cli {

std::string FileError::message() const {
  std::string text = what;
  if (!file.empty()) text += " (" + file + ")";
  if (!advice.empty()) text += ": " + advice;
  return text;
}

namespace fits {

std::string status_text(int status) {
  char text[FLEN_STATUS] = {0};
  fits_get_errstatus(status, text);
  return std::string(text) + " (cfitsio status " + std::to_string(status) + ")";
}

void check(int status, const std::string& what, const std::string& file, const std::string& advice) {
  if (status != 0) throw FileError{what + ": " + status_text(status), file, advice};
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    close_quietly();
    file_ = other.file_;
    path_ = std::move(other.path_);
    other.file_ = nullptr;
  }
  return *this;
}

int File::close() {
  int status = 0;
  if (file_) fits_close_file(file_, &status);
  file_ = nullptr;
  return status;
}

void File::close_quietly() { (void)close(); }

std::string ImageShape::text() const {
  std::string t = std::to_string(width) + " x " + std::to_string(height);
  if (naxis == 3) t += " x " + std::to_string(channels);
  return t;
}

File open_read(const std::string& path, const std::string& missing_advice) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT)
      throw FileError{"no such file", path, missing_advice.empty() ? "check the path" : missing_advice};
    throw FileError{std::string("cannot read the file: ") + std::strerror(err), path,
                    "check the path and its permissions"};
  }
  if (S_ISDIR(st.st_mode)) throw FileError{"the input is a directory, not a FITS file", path, "give FITS files"};
  // A pipe or a device would block or be read once: FITS inputs are read
  // again, tile by tile.
  if (!S_ISREG(st.st_mode))
    throw FileError{S_ISFIFO(st.st_mode) ? "the input is a pipe, not a FITS file" : "the input is not a regular file",
                    path, "give FITS files on disk"};
  if (::access(path.c_str(), R_OK) != 0)
    throw FileError{std::string("cannot read the file: ") + std::strerror(errno), path, "check its permissions"};
  if (path.size() >= FLEN_FILENAME)
    throw FileError{"the path is longer than cfitsio's " + std::to_string(FLEN_FILENAME - 1) + " characters", path,
                    "use a shorter (relative) path"};
  fitsfile* f = nullptr;
  int status = 0;
  if (fits_open_diskfile(&f, path.c_str(), READONLY, &status) != 0) {
    if (f) {
      int ignored = 0;
      fits_close_file(f, &ignored);
    }
    throw FileError{"not a readable FITS file: " + status_text(status), path, "give FITS images"};
  }
  return File(f, path);
}

namespace {

// What an HDU without pixels is, for the message that names them: an image's
// NAXIS and axes as find_pixels read them.
std::string hdu_kind(int type, int naxis, const LONGLONG* naxes) {
  if (type == ASCII_TBL) return "an ASCII table";
  if (type == BINARY_TBL) return "a binary table";
  if (naxis == 0) return "an image with no pixels (NAXIS = 0)";
  for (int i = 0; i < naxis && i < 9; ++i)  // random groups have NAXIS1 = 0
    if (naxes[i] == 0) return "an image with no pixels (NAXIS" + std::to_string(i + 1) + " = 0)";
  return "an image";
}

std::string where_text(int hdu) { return hdu == 1 ? "the primary image" : "the image in HDU " + std::to_string(hdu); }

// Throws FileError when the file ends before the data its header promises:
// found while checking the inputs, not as a failed read midway through a
// stack (cfitsio reads a truncated data unit's pixels as an error only when
// it gets there). For a tile-compressed image, whose data unit is a table,
// at least the data unit's last 2880-byte block must have begun.
void check_data_present(File& file, int hdu, int bitpix, int naxis, const LONGLONG* naxes) {
  int status = 0;
  LONGLONG header_start = 0, data_start = 0, data_end = 0;
  fits_get_hduaddrll(file.get(), &header_start, &data_start, &data_end, &status);
  check(status, "cannot locate the data of HDU " + std::to_string(hdu), file.path());
  LONGLONG needed = 0;
  if (fits_is_compressed_image(file.get(), &status)) {
    needed = data_end > data_start ? data_end - 2879 : data_start;
  } else {
    LONGLONG bytes = std::abs(bitpix) / 8;
    for (int i = 0; i < naxis; ++i)
      if (__builtin_mul_overflow(bytes, naxes[i], &bytes)) bytes = std::numeric_limits<LONGLONG>::max() - data_start;
    needed = data_start + bytes;
    // cfitsio reads whole 2880-byte blocks: pixels in a last block that
    // lacks its padding fail to read (astropy reads them).
    const LONGLONG padded = needed + (2880 - bytes % 2880) % 2880;
    const LONGLONG size = file.get()->Fptr->filesize;
    if (size >= needed && size < padded)
      throw FileError{where_text(hdu) +
                          " is complete but not padded to a multiple of 2880 bytes, as FITS requires: "
                          "cfitsio cannot read its last rows (the file has " +
                          std::to_string(size) + " bytes, " + std::to_string(padded) + " padded)",
                      file.path(), "rewrite it, e.g. with astropy: fits.open(path).writeto(new_path)"};
  }
  // The size of what cfitsio reads: the file, or its decompressed copy in
  // memory for a gzip-compressed one.
  const LONGLONG size = file.get()->Fptr->filesize;
  if (size < needed)
    throw FileError{"the file is truncated: " + where_text(hdu) + " needs " + std::to_string(needed) +
                        " bytes up to the end of its pixels, the file has " + std::to_string(size),
                    file.path(), "copy or download it again"};
}

// The first HDU holding an image with pixels, made current, with its axes;
// throws FileError when there is none.
ImageInfo find_pixels(File& file, std::vector<int64_t>& axes) {
  std::string seen;
  for (int hdu = 1;; ++hdu) {
    int type = 0, status = 0;
    if (fits_movabs_hdu(file.get(), hdu, &type, &status) != 0) {
      if (status == END_OF_FILE) break;
      throw FileError{"cannot read HDU " + std::to_string(hdu) + ": " + status_text(status), file.path(),
                      "the file may be truncated or not FITS"};
    }
    int naxis = 0;
    LONGLONG naxes[9] = {0};
    if (type == IMAGE_HDU) {
      fits_get_img_dim(file.get(), &naxis, &status);
      if (naxis > 0 && naxis <= 9) fits_get_img_sizell(file.get(), naxis, naxes, &status);
      check(status, "cannot read the image header of HDU " + std::to_string(hdu), file.path());
      bool empty = naxis == 0;
      for (int i = 0; i < naxis && i < 9; ++i) empty = empty || naxes[i] == 0;
      if (!empty) {
        ImageInfo info;
        info.hdu = hdu;
        fits_get_img_type(file.get(), &info.bitpix, &status);
        check(status, "cannot read BITPIX of HDU " + std::to_string(hdu), file.path());
        check_data_present(file, hdu, info.bitpix, naxis, naxes);
        info.shape.naxis = naxis;
        axes.assign(naxes, naxes + std::min(naxis, 9));
        return info;
      }
    }
    seen +=
        (seen.empty() ? "" : ", ") + std::string("HDU ") + std::to_string(hdu) + " is " + hdu_kind(type, naxis, naxes);
  }
  throw FileError{"no image in the file (" + seen + ")", file.path(), "give FITS files that hold an image"};
}

std::string dims_text(const std::vector<int64_t>& axes) {
  std::string dims;
  for (size_t i = 0; i < axes.size(); ++i) dims += (i ? " x " : "") + std::to_string(axes[i]);
  return dims;
}

}  // namespace

ImageInfo find_image(File& file) {
  std::vector<int64_t> naxes;
  ImageInfo info = find_pixels(file, naxes);
  ImageShape& s = info.shape;
  const int naxis = s.naxis;
  const std::string where = where_text(info.hdu);
  if (naxis == 1 || naxis > 3)
    throw FileError{where + " has NAXIS = " + std::to_string(naxis) + " (" + dims_text(naxes) + ")", file.path(),
                    "parallax stack takes 2-D images or cubes of 1 or 3 planes"};
  s.width = naxes[0];
  s.height = naxes[1];
  if (naxis == 3) {
    if (naxes[2] != 1 && naxes[2] != 3)
      throw FileError{where + " is a cube of " + std::to_string(naxes[2]) + " planes", file.path(),
                      "parallax stack takes 2-D images or cubes of 1 or 3 planes (channels); to stack the "
                      "planes of one cube, write them to separate files"};
    s.channels = static_cast<int>(naxes[2]);
  }
  return info;
}

ImageInfo find_image_2d(File& file, const std::string& advice) {
  std::vector<int64_t> naxes;
  ImageInfo info = find_pixels(file, naxes);
  if (info.shape.naxis != 2)
    throw FileError{where_text(info.hdu) + " has NAXIS = " + std::to_string(info.shape.naxis) + " (" +
                        dims_text(naxes) + "), not 2",
                    file.path(), advice};
  info.shape.width = naxes[0];
  info.shape.height = naxes[1];
  return info;
}

float read_null_value(fitsfile* f) {
  int status = 0, bitpix = 0;
  fits_get_img_type(f, &bitpix, &status);
  const bool plain_float = status == 0 && bitpix < 0 && !fits_is_compressed_image(f, &status);
  return plain_float ? 0.0f : std::numeric_limits<float>::quiet_NaN();
}

std::vector<float> read_pixels(File& file, const ImageShape& shape) {
  const LONGLONG count = static_cast<LONGLONG>(shape.width) * shape.height * shape.channels;
  std::vector<float> pixels(static_cast<size_t>(count));
  float null_value = read_null_value(file.get());
  int status = 0, any_null = 0;
  fits_read_img(file.get(), TFLOAT, 1, count, &null_value, pixels.data(), &any_null, &status);
  check(status, "cannot read the pixels", file.path(), "the file may be truncated");
  return pixels;
}

namespace {

// fits_hdr2str's cards of `file`'s current HDU; throws FileError{what, path}.
std::string cards_of(fitsfile* file, const std::string& path, const std::string& what) {
  char* text = nullptr;
  int status = 0, keys = 0;
  fits_hdr2str(file, 0, nullptr, 0, &text, &keys, &status);
  std::string header = text && status == 0 ? std::string(text) : std::string();
  if (text) {
    int ignored = 0;
    fits_free_memory(text, &ignored);
  }
  check(status, what, path, "the file may be truncated or not FITS");
  return header;
}

// A tile-compressed image's header as the image it holds. Not through
// fits_convert_hdr2str: it decompresses the header into an empty memory file,
// and where the table's header has BSCALE/BZERO before the compression
// keywords (astropy's unsigned 16-bit images) they come out first, before
// XTENSION, and the header cannot be read back ("1st key not SIMPLE or
// XTENSION"). Behind an empty primary HDU it can.
std::string decompressed_cards(File& file) {
  const std::string what = "cannot read the compressed image's header";
  fitsfile* raw = nullptr;
  int status = 0;
  fits_create_file(&raw, "mem://", &status);
  const File memory(raw, "mem://");  // closed however this returns
  fits_create_img(raw, BYTE_IMG, 0, nullptr, &status);
  fits_img_decompress_header(file.get(), raw, &status);
  check(status, what, file.path(), "the file may be truncated or not FITS");
  return cards_of(raw, file.path(), what);
}

}  // namespace

std::string header_text(File& file) {
  int status = 0;
  if (fits_is_compressed_image(file.get(), &status)) return decompressed_cards(file);
  return cards_of(file.get(), file.path(), "cannot read the header");
}

std::string card_key(const std::string& card) {
  std::string key = card.substr(0, 8);
  key.erase(key.find_last_not_of(' ') + 1);
  return key;
}

std::string image_header_text(File& file, int hdu) {
  int status = 0, type = 0;
  fits_movabs_hdu(file.get(), hdu, &type, &status);
  check(status, "cannot read the header of HDU " + std::to_string(hdu), file.path());
  const std::string own = header_text(file);
  if (hdu == 1) return own;
  int inherit = 1;
  fits_read_key_log(file.get(), "INHERIT", &inherit, nullptr, &status);
  if (status == KEY_NO_EXIST || status == VALUE_UNDEFINED) status = 0, inherit = 1;
  if (status != 0 || !inherit) return own;  // INHERIT = F (or unreadable): the primary's keywords are not its
  std::set<std::string> keys;
  for (size_t at = 0; at + 80 <= own.size(); at += 80) keys.insert(card_key(own.substr(at, 80)));
  fits_movabs_hdu(file.get(), 1, &type, &status);
  check(status, "cannot read the primary header", file.path());
  const std::string primary = header_text(file);
  fits_movabs_hdu(file.get(), hdu, &type, &status);
  check(status, "cannot read the header of HDU " + std::to_string(hdu), file.path());
  std::string merged;
  for (size_t at = 0; at + 80 <= primary.size(); at += 80) {
    const std::string card = primary.substr(at, 80);
    const std::string key = card_key(card);
    static const std::set<std::string> own_only = {"SIMPLE", "BITPIX", "EXTEND", "NAXIS", "END"};
    if (own_only.count(key) || key.rfind("NAXIS", 0) == 0) continue;
    const bool repeatable = key.empty() || key == "COMMENT" || key == "HISTORY";
    if (repeatable || !keys.count(key)) merged += card;
  }
  return merged + own;
}

File create(const std::string& path) {
  if (path.size() >= FLEN_FILENAME)
    throw FileError{"the path is longer than cfitsio's " + std::to_string(FLEN_FILENAME - 1) + " characters", path,
                    "use a shorter (relative) path"};
  fitsfile* f = nullptr;
  int status = 0;
  if (fits_create_diskfile(&f, path.c_str(), &status) != 0) {
    if (f) {
      int ignored = 0;
      fits_close_file(f, &ignored);
    }
    throw FileError{"cannot create the file: " + status_text(status), path,
                    "check that its directory exists and is writable"};
  }
  return File(f, path);
}

}  // namespace fits
}  // namespace plx::cli
