/* The C side of the Go binding: helpers that wire the package's exported Go
 * trampolines (callbacks.go) into the library's structs and calls, so that the
 * casts between Go's and the header's function types happen in C. Every
 * user_data is a runtime/cgo.Handle carried as an integer. */
#ifndef PARALLAX_GO_SHIM_H
#define PARALLAX_GO_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <parallax.h>

void plxgo_set_log(plx_runtime_options_t* options, uintptr_t handle);
void plxgo_set_progress(plx_run_options_t* options, uintptr_t handle);
plx_status_t plxgo_parallel_for(plx_runtime_t* runtime, const plx_plan_t* plan, int64_t begin, int64_t end,
                                 uintptr_t handle, const plx_run_options_t* options);
plx_status_t plxgo_parallel_for_async(plx_runtime_t* runtime, const plx_plan_t* plan, int64_t begin, int64_t end,
                                       uintptr_t handle, const plx_run_options_t* options, plx_job_t** job);
void plxgo_set_reduce(plx_reduce_desc_t* desc, uintptr_t handle, int custom);
void plxgo_set_task(plx_task_t* task, uintptr_t handle);
void plxgo_set_rows_provider(plx_rows_input_t* input, uintptr_t handle);
void plxgo_set_rows_cpu(plx_rows_desc_t* desc, uintptr_t handle);
void plxgo_set_stack_provider(plx_stack_desc_t* desc, uintptr_t handle);
void plxgo_set_coordinate_map(plx_coadd_input_t* input, uintptr_t handle);
void plxgo_set_coadd_tile(plx_coadd_desc_t* desc, uintptr_t handle);

#endif
