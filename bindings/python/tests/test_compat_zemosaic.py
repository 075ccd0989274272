"""parallax.compat.zemosaic: ZeMosaic's ParallelPlan / auto_tune_parallel_plan backed by the Parallax planner, on the
shipped machine profiles: fields consistent with the planner's own plan, within the memory budget, never more workers
than usable CPUs."""
import dataclasses

import pytest

import parallax
from parallax.compat import zemosaic
from parallax.compat.zemosaic import ParallelCapabilities, ParallelPlan, auto_tune_parallel_plan

SEESTAR = (1080, 1920, 3)  # float32 RGB frames
ROW = 1920 * 3 * 4
PROFILES = ["tiny-2c-4g", "container-64c-quota2-2g", "laptop-8c-16g", "workstation-32c-128g-1gpu",
            "server-128c-2numa-512g-4gpu"]


def usable_cpus(path):
    with parallax.Runtime(machine_profile=path) as rt:
        caps = rt.caps()
    return caps.cpu_usable, caps.memory_budget_bytes


def test_the_dataclass_has_zemosaic_s_fields():
    names = [f.name for f in dataclasses.fields(ParallelPlan)]
    assert names[:8] == ["cpu_workers", "use_memmap", "max_chunk_bytes", "rows_per_chunk", "tiles_per_chunk",
                         "use_gpu", "gpu_rows_per_chunk", "gpu_max_chunk_bytes"]
    plan = ParallelPlan(cpu_workers=2, use_memmap=False, max_chunk_bytes=1 << 20)  # ZeMosaic's own constructor call
    assert plan.rows_per_chunk is None and plan.use_gpu is False


def test_13000_seestar_frames_on_a_2_core_4_gb_machine_stay_within_budget(profile):
    path = profile("tiny-2c-4g")
    plan = auto_tune_parallel_plan("stack_master_tiles", SEESTAR[:2], 13000, 12, machine_profile=path)
    cpus, budget = usable_cpus(path)
    assert plan.memory_budget_bytes == budget
    assert 1 <= plan.cpu_workers <= cpus
    assert plan.max_chunk_bytes * plan.cpu_workers <= budget
    assert plan.use_memmap is True  # 13000 x 24.9 MB is far beyond 2.25 GiB
    assert 1 <= plan.rows_per_chunk <= 1080
    assert plan.rows_per_chunk * ROW * 13000 <= plan.max_chunk_bytes  # a band through all frames fits a chunk
    assert plan.use_gpu is False and plan.gpu_rows_per_chunk is None and plan.tiles_per_chunk is None
    assert plan.reasons and any("budget" in r for r in plan.reasons)
    # (H, W, C) with the sample size is the same workload as (H, W) with the pixel size
    assert auto_tune_parallel_plan("stack", SEESTAR, 13000, 4, machine_profile=path) == plan


def test_fields_are_the_planner_s_plan(profile):
    path = profile("workstation-32c-128g-1gpu")
    plan = auto_tune_parallel_plan("stack", SEESTAR, 13000, 4, machine_profile=path)
    with parallax.Runtime(machine_profile=path) as rt:
        own = rt.plan(13000, 1080 * ROW, kind="mixed", layout="across", rows=1080, bytes_per_row=ROW)
    assert plan.cpu_workers == own.cpu_workers and plan.rows_per_chunk == own.rows_per_chunk
    assert plan.max_chunk_bytes == own.max_chunk_bytes and plan.use_gpu is own.use_gpu is True
    assert plan.gpu_rows_per_chunk == own.gpu_rows_per_chunk and plan.gpu_max_chunk_bytes == own.gpu_chunk_bytes
    assert plan.use_memmap is (own.total_bytes > own.memory_budget_bytes)


@pytest.mark.parametrize("kind", ["stack", "stack_master_tiles", "mosaic", "reproject", "global", "global_reproject"])
@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_and_kind_stays_within_cpus_and_budget(profile, name, kind):
    path = profile(name)
    cpus, budget = usable_cpus(path)
    plan = auto_tune_parallel_plan(kind, SEESTAR, 13000 if "stack" in kind else 40, 4, machine_profile=path)
    assert 1 <= plan.cpu_workers <= cpus
    assert plan.max_chunk_bytes * plan.cpu_workers <= budget
    assert 1 <= plan.rows_per_chunk <= 1080
    if zemosaic.plan_kind(kind) == "mosaic":
        assert plan.tiles_per_chunk >= 1
    if plan.use_gpu:
        assert 1 <= plan.gpu_rows_per_chunk <= 1080 and plan.gpu_max_chunk_bytes > 0
    else:
        assert plan.gpu_rows_per_chunk is None and plan.gpu_max_chunk_bytes is None


