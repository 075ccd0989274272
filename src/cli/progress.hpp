// What long-running commands share: Ctrl-C handling that lets a command stop
// cleanly (and remove its temporary outputs), a progress bar with an ETA
// drawn on stderr when it is a terminal, and the run-options progress callback
// that drives it.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parallax.h"

namespace plx::cli {

using Clock = std::chrono::steady_clock;

// Seconds since `since`.
double seconds(Clock::time_point since);

// ---- interrupts ---------------------------------------------------------------

// Ctrl-C (and SIGTERM, SIGHUP) set a flag instead of killing the process, and
// print `note` (e.g. "parallax stack: stopping after the chunks under way (again
// to kill at once)"); a second one removes the temporary outputs remembered
// (remember_temporary) and ends the process at once. `note` must live as long
// as the process (a string literal).
void catch_interrupts(const char* note);

// Whether an interrupt came (lock-free: safe from any thread).
bool interrupted();

// 128 + the first interrupt's signal (130 for Ctrl-C, 143 for SIGTERM).
int interrupted_status();

// A temporary output for a second interrupt to remove; returns its slot for
// forget_temporary (-1 when none is free: 8 at once). From one thread.
int remember_temporary(const std::string& path);
void forget_temporary(int slot);

// Thrown by check_interrupt; commands turn it into interrupted_status().
struct Interrupted {};

void check_interrupt();

// Runs a FITS command's body and turns what it throws into the exit status and
// a message on stderr, "parallax <command>: ...": FileError, Failure (with the
// status name), Interrupted (interrupted_status(), no output) and std::bad_alloc (1, with
// `out_of_memory_hint`).
int report_failures(const char* command, const char* out_of_memory_hint, const std::function<int()>& body);

// ---- progress ------------------------------------------------------------------

// "1:05" or "1:02:03"; "--:--" for a negative or infinite time.
std::string clock_text(double s);

// A one-line bar on stderr, redrawn in place (only when enabled: on a terminal).
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  ~ProgressBar() { clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void draw(const std::string& label, double fraction, double elapsed_s, double eta_s);
  void clear();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::mutex mutex_;
};

// Progress of one library call through plx_run_options_t.progress: the library
// reports when chunks finish; a watcher thread redraws the bar twice a second
// in between, counting the ETA down, and calls `on_interrupt` (if any) once an
// interrupt comes, e.g. to make a provider fail so that the call stops at once.
// A call whose progress reaches done == total and then starts again enters its
// next phase: the bar's label is labels[phase] (the last one after that).
class RunProgress {
 public:
  RunProgress(ProgressBar& bar, std::vector<std::string> labels, std::function<void()> on_interrupt = {});
  ~RunProgress() { stop(); }
  RunProgress(const RunProgress&) = delete;
  RunProgress& operator=(const RunProgress&) = delete;

  // Stops the watcher thread (before the bar is cleared).
  void stop();

  // plx_progress_fn: user_data is the RunProgress. Returns non-zero (cancel)
  // once interrupted.
  static int callback(const plx_progress_t* progress, void* user_data);

 private:
  void redraw();

  ProgressBar& bar_;
  const std::vector<std::string> labels_;
  const std::function<void()> on_interrupt_;
  const Clock::time_point start_;
  std::mutex mutex_;
  size_t phase_ = 0;
  bool phase_done_ = false;
  int64_t total_ = -1;  // of the last report
  double fraction_ = 0, eta_s_ = -1;
  Clock::time_point reported_;
  std::jthread watcher_;
};

}  // namespace plx::cli
