"""`parallax bench --suite gemm` and `parallax tune` as a user runs them (ctest passes PARALLAX_CLI). Tuning itself
takes minutes even at the smallest fraction on PoCL (each configuration is a compile): it is run by hand, not here."""
import json
import os
import subprocess

CLI = os.environ.get("PARALLAX_CLI", "parallax")


def run(*args, env=None, timeout=300):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def test_bench_gemm_quick_reports_the_cpu_path_against_openblas_and_first_calls(tmp_path):
    result = run("bench", "--suite", "gemm", "--quick", "--reps", "1", "--device-types", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    r = json.loads(result.stdout)
    assert r["suite"] == "gemm" and r["precision"] == "F32" and r["workers"] >= 1
    (row,) = r["sizes"]
    assert row["n"] == 256 and row["cpu_gflops"] > 0
    if r["openblas_peer"]:
        assert row["openblas_gflops"] > 0 and row["cpu_vs_openblas"] > 0
    if row["devices"]:  # PoCL: measured on device buffers, then first calls in new processes
        assert row["devices"][0]["device_gflops"] > 0
        first = r["first_calls"][0]
        assert first["n"] == 64 and first["first_call_s"] > 0 and first["cached_first_call_s"] > 0


def test_bench_gemm_text_output():
    result = run("bench", "--suite", "gemm", "--quick", "--reps", "1")
    assert result.returncode == 0, result.stderr
    assert "GEMM benchmark" in result.stdout and "GFLOP/s" in result.stdout


def test_tune_without_a_device_says_how_to_get_one():
    result = run("tune", "--device-types", "gpu", "--device-filter", "no such device anywhere")
    assert result.returncode == 1
    assert "no usable OpenCL device" in result.stderr and "--device-types any" in result.stderr


def test_tune_checks_its_options():
    for args in (["--size", "10"], ["--fraction", "2"], ["--precision", "f16"], ["--kernels", "everything"]):
        result = run("tune", *args)
        assert result.returncode != 0 and result.stderr, args
    result = run("tune", "--device-index", "99", "--device-types", "any")
    assert result.returncode == 1 and "out of range" in result.stderr
