"""A drop-in for the parallel auto-tuner of mosaic stackers such as ZeMosaic (its ``parallel_utils`` module):
``ParallelPlan``, ``ParallelCapabilities``, ``detect_parallel_capabilities`` and
``auto_tune_parallel_plan(kind, frame_shape, n_frames, bytes_per_pixel, config=None, caps=None)``, with the same
names, fields and signature, backed by the Parallax planner instead of a heuristic.

>>> from parallax.compat.zemosaic import auto_tune_parallel_plan   # instead of: from parallel_utils import ...
>>> plan = auto_tune_parallel_plan("stack_master_tiles", (1080, 1920, 3), 13000, 4)
>>> plan.cpu_workers, plan.rows_per_chunk, plan.use_memmap, plan.use_gpu

What changes against a heuristic built on ``os.cpu_count()`` and the machine's total RAM:

- workers are the CPUs the process may really use (affinity mask and cgroup CPU quota), scaled by the kind of work
  (memory-bound stacking is capped by memory bandwidth), and capped so that ``cpu_workers x max_chunk_bytes`` stays
  within the memory budget (available memory, or the cgroup limit less usage, x ram_fraction) — floors never exceed
  the budget;
- the memory counted is the whole working set of the phase, and ``use_memmap`` is set when it exceeds the budget;
- ``use_gpu`` is the planner's choice of an OpenCL device (any vendor), with ``gpu_rows_per_chunk`` within the
  device's memory fraction and a quarter of its largest allocation, double-buffered.

Kinds (``kind`` is matched case-insensitively):

- stacking phases ("stack", "stack_master_tiles", "master_tiles", "tile_stack", "combine", anything containing
  "stack", and any kind not listed here, as the most memory-hungry layout): each output row needs that row of every
  frame (Parallax's "across" layout, as plx_stack plans itself), items = frames, rows = frame height, row bytes =
  width x channels x bytes_per_pixel. ``rows_per_chunk`` is the band of rows through all frames one worker holds.
- reprojection / mosaic phases ("mosaic", "reproject", "global", "global_reproject", "coadd", "phase5", anything
  containing "reproject", "mosaic" or "coadd"): ``frame_shape`` is the output grid and ``n_frames`` the tiles
  reprojected onto it; each tile is an independent item holding output-sized arrays (working set factor 2: image
  and footprint). ``tiles_per_chunk`` is the planner's items per chunk and ``rows_per_chunk`` the rows of the output
  grid one chunk's bytes hold.

``config`` keys understood (ZeMosaic's names): ``parallel_autotune_enabled`` (False: no device),
``parallel_max_cpu_workers`` (cap, 0 = none), ``parallel_target_cpu_load`` (only when given: workers capped at
round(usable CPUs x load)), ``parallel_target_ram_fraction`` and ``parallel_gpu_vram_fraction`` (the runtime's ram_fraction and vram_fraction),
and Parallax's own ``parallax_working_set_factor`` (bytes held per input byte). Other keys are ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple

from ..errors import InvalidArgumentError
from ..plan import Plan
from ..runtime import Runtime

__all__ = ["ParallelPlan", "ParallelCapabilities", "detect_parallel_capabilities", "auto_tune_parallel_plan",
           "plan_kind"]

_MOSAIC_WORDS = ("reproject", "mosaic", "coadd", "global", "phase5", "phase_5")


@dataclass
class ParallelPlan:
    """ZeMosaic's ParallelPlan, field for field (``None`` where a figure does not apply), plus what Parallax knows
    about the plan (``memory_budget_bytes``, ``reasons``)."""

    cpu_workers: int
    use_memmap: bool
    max_chunk_bytes: int  #: most bytes one worker holds for its chunk (input x working set factor)
    rows_per_chunk: Optional[int] = None
    tiles_per_chunk: Optional[int] = None
    use_gpu: bool = False
    gpu_rows_per_chunk: Optional[int] = None
    gpu_max_chunk_bytes: Optional[int] = None
    memory_budget_bytes: Optional[int] = None  #: the RAM budget the plan respects
    reasons: Tuple[str, ...] = field(default=(), repr=False, compare=False)  #: the planner's reasons, one per decision


@dataclass
class ParallelCapabilities:
    """ZeMosaic's ParallelCapabilities. From :func:`detect_parallel_capabilities` the figures are Parallax's:
    ``cpu_cores`` is the CPUs the process may use (affinity and cgroup quota), ``ram_available_bytes`` the memory
    it may use (cgroup limit included); the GPU is the first usable OpenCL GPU or accelerator."""

    cpu_cores: int
    cpu_logical_cores: int
    ram_total_bytes: int
    ram_available_bytes: int
    gpu_available: bool
    gpu_name: Optional[str]
    gpu_vram_total_bytes: Optional[int]
    gpu_vram_free_bytes: Optional[int]


class _ParallaxCapabilities(ParallelCapabilities):
    """Capabilities read from a Parallax runtime: auto_tune_parallel_plan plans on the runtime itself."""


def _default_runtime() -> Runtime:
    from ..stack import default_runtime  # deferred: parallax.stack imports the runtime module

    return default_runtime()


def detect_parallel_capabilities(runtime: Optional[Runtime] = None) -> ParallelCapabilities:
    """The machine as Parallax sees it, in ZeMosaic's ParallelCapabilities fields (``runtime``: default runtime)."""
    caps = (runtime or _default_runtime()).caps()
    gpus = [d for d in caps.devices if d.usable and d.type in ("gpu", "accelerator")]
    available = caps.memory_available_bytes
    if caps.memory_limit_bytes is not None:
        available = min(available, max(0, caps.memory_limit_bytes - caps.memory_usage_bytes))
    gpu = gpus[0] if gpus else None
    return _ParallaxCapabilities(
        cpu_cores=caps.cpu_usable, cpu_logical_cores=caps.cpu_logical, ram_total_bytes=caps.memory_total_bytes,
        ram_available_bytes=available, gpu_available=gpu is not None, gpu_name=gpu.name if gpu else None,
        gpu_vram_total_bytes=gpu.global_memory_bytes if gpu else None,
        gpu_vram_free_bytes=gpu.global_memory_bytes if gpu else None)


