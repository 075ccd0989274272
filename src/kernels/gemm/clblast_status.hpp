// CLBlast's status codes as Parallax errors: CLBlast's own name for the code
// in the message ("kInvalidLocalMemUsage (-2046)"), and the class that says
// what to do: out_of_memory (a smaller tile may fit), invalid_argument (a
// check of ours let through what CLBlast refuses: a bug, reported as such),
// device (anything else the device or its driver failed at).
#pragma once

#include <string>

#include "core/error.hpp"

namespace plx::gemm {

// "kInvalidLocalMemUsage (-2046)"; "CLBlast status N" for a code not in 1.5.3's table.
std::string clblast_status_name(int code);

// The Parallax class of a CLBlast status (see above); Code::ok for kSuccess.
Code clblast_status_class(int code);

// The Error for a failed CLBlast call: `what` names the routine ("clblast::Gemm<float>").
Error clblast_error(int code, const std::string& what, const std::string& device);

}  // namespace plx::gemm
