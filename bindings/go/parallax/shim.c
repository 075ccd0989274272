#include "shim.h"

/* The Go trampolines, as cgo exports them (no const: Go cannot say it). */
extern void plxgoLog(void* user_data, plx_log_level_t level, char* message);
extern int plxgoProgress(plx_progress_t* progress, void* user_data);
extern int plxgoRange(int64_t begin, int64_t end, int32_t worker, void* user_data);
extern int plxgoReduceRange(int64_t begin, int64_t end, int32_t worker, void* partial, void* user_data);
extern int plxgoCombine(void* accumulated, void* partial, void* user_data);
extern plx_status_t plxgoTask(plx_task_context_t* context, void* user_data);
extern int plxgoRowsProvider(int64_t first_row, int64_t rows, void* dst, void* user_data);
extern int plxgoRowsCPU(int64_t first_row, int64_t rows, void** inputs, void** outputs, void* user_data);
extern int plxgoStackProvider(void* user_data, int64_t frame, int64_t row0, int64_t rows, int64_t col0,
                              int64_t cols, int32_t channel, float* dst, int64_t dst_stride);
extern int plxgoCoordinateMap(void* user_data, int64_t input, int64_t n, double* x_out, double* y_out,
                              double* x_in, double* y_in);
extern int plxgoCoaddTile(void* user_data, int64_t row0, int64_t rows, float* image, float* footprint);

void plxgo_set_log(plx_runtime_options_t* options, uintptr_t handle) {
  options->log_callback = (plx_log_fn)plxgoLog;
  options->log_user_data = (void*)handle;
}

void plxgo_set_progress(plx_run_options_t* options, uintptr_t handle) {
  options->progress = (plx_progress_fn)plxgoProgress;
  options->progress_user_data = (void*)handle;
}

plx_status_t plxgo_parallel_for(plx_runtime_t* runtime, const plx_plan_t* plan, int64_t begin, int64_t end,
                                 uintptr_t handle, const plx_run_options_t* options) {
  return plx_parallel_for(runtime, plan, begin, end, (plx_range_fn)plxgoRange, (void*)handle, options);
}

plx_status_t plxgo_parallel_for_async(plx_runtime_t* runtime, const plx_plan_t* plan, int64_t begin, int64_t end,
                                       uintptr_t handle, const plx_run_options_t* options, plx_job_t** job) {
  return plx_parallel_for_async(runtime, plan, begin, end, (plx_range_fn)plxgoRange, (void*)handle, options, job);
}

void plxgo_set_reduce(plx_reduce_desc_t* desc, uintptr_t handle, int custom) {
  desc->range = (plx_reduce_range_fn)plxgoReduceRange;
  desc->combine = custom ? (plx_combine_fn)plxgoCombine : NULL;
  desc->user_data = (void*)handle;
}

void plxgo_set_task(plx_task_t* task, uintptr_t handle) {
  task->fn = (plx_task_fn)plxgoTask;
  task->user_data = (void*)handle;
}

void plxgo_set_rows_provider(plx_rows_input_t* input, uintptr_t handle) {
  input->provider = (plx_rows_provider_fn)plxgoRowsProvider;
  input->provider_user_data = (void*)handle;
}

void plxgo_set_rows_cpu(plx_rows_desc_t* desc, uintptr_t handle) {
  desc->cpu_fallback = (plx_rows_cpu_fn)plxgoRowsCPU;
  desc->cpu_user_data = (void*)handle;
}

void plxgo_set_stack_provider(plx_stack_desc_t* desc, uintptr_t handle) {
  desc->provider = (plx_stack_provider_fn)plxgoStackProvider;
  desc->provider_user_data = (void*)handle;
}

void plxgo_set_coordinate_map(plx_coadd_input_t* input, uintptr_t handle) {
  input->map = (plx_coordinate_map_fn)plxgoCoordinateMap;
  input->map_user_data = (void*)handle;
}

void plxgo_set_coadd_tile(plx_coadd_desc_t* desc, uintptr_t handle) {
  desc->tile = (plx_coadd_tile_fn)plxgoCoaddTile;
  desc->tile_user_data = (void*)handle;
}
