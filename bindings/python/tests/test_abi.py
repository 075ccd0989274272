"""The ctypes declarations against the real header and library."""
import ctypes
import re
import shutil
import subprocess

import pytest

from parallax import _abi, _library

SIZES_X86_64 = {"plx_runtime_options_t": 120, "plx_workload_t": 80, "plx_caps_t": 112, "plx_device_info_t": 584,
                "plx_plan_info_t": 104, "plx_plan_device_t": 56, "plx_progress_t": 48, "plx_run_report_t": 104,
                "plx_run_options_t": 120, "plx_reduce_desc_t": 64, "plx_task_context_t": 296, "plx_task_t": 40,
                "plx_task_result_t": 272, "plx_rows_input_t": 32, "plx_rows_output_t": 16, "plx_kernel_scalar_t": 16,
                "plx_rows_desc_t": 88, "plx_kernel_arg_t": 32, "plx_device_figures_t": 80,
                "plx_stack_desc_t": 176, "plx_stack_result_t": 160,
                "plx_coadd_input_t": 168, "plx_coadd_desc_t": 88, "plx_coadd_result_t": 80,
                "plx_gemm_desc_t": 176, "plx_gemm_result_t": 64, "plx_gemm_tune_options_t": 32,
                "plx_gemm_tune_result_t": 312}


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="sizes pinned for LP64")
def test_struct_sizes():
    assert {s.__name__: ctypes.sizeof(s) for s in _abi.STRUCTS} == SIZES_X86_64


@pytest.mark.skipif(not shutil.which("cc"), reason="needs a C compiler")
def test_struct_layout_matches_the_header(repo_dir, tmp_path):
    lines = []
    for struct in _abi.STRUCTS:
        name = struct.__name__
        lines.append(f'printf("{name} %zu\\n", sizeof({name}));')
        lines += [f'printf("{name}.{f} %zu %zu\\n", offsetof({name}, {f}), sizeof((({name}*)0)->{f}));'
                  for f, _ in struct._fields_]
    source = tmp_path / "layout.c"
    source.write_text('#include <stdio.h>\n#include <stddef.h>\n#include "parallax.h"\nint main(void) {\n'
                      + "\n".join(lines) + "\nreturn 0;\n}\n")
    exe = tmp_path / "layout"
    subprocess.run(["cc", "-std=c99", "-I", str(repo_dir / "include"), str(source), "-o", str(exe)], check=True)
    c_layout = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    py_layout = []
    for struct in _abi.STRUCTS:
        py_layout.append(f"{struct.__name__} {ctypes.sizeof(struct)}")
        py_layout += [f"{struct.__name__}.{f} {getattr(struct, f).offset} {getattr(struct, f).size}"
                      for f, _ in struct._fields_]
    assert py_layout == c_layout


def test_every_export_is_declared(repo_dir):
    plugin_def = (repo_dir / "plugin.def").read_text()
    exported = set(re.findall(r"^\s+(plx_\w+)\s*$", plugin_def, re.M))
    assert exported == set(_library.SIGNATURES)
    for name in exported:
        fn = getattr(_library.lib, name)
        assert fn.argtypes is not None, name


def test_init_functions_fill_the_library_defaults():
    options = _abi.plx_runtime_options_t()
    _library.lib.plx_runtime_options_init(ctypes.byref(options), ctypes.sizeof(options))
    assert (options.struct_size, options.ram_fraction, options.vram_fraction, options.log_level) == (120, 0.75, 0.5, 3)
    assert options.fault_injection is None and not options.log_callback
    assert (options.cache_dir, options.device_memory_limit_bytes, options.device_replicas, options.reserved0) == (
        None, 0, 0, 0)
    workload = _abi.plx_workload_t()
    _library.lib.plx_workload_init(ctypes.byref(workload), ctypes.sizeof(workload))
    assert (workload.struct_size, workload.items, workload.working_set_factor) == (80, 0, 1.0)
    run = _abi.plx_run_options_t()
    _library.lib.plx_run_options_init(ctypes.byref(run), ctypes.sizeof(run))
    assert (run.struct_size, run.name, run.workers, run.progress_interval_ms, run.grain) == (120, None, 0, 200, 0)
    assert not run.progress and not run.cancel and not run.report and run.progress_user_data is None
    assert (run.max_attempts, run.fail_fast, run.backoff_base_s, run.backoff_cap_s, run.grow_after,
            run.memory_budget_bytes, run.jitter_seed) == (3, 0, 0.05, 5.0, 4, 0, 0)
    desc = _abi.plx_reduce_desc_t()
    _library.lib.plx_reduce_desc_init(ctypes.byref(desc), ctypes.sizeof(desc))
    assert (desc.struct_size, desc.op, desc.value_size, desc.identity, desc.grain) == (64, 0, 0, None, 0)
    rows = _abi.plx_rows_desc_t()
    _library.lib.plx_rows_desc_init(ctypes.byref(rows), ctypes.sizeof(rows))
    assert (rows.struct_size, rows.rows, rows.input_count, rows.output_count, rows.scalar_count,
            rows.work_items_per_row, rows.rows_per_chunk) == (88, 0, 0, 0, 0, 1, 0)
    assert not rows.inputs and not rows.outputs and not rows.scalars and not rows.cpu_fallback
