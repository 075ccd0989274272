// The CPUs this process may run on (its affinity). Tests that check that work
// ran concurrently need two: under `taskset -c 0` the runtime rightly runs one
// worker, and those checks say nothing.
#pragma once

#include <sched.h>

inline int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}
