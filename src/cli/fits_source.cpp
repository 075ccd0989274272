#include "fits_source.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

namespace plx::cli::fits {

// ---- HandlePool -------------------------------------------------------------

namespace {

// A cfitsio built without --enable-reentrant shares buffers between handles:
// then every call is serialized (Debian's build is reentrant).
std::unique_lock<std::mutex> serialize_if_needed() {
  static const bool reentrant = fits_is_reentrant() != 0;
  static std::mutex everything;
  return reentrant ? std::unique_lock<std::mutex>() : std::unique_lock<std::mutex>(everything);
}

}  // namespace

struct HandlePool::Slot {
  size_t index = 0;
  fitsfile* file = nullptr;
  int open_status = 0;    // non-zero: opening failed (the slot is dropped when idle)
  int users = 0;          // threads holding or waiting for `io`
  uint64_t released = 0;  // tick of the last release
  std::mutex io;
};

HandlePool::HandlePool(std::vector<Source> sources, size_t capacity)
    : sources_(std::move(sources)), capacity_(std::max<size_t>(1, capacity)) {}

HandlePool::~HandlePool() {
  for (auto& [index, slot] : slots_) {
    int status = 0;
    if (slot->file) fits_close_file(slot->file, &status);
  }
}

size_t HandlePool::peak_open() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

int64_t HandlePool::opens() const {
  std::lock_guard lock(mutex_);
  return opens_;
}

HandlePool::Slot* HandlePool::acquire(size_t index) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (auto it = slots_.find(index); it != slots_.end()) {
      Slot* slot = it->second.get();
      ++slot->users;
      lock.unlock();
      slot->io.lock();
      return slot;
    }
    if (slots_.size() < capacity_) {
      auto owned = std::make_unique<Slot>();
      Slot* slot = owned.get();
      slot->index = index;
      slot->users = 1;
      slot->io.lock();  // new: nobody else can hold it yet
      slots_.emplace(index, std::move(owned));
      peak_ = std::max(peak_, slots_.size());
      ++opens_;
      lock.unlock();
      // Open outside the pool's lock; threads wanting this file wait on `io`.
      const Source& src = sources_[index];
      int status = 0;
      int type = 0;
      auto serial = serialize_if_needed();
      if (!src.unchanged()) status = FILE_NOT_OPENED;  // not the file that was checked: a reader would read garbage
      if (status == 0) fits_open_diskfile(&slot->file, src.path.c_str(), READONLY, &status);
      if (status == 0) fits_movabs_hdu(slot->file, src.hdu, &type, &status);
      if (status != 0) {
        int ignored = 0;
        if (slot->file) fits_close_file(slot->file, &ignored);
        slot->file = nullptr;
        slot->open_status = status;
      }
      return slot;
    }
    // Full: close the idle handle released last (see the header).
    Slot* victim = nullptr;
    for (auto& [i, slot] : slots_)
      if (slot->users == 0 && (!victim || slot->released > victim->released)) victim = slot.get();
    if (!victim) {
      idle_.wait(lock);
      continue;
    }
    int status = 0;
    if (victim->file) {
      auto serial = serialize_if_needed();
      fits_close_file(victim->file, &status);
    }
    slots_.erase(victim->index);
  }
}

void HandlePool::release(Slot* slot) {
  slot->io.unlock();
  std::lock_guard lock(mutex_);
  --slot->users;
  slot->released = ++tick_;
  if (slot->users == 0 && !slot->file) slots_.erase(slot->index);  // failed to open: try afresh next time
  idle_.notify_one();
}

int HandlePool::with(size_t index, const std::function<int(fitsfile*)>& fn) {
  Slot* slot = acquire(index);
  int status = slot->open_status ? slot->open_status : FILE_NOT_OPENED;
  if (slot->file) {
    auto serial = serialize_if_needed();
    status = fn(slot->file);
  }
  release(slot);
  return status;
}

bool HandlePool::Source::unchanged() const {
  struct stat now {};
  return ::stat(path.c_str(), &now) == 0 && now.st_dev == checked.st_dev && now.st_ino == checked.st_ino &&
         now.st_size == checked.st_size && now.st_mtim.tv_sec == checked.st_mtim.tv_sec &&
         now.st_mtim.tv_nsec == checked.st_mtim.tv_nsec;
}

// ---- FrameSource ------------------------------------------------------------

