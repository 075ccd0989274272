"""The `parallax` command as a user runs it (ctest passes PARALLAX_CLI and
PARALLAX_SOURCE_DIR)."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

CLI = os.environ.get("PARALLAX_CLI", "parallax")
SOURCE = os.environ.get("PARALLAX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PROFILES = os.path.join(SOURCE, "profiles")
GiB = 1 << 30


def run(*args, env=None, prefix=()):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*prefix, CLI, *args], capture_output=True, text=True, env=full_env, timeout=120)


def run_json(*args, **kwargs):
    result = run(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def profile(name):
    return os.path.join(PROFILES, name)


def nproc():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    return int(subprocess.run(["nproc"], capture_output=True, text=True, env=env).stdout)


def test_info_json_reports_usable_cpus_like_nproc():
    info = run_json("info")
    for key in ("logical", "physical", "usable", "numa_nodes"):
        assert isinstance(info["cpu"][key], int) and info["cpu"][key] >= 1
    for key in ("total_bytes", "available_bytes", "budget_bytes"):
        assert info["memory"][key] > 0
    assert "limit_bytes" in info["memory"]
    assert isinstance(info["devices"], list)
    if info["cpu"]["quota"] is None:
        assert info["cpu"]["usable"] == nproc()
    else:
        assert info["cpu"]["usable"] <= nproc()


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) not installed")
def test_info_sees_taskset():
    info = run_json("info", prefix=("taskset", "-c", "0"))
    assert info["cpu"]["usable"] == 1
    assert info["cpu"]["affinity"] == 1


def test_info_human_summary():
    result = run("info", "--profile", profile("server-128c-2numa-512g-4gpu.json"))
    assert result.returncode == 0, result.stderr
    assert "256 logical, 128 physical, 2 NUMA nodes" in result.stdout
    assert "usable 256" in result.stdout
    assert result.stdout.count("NVIDIA H100 80GB HBM3") == 4
    assert "budget 360 GiB" in result.stdout


def test_container_plan_from_the_issue():
    plan = run_json("plan", "--profile", profile("container-64c-quota2-2g.json"), "--kind", "cpu",
                    "--items", "13000", "--bytes-per-item", "24883200")
    assert plan["cpu_workers"] <= 2
    assert plan["streaming"] is True
    assert plan["max_chunk_bytes"] * plan["cpu_workers"] <= 0.75 * 2 * GiB
    for key in ("use_gpu", "items_per_chunk", "rows_per_chunk", "gpu_rows_per_chunk", "reasons"):
        assert key in plan
    assert len(plan["reasons"]) >= 3


def test_plan_human_summary_has_reasons():
    result = run("plan", "--profile", profile("workstation-32c-128g-1gpu.json"), "--kind", "mixed",
                 "--items", "13000", "--bytes-per-item", "24883200", "--rows", "1080", "--bytes-per-row", "23040",
                 "--layout", "across", "--working-set", "3", "--name", "seestar")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Plan 'seestar'" in out
    assert "NVIDIA GeForce RTX 4090" in out
    assert "gpu_rows_per_chunk    5" in out
    assert "Why:" in out and "memory budget" in out


@pytest.mark.parametrize("name", sorted(os.listdir(PROFILES)))
def test_every_profile_plans_the_seestar_stack(name):
    plan = run_json("plan", "--profile", profile(name), "--kind", "mixed", "--items", "13000",
                    "--bytes-per-item", "24883200", "--rows", "1080", "--bytes-per-row", "23040",
                    "--layout", "across", "--working-set", "3")
    assert plan["cpu_workers"] >= 1
    assert 1 <= plan["rows_per_chunk"] <= 1080
    assert plan["streaming"] is True


def test_sizes_accept_units():
    plan = run_json("plan", "--profile", profile("tiny-2c-4g.json"), "--items", "4", "--bytes-per-item", "2GiB",
                    "--per-worker-bytes", "1.5 MB")
    assert plan["workload"]["bytes_per_item"] == 2 * GiB
    assert plan["workload"]["per_worker_bytes"] == 1_500_000


def test_verbose_logs_the_plan_summary():
    result = run("plan", "--profile", profile("tiny-2c-4g.json"), "--items", "10", "--bytes-per-item", "1000", "-v")
    assert result.returncode == 0
    summaries = [line for line in result.stderr.splitlines() if "parallel_plan_summary" in line]
    assert len(summaries) == 1
    assert json.loads(summaries[0].split("] ", 1)[1])["cpu_workers"] == 2


def test_no_opencl_icd_is_not_an_error():
    with tempfile.TemporaryDirectory() as empty:
        info = run_json("info", env={"OCL_ICD_VENDORS": empty})
    assert info["devices"] == []


def test_gpu_required_without_a_gpu_fails_clearly():
    info = run_json("info", "--device-types", "any")
    result = run("info", "--device", "gpu", "--device-filter", "no-such-device-anywhere")
    assert result.returncode == 1
    assert "--device gpu but no OpenCL device" in result.stderr and "PLX_ERR_NO_DEVICE" in result.stderr
    assert "--device auto" in result.stderr and "--device-filter 'no-such-device-anywhere'" in result.stderr
    if info["devices"]:  # PoCL, as on every test machine: admitted when CPU devices are allowed
        ok = run("info", "--device", "gpu", "--device-types", "cpu,gpu,accelerator", "--json")
        assert ok.returncode == 0, ok.stderr
        assert any(d["usable"] for d in json.loads(ok.stdout)["devices"])


@pytest.mark.parametrize("args, message", [
    (("plan", "--items", "10"), "--bytes-per-item is required"),
    (("plan", "--items", "0", "--bytes-per-item", "1"), "--items"),
    (("plan", "--items", "10", "--bytes-per-item", "lots"), "not a size"),
    (("plan", "--items", "10", "--bytes-per-item", "1", "--kind", "quantum"), "--kind"),
    (("bogus",), "bogus"),
    ((), "subcommand"),
])
def test_usage_errors(args, message):
    result = run(*args)
    assert result.returncode == 2, result.stderr  # README: 2 for usage errors (not CLI11's own codes)
    assert message in result.stderr + result.stdout


@pytest.mark.parametrize("args, message", [
    (("info", "--profile", "/nonexistent/machine.json"), "cannot read machine profile '/nonexistent/machine.json'"),
    (("info", "--ram-fraction", "1.5"), "--ram-fraction must be in (0, 1]"),
    (("plan", "--items", "10", "--bytes-per-item", "1", "--working-set", "0.5"), "working_set_factor"),
    (("plan", "--profile", "PROFILES/tiny-2c-4g.json", "--items", "10", "--bytes-per-item", "1",
      "--per-worker-bytes", "3GiB"), "does not fit"),
    (("plan", "--items", "10", "--bytes-per-item", "100", "--rows", "5"), "rows and bytes_per_row go together"),
])
def test_library_errors_go_to_stderr(args, message):
    result = run(*[a.replace("PROFILES", PROFILES) for a in args])
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("parallax: error: ")
    assert message in result.stderr


def test_malformed_profile_names_line_and_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "cpu": {\n    "logical": "many"\n  },\n  "memory": {"total_bytes": 1}\n}\n')
    result = run("info", "--profile", str(bad))
    assert result.returncode == 1
    assert "line 3" in result.stderr and "/cpu/logical" in result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert "0.1.0" in result.stdout


def test_bench_exec_quick_runs_and_reports_every_key():
    result = run_json("bench", "--suite", "exec", "--quick", "--reps", "1")
    for key in ("parallel_for_overhead_ratio", "tasks_overhead_ratio", "parallel_for_speedup"):
        assert result[key] > 0
    assert result["parallel_for"]["large"]["elements"] == 1 << 20
    assert result["tasks"]["count"] == 10000
    assert result["workers"] >= 1


def test_bench_stack_quick_checks_against_astropy_and_the_opencl_path():
    # PoCL as the device: the suite fails if the OpenCL or the astropy result differs.
    result = run_json("bench", "--suite", "stack", "--quick", "--reps", "1", "--device-types", "cpu",
                      env={"POCL_KERNEL_CACHE": "0"})
    for key in ("mean_gbps", "sigma_clip_s", "sigma_vs_mean_ratio", "median_s", "tbb_mean_s", "read_gbps",
                "mean_vs_read_ratio", "astropy_sigma_clip_s", "speedup_vs_astropy", "numpy_median_s",
                "speedup_vs_numpy_median", "gpu_sigma_clip_host_gbps"):
        assert result[key] > 0, key
    assert result["agrees_with_astropy"]["count_mismatches"] == 0
    assert result["simd_target"]
    assert result["gpu_device_index"] >= 0


def test_bench_stack_shape_many_frames_checks_against_astropy_and_the_opencl_path():
    # 300 frames: the CPU's bitonic merges in memory and the OpenCL sort in global memory (PoCL).
    result = run_json("bench", "--suite", "stack", "--quick", "--reps", "1", "--shape", "300,12,20",
                      "--device-types", "cpu", env={"POCL_KERNEL_CACHE": "0"})
    assert (result["frames"], result["height"], result["width"]) == (300, 12, 20)
    assert result["agrees_with_astropy"]["count_mismatches"] == 0
    assert result["agrees_with_astropy"]["max_relative_difference"] <= 1e-6
    assert result["gpu_vs_cpu_max_relative_difference"] <= 1e-6


def test_bench_stack_bad_shape_is_a_usage_error():
    for shape in ("300,12", "0,12,20", "a,b,c"):
        result = run("bench", "--suite", "stack", "--shape", shape)
        assert result.returncode == 2, shape
        assert "--shape" in result.stderr, shape
    # Valid sides, but a cube no machine holds: a message, not a crash.
    result = run("bench", "--suite", "stack", "--shape", "1000000,1000000,1000000")
    assert result.returncode == 1
    assert "does not fit in memory" in result.stderr and "--shape" in result.stderr


def test_bench_coadd_quick_checks_against_reproject_and_the_opencl_path():
    # PoCL as the device: the suite fails if the OpenCL or the reproject result differs.
    result = run_json("bench", "--suite", "coadd", "--quick", "--reps", "1", "--device-types", "cpu",
                      env={"POCL_KERNEL_CACHE": "0"})
    for key in ("coadd_s", "output_mpixels_per_s", "reproject_s", "speedup_vs_reproject", "gpu_coadd_s"):
        assert result[key] > 0, key
    agreement = result["agrees_with_reproject"]
    assert agreement["max_relative_difference"] <= 1e-6 and agreement["nan_mask_mismatches"] == 0
    assert agreement["covered"] == result["covered"] > 0
    assert result["native_wcs"] == 4 and result["gpu_device_index"] >= 0


def test_bench_unknown_suite_is_a_usage_error():
    result = run("bench", "--suite", "quantum")
    assert result.returncode == 2
    assert "--suite" in result.stderr


def test_bench_device_quick_measures_without_touching_the_planners_cache(tmp_path):
    # Figures of --quick's small sizes would understate a device (the full
    # suite caches its figures: plx_device_measure, tested in the unit suite).
    env = {"XDG_CACHE_HOME": str(tmp_path), "POCL_KERNEL_CACHE": "0"}
    result = run_json("bench", "--suite", "device", "--quick", env=env)
    assert result["devices"], "PoCL is installed by make deps"
    for device in result["devices"]:
        for key in ("h2d_pinned_gbps", "h2d_pageable_gbps", "d2h_pinned_gbps", "device_copy_gbps", "launch_us",
                    "launch_roundtrip_us", "stream_gbps"):
            assert device[key] > 0, key
        assert device["stream_bytes"] == 64 << 20
    assert not (tmp_path / "parallax").exists()
    info = run_json("info", "--device-types", "any", env=env)
    assert not [d for d in info["devices"] if d["measured_gbps"]]