def _profile_from_caps(caps: Any) -> dict:
    """A machine profile (simulated machine) with the figures of a ParallelCapabilities-like object."""
    logical = max(1, int(getattr(caps, "cpu_logical_cores", 0) or getattr(caps, "cpu_cores", 0) or 1))
    physical = max(1, min(logical, int(getattr(caps, "cpu_cores", 0) or logical)))
    total = int(getattr(caps, "ram_total_bytes", 0) or 0)
    available = int(getattr(caps, "ram_available_bytes", 0) or 0) or total
    total = max(total, available)
    if total <= 0:
        raise InvalidArgumentError("caps: ram_total_bytes and ram_available_bytes are both 0; give the machine's "
                                   "memory, or leave caps out so that Parallax measures it")
    devices = []
    if getattr(caps, "gpu_available", False):
        vram = int(getattr(caps, "gpu_vram_total_bytes", 0) or getattr(caps, "gpu_vram_free_bytes", 0) or 0)
        if vram > 0:
            devices.append({"name": str(getattr(caps, "gpu_name", None) or "GPU"), "vendor": "unknown",
                            "platform": "caps", "type": "gpu", "driver_version": "", "opencl_c_version": "OpenCL C 1.2",
                            "compute_units": 1, "max_clock_mhz": 1000, "global_memory_bytes": vram,
                            "max_alloc_bytes": max(1, vram // 4), "local_memory_bytes": 49152, "fp64": True,
                            "unified_memory": False})
    return {"description": "from ParallelCapabilities",
            "cpu": {"model": "caps", "logical": logical, "physical": physical, "affinity": logical, "quota": None,
                    "numa_nodes": 1, "caches": {"l1d_bytes": 32768, "l2_bytes": 524288, "l3_bytes": 16777216}},
            "memory": {"total_bytes": total, "available_bytes": available, "limit_bytes": None, "usage_bytes": 0},
            "cgroup": {"version": 0}, "devices": devices}


def _config(config: Any, key: str, default: Any) -> Any:
    if config is None:
        return default
    if isinstance(config, Mapping):
        return config.get(key, default)
    return getattr(config, key, default)  # SimpleNamespace-like


def _fraction(config: Any, key: str) -> Optional[float]:
    value = _config(config, key, None)
    if value is None:
        return None
    value = float(value)
    if not (0.0 < value <= 1.0) or math.isnan(value):
        raise InvalidArgumentError(f"config[{key!r}] = {value!r}: a fraction in (0, 1] is expected")
    return value


def plan_kind(kind: str) -> str:
    """"stack" or "mosaic": how :func:`auto_tune_parallel_plan` reads ``kind``."""
    text = str(kind or "").lower()
    if "stack" in text:
        return "stack"
    return "mosaic" if any(word in text for word in _MOSAIC_WORDS) else "stack"


def _frame(frame_shape: Any, bytes_per_pixel: Any) -> Tuple[int, int, int, int]:
    if frame_shape is None or len(frame_shape) < 2:
        raise InvalidArgumentError(f"frame_shape must be (height, width) or (height, width, channels), got "
                                   f"{frame_shape!r}")
    dims = [int(d) for d in frame_shape]
    height, width = dims[0], dims[1]
    channels = math.prod(dims[2:]) if len(dims) > 2 else 1
    bpp = int(bytes_per_pixel)
    if height < 1 or width < 1 or channels < 1 or bpp < 1:
        raise InvalidArgumentError(f"frame_shape {tuple(frame_shape)} and bytes_per_pixel {bytes_per_pixel!r} must be "
                                   "positive")
    return height, width, channels, bpp


def auto_tune_parallel_plan(kind: str, frame_shape: Optional[Sequence[int]], n_frames: int, bytes_per_pixel: int = 4,
                            config: Any = None, caps: Any = None, *, runtime: Optional[Runtime] = None,
                            machine_profile: Any = None, **kwargs: Any) -> ParallelPlan:
    """ZeMosaic's ``auto_tune_parallel_plan`` backed by :meth:`parallax.Runtime.plan` (see the module's notes).

    :param kind: the pipeline phase: a stacking kind ("stack", "stack_master_tiles"...) or a mosaic kind ("mosaic",
        "reproject", "global", "global_reproject"...).
    :param frame_shape: (height, width) or (height, width, channels) of a frame (of the output grid for mosaic kinds).
    :param n_frames: frames stacked, or tiles reprojected; no upper limit (13k frames is normal).
    :param bytes_per_pixel: bytes of one sample (4 for float32, default); channels multiply it.
    :param config: a mapping (or attribute namespace) with ZeMosaic's ``parallel_*`` keys.
    :param caps: a :class:`ParallelCapabilities`: from :func:`detect_parallel_capabilities` (or None) the plan is made
        for the machine Parallax measures; another one's figures are planned as a simulated machine.
    :param runtime: a :class:`parallax.Runtime` to plan on (its options win over config's fractions).
    :param machine_profile: a Parallax machine profile (path, JSON or dict) to plan for a simulated machine.
    :param kwargs: accepted and ignored, so that newer callers keep working.
    :raises InvalidArgumentError: a bad shape, count or fraction.
    :raises OutOfMemoryError: not even one worker with the smallest chunk fits the memory budget.
    """
    del kwargs
    height, width, channels, bpp = _frame(frame_shape, bytes_per_pixel)
    n = int(n_frames)
    if n < 1:
        raise InvalidArgumentError(f"n_frames = {n_frames!r}: at least one frame is needed")
    options = {}
    ram_fraction = _fraction(config, "parallel_target_ram_fraction")
    vram_fraction = _fraction(config, "parallel_gpu_vram_fraction")
    if ram_fraction is not None:
        options["ram_fraction"] = ram_fraction
    if vram_fraction is not None:
        options["vram_fraction"] = vram_fraction
    if caps is not None and not isinstance(caps, _ParallaxCapabilities) and machine_profile is None:
        machine_profile = _profile_from_caps(caps)
    owned = None
    if runtime is None and (options or machine_profile is not None):
        owned = runtime = Runtime(machine_profile=machine_profile, **options)
    try:
        rt = runtime or _default_runtime()
        return _tune(rt, kind, height, width, channels, bpp, n, config)
    finally:
        if owned is not None:
            owned.close()


def _tune(rt: Runtime, kind: str, height: int, width: int, channels: int, bpp: int, n: int,
          config: Any) -> ParallelPlan:
    phase = plan_kind(kind)
    caps = rt.caps()
    gpu_allowed = bool(_config(config, "parallel_autotune_enabled", True))
    has_device = any(d.usable for d in caps.devices)
    row_bytes = width * channels * bpp
    max_workers = max(0, int(_config(config, "parallel_max_cpu_workers", 0) or 0))
    load = _config(config, "parallel_target_cpu_load", None)
    if load is not None:
        by_load = max(1, int(round(caps.cpu_usable * min(1.0, max(0.1, float(load))))))
        max_workers = min(max_workers, by_load) if max_workers else by_load
    if phase == "stack":
        factor = float(_config(config, "parallax_working_set_factor", 1.0))
        plan = rt.plan(n, height * row_bytes, kind="mixed" if gpu_allowed and has_device else "memory",
                       layout="across", rows=height, bytes_per_row=row_bytes, working_set_factor=factor,
                       max_workers=max_workers, prefer="auto" if gpu_allowed else "cpu", name=str(kind or "stack"))
        across = row_bytes * n  # input bytes of one row through every frame
    else:
        factor = float(_config(config, "parallax_working_set_factor", 2.0))
        plan = rt.plan(n, height * row_bytes, kind="mixed" if gpu_allowed and has_device else "cpu",
                       rows=height, bytes_per_row=row_bytes, working_set_factor=factor, max_workers=max_workers,
                       prefer="auto" if gpu_allowed else "cpu", name=str(kind or "mosaic"))
        across = row_bytes
    with plan:
        return _from_plan(plan, phase, height, across, factor)


def _from_plan(plan: Plan, phase: str, height: int, row_bytes: float, factor: float) -> ParallelPlan:
    # The planner's max_chunk_bytes counts a chunk's input; ZeMosaic's counts what a worker holds (input x working
    # set factor), which the planner keeps within budget / workers.
    held = min(int(plan.max_chunk_bytes * factor), plan.memory_budget_bytes // max(1, plan.cpu_workers))
    # Rows one chunk holds: the planner's band when it made one, else the chunk's input bytes over one row's bytes.
    rows = plan.rows_per_chunk if phase == "stack" and plan.rows_per_chunk > 0 else \
        int(plan.max_chunk_bytes // max(1.0, row_bytes))
    rows = max(1, min(height, rows))
    gpu_rows = plan.gpu_rows_per_chunk if plan.use_gpu and plan.gpu_rows_per_chunk > 0 else None
    return ParallelPlan(
        cpu_workers=int(plan.cpu_workers),
        use_memmap=bool(plan.streaming or plan.total_bytes > plan.memory_budget_bytes),
        max_chunk_bytes=int(held),
        rows_per_chunk=int(rows),
        tiles_per_chunk=int(plan.items_per_chunk) if phase == "mosaic" else None,
        use_gpu=bool(plan.use_gpu),
        gpu_rows_per_chunk=int(min(gpu_rows, height)) if gpu_rows else None,
        gpu_max_chunk_bytes=int(plan.gpu_chunk_bytes) if plan.use_gpu and plan.gpu_chunk_bytes > 0 else None,
        memory_budget_bytes=int(plan.memory_budget_bytes),
        reasons=tuple(plan.reasons))
