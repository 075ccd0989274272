// The calling thread's last error message, as a string for test failures.
#pragma once

#include <parallax.h>

#include <string>

inline std::string last_error() {
  const char* m = plx_last_error_message();
  return m ? m : "";
}
