#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>

#include "common.hpp"
#include "fits_file.hpp"

namespace plx::cli {

double seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// ---- interrupts ---------------------------------------------------------------

namespace {

// Lock-free, so safe to set from a signal handler and to read from any thread.
std::atomic<int> g_signal{0};  // the first interrupt's signal; 0 until one comes
static_assert(std::atomic<int>::is_always_lock_free);

// Set before the handler is installed, read only by it.
const char* g_note = "";
size_t g_note_size = 0;

// Temporary outputs that a second interrupt removes before it ends the
// process. Fixed slots: a signal handler may not allocate.
constexpr int kTempSlots = 8;
constexpr size_t kTempPathMax = 4096;
char g_temp_paths[kTempSlots][kTempPathMax];
std::atomic<bool> g_temp_used[kTempSlots];

void on_signal(int sig) {
  int none = 0;
  if (g_signal.compare_exchange_strong(none, sig)) {
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, g_note, g_note_size);
    return;
  }
  for (int i = 0; i < kTempSlots; ++i)
    if (g_temp_used[i].load()) ::unlink(g_temp_paths[i]);
  ::_exit(128 + sig);
}

}  // namespace

void catch_interrupts(const char* note) {
  g_note = note;
  g_note_size = std::strlen(note);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &action, nullptr);
}

bool interrupted() { return g_signal.load() != 0; }

int interrupted_status() {
  const int sig = g_signal.load();
  return 128 + (sig != 0 ? sig : SIGINT);
}

int remember_temporary(const std::string& path) {
  if (path.size() >= kTempPathMax) return -1;
  for (int i = 0; i < kTempSlots; ++i) {
    if (g_temp_used[i].load()) continue;
    std::memcpy(g_temp_paths[i], path.c_str(), path.size() + 1);
    g_temp_used[i].store(true);
    return i;
  }
  return -1;
}

void forget_temporary(int slot) {
  if (slot >= 0) g_temp_used[slot].store(false);
}

void check_interrupt() {
  if (interrupted()) throw Interrupted{};
}

// ---- progress ------------------------------------------------------------------

namespace {

int terminal_columns() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

}  // namespace

std::string clock_text(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "--:--";
  const long t = std::lround(s);
  char text[32];
  if (t >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", t / 60, t % 60);
  return text;
}

void ProgressBar::draw(const std::string& label, double fraction, double elapsed_s, double eta_s) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  fraction = std::clamp(fraction, 0.0, 1.0);
  std::string right = " ";  // appended piece by piece: GCC 12 warns falsely on " " + std::string&&
  right += std::to_string(static_cast<int>(fraction * 100)) + "%  " + clock_text(elapsed_s) + " elapsed, " +
           (eta_s >= 0 ? clock_text(eta_s) + " left" : "--:-- left");
  const int width = std::max(10, terminal_columns() - static_cast<int>(label.size() + right.size()) - 4);
  const int filled = static_cast<int>(fraction * width);
  std::string line =
      "\r\033[K" + label + " [" + std::string(filled, '#') + std::string(width - filled, '.') + "]" + right;
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::clear() {
  std::lock_guard lock(mutex_);
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

RunProgress::RunProgress(ProgressBar& bar, std::vector<std::string> labels, std::function<void()> on_interrupt)
    : bar_(bar),
      labels_(std::move(labels)),
      on_interrupt_(std::move(on_interrupt)),
      start_(Clock::now()),
      reported_(start_) {
  watcher_ = std::jthread([this](std::stop_token stop) {
    for (int tick = 0; !stop.stop_requested(); ++tick) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (interrupted() && on_interrupt_) on_interrupt_();
      if (tick % 5 == 4) redraw();
    }
  });
}

void RunProgress::stop() {
  if (watcher_.joinable()) {
    watcher_.request_stop();
    watcher_.join();
  }
}

int RunProgress::callback(const plx_progress_t* p, void* user) {
  auto* self = static_cast<RunProgress*>(user);
  if (interrupted()) {
    if (self->on_interrupt_) self->on_interrupt_();
    return 1;
  }
  {
    std::lock_guard lock(self->mutex_);
    // A phase is over once it reported its end; the next one shows by going
    // back, or by another total (a short phase may report its end alone).
    if (self->phase_done_ && (p->done < p->total || p->total != self->total_)) {
      ++self->phase_;
      self->phase_done_ = false;
    }
    self->total_ = p->total;
    if (p->done >= p->total) self->phase_done_ = true;
    self->fraction_ = p->total > 0 ? static_cast<double>(p->done) / static_cast<double>(p->total) : 0;
    self->eta_s_ = p->eta_s;
    self->reported_ = Clock::now();
  }
  self->redraw();
  return 0;
}

void RunProgress::redraw() {
  std::string label;
  double fraction, eta;
  {
    std::lock_guard lock(mutex_);
    label = labels_.empty() ? std::string() : labels_[std::min(phase_, labels_.size() - 1)];
    fraction = fraction_;
    eta = eta_s_ >= 0 ? std::max(0.0, eta_s_ - seconds(reported_)) : -1;
  }
  bar_.draw(label, fraction, seconds(start_), eta);
}

int report_failures(const char* command, const char* out_of_memory_hint, const std::function<int()>& body) {
  try {
    return body();
  } catch (const FileError& e) {
    std::cerr << "parallax " << command << ": " << e.message() << "\n";
  } catch (const Failure& e) {
    std::cerr << "parallax " << command << ": " << e.message << " [" << plx_status_string(e.status) << "]\n";
  } catch (const Interrupted&) {
    std::cerr << "parallax " << command << ": interrupted; no output written\n";
    return interrupted_status();
  } catch (const std::bad_alloc&) {
    std::cerr << "parallax " << command << ": out of memory: " << out_of_memory_hint << "\n";
  }
  return 1;
}

}  // namespace plx::cli