FrameSource::FrameSource(const std::vector<std::string>& paths, size_t max_open,
                         const std::function<int64_t()>& memory_bytes,
                         const std::function<void(size_t, size_t)>& checked)
    : paths_(paths) {
  if (paths.empty()) throw FileError{"no input frames", "", "give FITS files as arguments or with --list FILE"};
  std::vector<HandlePool::Source> sources;
  std::map<std::pair<dev_t, ino_t>, size_t> seen;  // the same file given twice shares a handle
  int64_t largest_in_memory = 0;                   // of the compressed files
  frame_source_.reserve(paths.size());
  for (size_t j = 0; j < paths.size(); ++j) {
    const std::string& path = paths[j];
    File file = open_read(path, "check the path (relative paths in a --list are relative to the list's directory)");
    ImageInfo info = find_image(file);
    const LONGLONG in_memory = file.get()->Fptr->filesize;  // decompressed, for a compressed file
    if (j == 0) {
      shape_ = info.shape;
      first_path_ = path;
      first_header_ = image_header_text(file, info.hdu);
    } else if (!info.shape.same_pixels(shape_)) {
      throw FileError{"different shape: " + info.shape.text() + " pixels, but the first frame, " + first_path_ +
                          ", has " + shape_.text(),
                      path, "every frame must have the first frame's width, height and planes"};
    }
    file.close_quietly();
    struct stat st {};
    size_t index = sources.size();
    if (::stat(path.c_str(), &st) == 0) {
      auto [it, added] = seen.emplace(std::make_pair(st.st_dev, st.st_ino), index);
      if (!added && sources[it->second].hdu == info.hdu) index = it->second;
    }
    if (index == sources.size()) {
      sources.push_back({path, info.hdu, st});
      if (in_memory != st.st_size) {
        ++compressed_;
        largest_in_memory = std::max<int64_t>(largest_in_memory, in_memory);
      }
    }
    frame_source_.push_back(index);
    if (checked) checked(j + 1, paths.size());
  }
  sources_ = sources.size();
  if (largest_in_memory > 0)
    max_open = std::min<size_t>(max_open, static_cast<size_t>(std::max<int64_t>(1, memory_bytes() / largest_in_memory)));
  pool_ = std::make_unique<HandlePool>(std::move(sources), std::max<size_t>(1, max_open));
}

std::optional<FileError> FrameSource::failure() const {
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

int FrameSource::provide(void* user, int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols,
                         int32_t channel, float* dst, int64_t dst_stride) {
  auto* self = static_cast<FrameSource*>(user);
  if (self->stopped_) return 1;
  const auto t0 = std::chrono::steady_clock::now();
  int code = 1;
  try {
    code = self->read(frame, row0, rows, col0, cols, channel, dst, dst_stride);
  } catch (...) {
    std::lock_guard lock(self->failure_mutex_);
    if (!self->failure_) self->failure_ = FileError{"reading failed: out of memory", "", ""};
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
  self->read_ns_ += ns.count();
  return code;
}

int FrameSource::read(int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int channel, float* dst,
                      int64_t dst_stride) {
  if (frame < 0 || frame >= frames() || rows < 1 || cols < 1 || row0 < 0 || col0 < 0 || row0 + rows > shape_.height ||
      col0 + cols > shape_.width || channel < 0 || channel >= shape_.channels || dst_stride < cols) {
    std::lock_guard lock(failure_mutex_);
    if (!failure_) failure_ = FileError{"the library asked for pixels outside the frame", "", "report this bug"};
    return 1;
  }
  const size_t j = static_cast<size_t>(frame);
  // FITS pixels count from 1: x = column, y = row, z = plane.
  long first[3] = {static_cast<long>(col0 + 1), static_cast<long>(row0 + 1), channel + 1};
  long last[3] = {static_cast<long>(col0 + cols), static_cast<long>(row0 + rows), channel + 1};
  long step[3] = {1, 1, 1};
  thread_local std::vector<float> staging;
  const bool direct = dst_stride == cols;
  float* out = dst;
  if (!direct) {
    staging.resize(static_cast<size_t>(rows * cols));
    out = staging.data();
  }
  int status = pool_->with(frame_source_[j], [&](fitsfile* f) {
    int s = 0, any_null = 0;
    float null_value = read_null_value(f);
    fits_read_subset(f, TFLOAT, first, last, step, &null_value, out, &any_null, &s);
    return s;
  });
  if (status != 0) {
    std::lock_guard lock(failure_mutex_);
    if (!failure_)
      failure_ = FileError{"reading rows " + std::to_string(row0 + 1) + "-" + std::to_string(row0 + rows) +
                               " of frame " + std::to_string(frame + 1) + " failed: " + status_text(status),
                           paths_[j], "the file may be damaged, or it changed or went away while stacking"};
    return 1;
  }
  if (!direct)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * dst_stride, out + r * cols, static_cast<size_t>(cols) * sizeof(float));
  floats_read_ += rows * cols;
  return 0;
}

// ---- limits -----------------------------------------------------------------

namespace {

size_t soft_nofile() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1024;
  return static_cast<size_t>(limit.rlim_cur);
}

}  // namespace

size_t max_open_limit() {
  const size_t soft = soft_nofile();
  // cfitsio itself opens at most NMAXFILES (10000) files.
  return std::clamp<size_t>(soft > 32 ? soft - 32 : 1, 1, 9000);
}

size_t default_open_limit() {
  const size_t soft = soft_nofile();
  const size_t half = soft > 64 ? (soft - 64) / 2 : 0;
  // Never above what --max-open-files may ask for.
  return std::min(std::clamp<size_t>(half, 4, 512), max_open_limit());
}

}  // namespace plx::cli::fits
