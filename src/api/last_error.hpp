// The calling thread's last failure (plx_last_error_message/status).
#pragma once

#include <string_view>

#include "core/error.hpp"
#include "parallax.h"

namespace plx::api {

// Records the failure for this thread and returns its status. Never throws,
// never allocates: the message is truncated to a fixed thread-local buffer.
plx_status_t set_error(plx_status_t status, std::string_view message) noexcept;
// An internal failure, its message prefixed with the entry point's name
// (unless it starts with it).
plx_status_t set_error(const char* function, const Error& error) noexcept;

template <class... Args>
plx_status_t fail(plx_status_t status, Args&&... parts) {
  return set_error(status, cat(std::forward<Args>(parts)...));
}

}  // namespace plx::api
