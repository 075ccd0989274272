// CLBlast's header, after ours for OpenCL: clblast.h includes CL/cl.h, which
// must see the OpenCL version Parallax targets (device/opencl.hpp) first.
#pragma once

#include "device/opencl.hpp"
// (keep this order)
#include <clblast.h>
