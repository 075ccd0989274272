// FITS frames for plx_stack's tile provider: every input checked up front,
// then read tile by tile through a bounded pool of open cfitsio handles.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fits_file.hpp"

namespace plx::cli::fits {

// At most `capacity` files open at once, each used by one thread at a time
// (cfitsio handles are not thread-safe, even in its reentrant build, which
// only makes distinct handles independent; without one, fits_is_reentrant()
// = 0, every cfitsio call is serialized). When full, the pool closes the
// idle handle released most recently: plx_stack reads the frames in the
// same order again for every band of rows, where least-recently-used would
// close exactly the file needed next and reopen every file on every band,
// while this keeps capacity - 1 of them open across bands.
class HandlePool {
 public:
  struct Source {
    std::string path;
    int hdu = 1;
    struct stat checked {};  // when its header was checked

    // Still the file that was checked (same inode, size and mtime): one
    // replaced while stacking would be read as if it had the checked shape.
    bool unchanged() const;
  };

  HandlePool(std::vector<Source> sources, size_t capacity);
  ~HandlePool();
  HandlePool(const HandlePool&) = delete;
  HandlePool& operator=(const HandlePool&) = delete;

  // Calls fn(handle) with source `index`'s file open on its image HDU, locked
  // for this thread; returns fn's cfitsio status, or the status of opening.
  int with(size_t index, const std::function<int(fitsfile*)>& fn);

  size_t capacity() const { return capacity_; }
  size_t peak_open() const;
  int64_t opens() const;

 private:
  struct Slot;
  Slot* acquire(size_t index);
  void release(Slot* slot);

  std::vector<Source> sources_;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::unordered_map<size_t, std::unique_ptr<Slot>> slots_;
  uint64_t tick_ = 0;
  size_t peak_ = 0;
  int64_t opens_ = 0;
};

// The frames of a stack, from FITS files.
class FrameSource {
 public:
  // Opens each input in turn, checks it holds an image with the first one's
  // shape, and closes it; throws FileError naming the file otherwise.
  // `checked(done, total)` is called after each. The same file given twice
  // is read through one handle. Compressed files (.gz and the like: cfitsio
  // holds each open one decompressed in memory) are kept open only as many
  // at a time as fit `memory_bytes()`, asked when there are some.
  FrameSource(const std::vector<std::string>& paths, size_t max_open, const std::function<int64_t()>& memory_bytes,
              const std::function<void(size_t, size_t)>& checked = {});

  int64_t frames() const { return static_cast<int64_t>(frame_source_.size()); }
  const ImageShape& shape() const { return shape_; }
  const std::string& first_path() const { return first_path_; }
  // The first frame's header (image_header_text), read with the check.
  const std::string& first_header() const { return first_header_; }
  size_t distinct_files() const { return sources_; }
  // Inputs cfitsio decompresses whole into memory when it opens them.
  size_t compressed_files() const { return compressed_; }

  // plx_stack_provider_fn: user_data is the FrameSource.
  static int provide(void* user, int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int32_t channel,
                     float* dst, int64_t dst_stride);

  // Set by provide when a read failed: the first failure, naming the file.
  std::optional<FileError> failure() const;
  // Stops reads (provide fails at once): for an interrupt.
  void stop() { stopped_ = true; }

  // Seconds spent inside provide, summed over the threads that called it.
  double read_thread_s() const { return static_cast<double>(read_ns_.load()) * 1e-9; }
  int64_t bytes_read() const { return floats_read_.load() * 4; }
  size_t open_limit() const { return pool_->capacity(); }
  size_t peak_open() const { return pool_->peak_open(); }
  int64_t opens() const { return pool_->opens(); }

 private:
  int read(int64_t frame, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int channel, float* dst,
           int64_t dst_stride);

  std::vector<std::string> paths_;
  size_t compressed_ = 0;
  std::vector<size_t> frame_source_;  // frame -> pool index
  size_t sources_ = 0;
  ImageShape shape_;
  std::string first_path_;
  std::string first_header_;
  std::unique_ptr<HandlePool> pool_;
  std::atomic<int64_t> read_ns_{0};
  std::atomic<int64_t> floats_read_{0};
  std::atomic<bool> stopped_{false};
  mutable std::mutex failure_mutex_;
  std::optional<FileError> failure_;
};

// Files this process may keep open for inputs: half of RLIMIT_NOFILE's soft
// limit after a reserve of 64 (outputs, libraries, OpenCL drivers), at least
// 4 and at most 512 (each open cfitsio file holds about 115 KiB of buffers).
size_t default_open_limit();
// The most --max-open-files may ask: the soft limit less 32.
size_t max_open_limit();

}  // namespace plx::cli::fits
