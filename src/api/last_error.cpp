#include "api/last_error.hpp"

#include <cstring>

namespace plx::api {
namespace {

// Trivially destructible on purpose: a thread_local with a destructor would
// register a per-thread atexit handler that pins the library against dlclose.
struct LastError {
  plx_status_t status;
  char message[8192];
};
thread_local LastError last_error = {PLX_OK, {0}};

}  // namespace

plx_status_t set_error(plx_status_t status, std::string_view message) noexcept {
  constexpr std::string_view kCut = " [...]";
  size_t capacity = sizeof last_error.message - 1;
  size_t n = message.size();
  if (n > capacity) {
    n = capacity - kCut.size();
    std::memcpy(last_error.message, message.data(), n);
    std::memcpy(last_error.message + n, kCut.data(), kCut.size());
    n += kCut.size();
  } else {
    std::memcpy(last_error.message, message.data(), n);
  }
  last_error.message[n] = '\0';
  last_error.status = status;
  return status;
}

plx_status_t set_error(const char* function, const Error& error) noexcept {
  try {
    // Messages made under the run's default name (the function's) have it already.
    const std::string prefix = cat(function, ": ");
    if (error.message.rfind(prefix, 0) == 0) return set_error(static_cast<plx_status_t>(error.code), error.message);
    return set_error(static_cast<plx_status_t>(error.code), prefix + error.message);
  } catch (...) {  // no memory for the prefix: the message alone
    return set_error(static_cast<plx_status_t>(error.code), error.message);
  }
}

}  // namespace plx::api

extern "C" {

PLX_API const char* plx_last_error_message(void) { return plx::api::last_error.message; }

PLX_API plx_status_t plx_last_error_status(void) { return plx::api::last_error.status; }

}  // extern "C"
