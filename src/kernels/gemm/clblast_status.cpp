#include "kernels/gemm/clblast_status.hpp"

#include "kernels/gemm/clblast_include.hpp"

#include "device/cl_status.hpp"

namespace plx::gemm {
namespace {

using clblast::StatusCode;

struct Entry {
  StatusCode code;
  const char* name;
  Code klass;
};

// Every StatusCode of CLBlast 1.5.3's clblast.h, in its order. The OpenCL
// ones keep CLBlast's names (kOpenCLOutOfResources, not CL_OUT_OF_RESOURCES)
// because the message says which library reported them.
constexpr Entry kTable[] = {
    {StatusCode::kSuccess, "kSuccess", Code::ok},
    {StatusCode::kOpenCLCompilerNotAvailable, "kOpenCLCompilerNotAvailable", Code::device},
    {StatusCode::kTempBufferAllocFailure, "kTempBufferAllocFailure", Code::out_of_memory},
    {StatusCode::kOpenCLOutOfResources, "kOpenCLOutOfResources", Code::out_of_memory},
    {StatusCode::kOpenCLOutOfHostMemory, "kOpenCLOutOfHostMemory", Code::out_of_memory},
    {StatusCode::kOpenCLBuildProgramFailure, "kOpenCLBuildProgramFailure", Code::device},
    {StatusCode::kInvalidValue, "kInvalidValue", Code::invalid_argument},
    {StatusCode::kInvalidCommandQueue, "kInvalidCommandQueue", Code::device},
    {StatusCode::kInvalidMemObject, "kInvalidMemObject", Code::invalid_argument},
    {StatusCode::kInvalidBinary, "kInvalidBinary", Code::device},
    {StatusCode::kInvalidBuildOptions, "kInvalidBuildOptions", Code::device},
    {StatusCode::kInvalidProgram, "kInvalidProgram", Code::device},
    {StatusCode::kInvalidProgramExecutable, "kInvalidProgramExecutable", Code::device},
    {StatusCode::kInvalidKernelName, "kInvalidKernelName", Code::device},
    {StatusCode::kInvalidKernelDefinition, "kInvalidKernelDefinition", Code::device},
    {StatusCode::kInvalidKernel, "kInvalidKernel", Code::device},
    {StatusCode::kInvalidArgIndex, "kInvalidArgIndex", Code::device},
    {StatusCode::kInvalidArgValue, "kInvalidArgValue", Code::device},
    {StatusCode::kInvalidArgSize, "kInvalidArgSize", Code::device},
    {StatusCode::kInvalidKernelArgs, "kInvalidKernelArgs", Code::device},
    {StatusCode::kInvalidLocalNumDimensions, "kInvalidLocalNumDimensions", Code::device},
    {StatusCode::kInvalidLocalThreadsTotal, "kInvalidLocalThreadsTotal", Code::device},
    {StatusCode::kInvalidLocalThreadsDim, "kInvalidLocalThreadsDim", Code::device},
    {StatusCode::kInvalidGlobalOffset, "kInvalidGlobalOffset", Code::device},
    {StatusCode::kInvalidEventWaitList, "kInvalidEventWaitList", Code::device},
    {StatusCode::kInvalidEvent, "kInvalidEvent", Code::device},
    {StatusCode::kInvalidOperation, "kInvalidOperation", Code::device},
    {StatusCode::kInvalidBufferSize, "kInvalidBufferSize", Code::invalid_argument},
    {StatusCode::kInvalidGlobalWorkSize, "kInvalidGlobalWorkSize", Code::device},
    {StatusCode::kNotImplemented, "kNotImplemented", Code::unsupported},
    {StatusCode::kInvalidMatrixA, "kInvalidMatrixA", Code::invalid_argument},
    {StatusCode::kInvalidMatrixB, "kInvalidMatrixB", Code::invalid_argument},
    {StatusCode::kInvalidMatrixC, "kInvalidMatrixC", Code::invalid_argument},
    {StatusCode::kInvalidVectorX, "kInvalidVectorX", Code::invalid_argument},
    {StatusCode::kInvalidVectorY, "kInvalidVectorY", Code::invalid_argument},
    {StatusCode::kInvalidDimension, "kInvalidDimension", Code::invalid_argument},
    {StatusCode::kInvalidLeadDimA, "kInvalidLeadDimA", Code::invalid_argument},
    {StatusCode::kInvalidLeadDimB, "kInvalidLeadDimB", Code::invalid_argument},
    {StatusCode::kInvalidLeadDimC, "kInvalidLeadDimC", Code::invalid_argument},
    {StatusCode::kInvalidIncrementX, "kInvalidIncrementX", Code::invalid_argument},
    {StatusCode::kInvalidIncrementY, "kInvalidIncrementY", Code::invalid_argument},
    {StatusCode::kInsufficientMemoryA, "kInsufficientMemoryA", Code::invalid_argument},
    {StatusCode::kInsufficientMemoryB, "kInsufficientMemoryB", Code::invalid_argument},
    {StatusCode::kInsufficientMemoryC, "kInsufficientMemoryC", Code::invalid_argument},
    {StatusCode::kInsufficientMemoryX, "kInsufficientMemoryX", Code::invalid_argument},
    {StatusCode::kInsufficientMemoryY, "kInsufficientMemoryY", Code::invalid_argument},
    {StatusCode::kInsufficientMemoryTemp, "kInsufficientMemoryTemp", Code::out_of_memory},
    {StatusCode::kInvalidBatchCount, "kInvalidBatchCount", Code::invalid_argument},
    {StatusCode::kInvalidOverrideKernel, "kInvalidOverrideKernel", Code::invalid_argument},
    {StatusCode::kMissingOverrideParameter, "kMissingOverrideParameter", Code::invalid_argument},
    {StatusCode::kInvalidLocalMemUsage, "kInvalidLocalMemUsage", Code::device},
    {StatusCode::kNoHalfPrecision, "kNoHalfPrecision", Code::unsupported},
    {StatusCode::kNoDoublePrecision, "kNoDoublePrecision", Code::no_device},
    {StatusCode::kInvalidVectorScalar, "kInvalidVectorScalar", Code::invalid_argument},
    {StatusCode::kInsufficientMemoryScalar, "kInsufficientMemoryScalar", Code::invalid_argument},
    {StatusCode::kDatabaseError, "kDatabaseError", Code::device},
    {StatusCode::kUnknownError, "kUnknownError", Code::device},
    {StatusCode::kUnexpectedError, "kUnexpectedError", Code::device},
};

const Entry* find(int code) {
  for (const Entry& e : kTable)
    if (static_cast<int>(e.code) == code) return &e;
  return nullptr;
}

}  // namespace

std::string clblast_status_name(int code) {
  const Entry* e = find(code);
  return e ? cat(e->name, " (", code, ")") : cat("CLBlast status ", code);
}

Code clblast_status_class(int code) {
  if (const Entry* e = find(code)) return e->klass;
  // An OpenCL code CLBlast passed on without naming it.
  return is_opencl_out_of_memory(code) ? Code::out_of_memory : Code::device;
}

Error clblast_error(int code, const std::string& what, const std::string& device) {
  Code klass = clblast_status_class(code);
  std::string message = cat(what, " failed with ", clblast_status_name(code), " on device '", device, "'");
  // Our checks run before CLBlast's: its refusing an argument is our bug.
  if (klass == Code::invalid_argument) {
    klass = Code::internal;
    message += " (Parallax checked the arguments first: please report this)";
  }
  return Error{klass, message};
}

}  // namespace plx::gemm