def test_a_bigger_machine_gets_more_workers(profile):
    small = auto_tune_parallel_plan("stack", SEESTAR, 200, 4, machine_profile=profile("tiny-2c-4g"))
    big = auto_tune_parallel_plan("stack", SEESTAR, 200, 4, machine_profile=profile("laptop-8c-16g"))
    huge = auto_tune_parallel_plan("stack", SEESTAR, 200, 4, machine_profile=profile("workstation-32c-128g-1gpu"))
    assert small.cpu_workers < big.cpu_workers < huge.cpu_workers
    assert small.use_memmap is True  # 200 x 24.9 MB exceed 2.25 GiB; 50 frames fit
    assert auto_tune_parallel_plan("stack", SEESTAR, 50, 4, machine_profile=profile("tiny-2c-4g")).use_memmap is False
    # The cgroup quota counts, not the 128 logical CPUs of the host.
    boxed = auto_tune_parallel_plan("stack", SEESTAR, 200, 4, machine_profile=profile("container-64c-quota2-2g"))
    assert boxed.cpu_workers <= 2


def test_config_overrides(profile):
    path = profile("workstation-32c-128g-1gpu")
    capped = auto_tune_parallel_plan("stack", SEESTAR, 500, 4, {"parallel_max_cpu_workers": 3}, machine_profile=path)
    assert capped.cpu_workers == 3
    loaded = auto_tune_parallel_plan("stack", SEESTAR, 500, 4, {"parallel_target_cpu_load": 0.5},
                                     machine_profile=path)
    assert loaded.cpu_workers <= 32
    no_gpu = auto_tune_parallel_plan("stack", SEESTAR, 500, 4, {"parallel_autotune_enabled": False},
                                     machine_profile=path)
    assert no_gpu.use_gpu is False and no_gpu.gpu_rows_per_chunk is None
    half = auto_tune_parallel_plan("stack", SEESTAR, 500, 4, {"parallel_target_ram_fraction": 0.25},
                                   machine_profile=path)
    full = auto_tune_parallel_plan("stack", SEESTAR, 500, 4, machine_profile=path)
    assert half.memory_budget_bytes * 3 == full.memory_budget_bytes
    with pytest.raises(parallax.InvalidArgumentError, match="fraction"):
        auto_tune_parallel_plan("stack", SEESTAR, 5, 4, {"parallel_target_ram_fraction": 1.5})


def test_zemosaic_capabilities_are_planned_as_a_simulated_machine():
    caps = ParallelCapabilities(cpu_cores=8, cpu_logical_cores=16, ram_total_bytes=32 << 30,
                                ram_available_bytes=24 << 30, gpu_available=True, gpu_name="RTX",
                                gpu_vram_total_bytes=8 << 30, gpu_vram_free_bytes=7 << 30)
    plan = auto_tune_parallel_plan("stack_master_tiles", SEESTAR, 100, 4, None, caps)
    assert 1 <= plan.cpu_workers <= 16 and plan.use_gpu is True
    assert plan.memory_budget_bytes == int(0.75 * (24 << 30))
    cpu_only = dataclasses.replace(caps, gpu_available=False)
    assert auto_tune_parallel_plan("stack", SEESTAR, 100, 4, caps=cpu_only).use_gpu is False


def test_detected_capabilities_and_extra_keywords(rt):
    caps = zemosaic.detect_parallel_capabilities(rt)
    assert caps.cpu_cores == 2 and caps.ram_total_bytes == 4 << 30 and caps.gpu_available is False
    plan = auto_tune_parallel_plan("stack", (64, 64), 10, 4, caps=caps, runtime=rt, future_option=True)
    assert plan.cpu_workers <= 2 and plan.use_memmap is False


@pytest.mark.parametrize("shape,n", [(None, 10), ((0, 10), 10), ((10,), 10), ((10, 10), 0)])
def test_bad_arguments(rt, shape, n):
    with pytest.raises(parallax.InvalidArgumentError):
        auto_tune_parallel_plan("stack", shape, n, 4, runtime=rt)
