"""The runtime: the machine as this process may use it (or a machine profile),
its options, and the plans made for it."""
from __future__ import annotations

import os
import threading
import weakref
from ctypes import byref, sizeof
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _abi, _args, _logbridge
from ._handle import Handle, running
from ._library import json_out, lib
from .device import Buffer, DeviceFigures, Kernel, measure
from .errors import InvalidArgumentError
from .execution import (CancelToken, Job, Progress, RunReport, Task, TaskContext, TaskResults, _active_runs, _call,
                        _LoopRun, _range, _ReduceRun, _TaskRun)
from .plan import Plan

ProfileLike = Union[str, bytes, "os.PathLike[str]", Mapping[str, Any]]
RangeFn = Callable[[int, int, int], Any]
ProgressFn = Callable[[Progress], Any]
TaskLike = Union[Task, Callable[[TaskContext], Any]]
_TYPE_NAMES = {bit: name for name, bit in _abi.DEVICE_TYPES.items()}


@dataclass(frozen=True)
class Device:
    """One OpenCL device (or a machine profile's simulated one), from plx_device_info_get."""

    index: int
    type: str  #: "cpu", "gpu" or "accelerator" (the number as text for a type this binding does not know)
    name: str
    vendor: str
    platform: str
    driver_version: str
    opencl_c_version: str
    compute_units: int
    max_clock_mhz: int
    global_memory_bytes: int
    max_alloc_bytes: int  #: largest single buffer
    local_memory_bytes: int
    fp64: bool
    unified_memory: bool  #: shares host memory
    usable: bool  #: admitted by the runtime's device policy, types and filter
    simulated: bool  #: comes from a machine profile
    #: End-to-end streaming throughput in GB/s measured by :meth:`Runtime.measure_device` (or ``parallax bench
    #: --suite device``) and cached in the runtime's cache_dir; None when not measured.
    measured_gbps: Optional[float]

    @classmethod
    def _from_struct(cls, s: _abi.plx_device_info_t) -> "Device":
        text = {f: getattr(s, f).decode("utf-8", "replace")
                for f in ("name", "vendor", "platform", "driver_version", "opencl_c_version")}
        return cls(index=s.index, type=_TYPE_NAMES.get(s.type, str(s.type)), **text, compute_units=s.compute_units,
                   max_clock_mhz=s.max_clock_mhz, global_memory_bytes=s.global_memory_bytes,
                   max_alloc_bytes=s.max_alloc_bytes, local_memory_bytes=s.local_memory_bytes, fp64=bool(s.fp64),
                   unified_memory=bool(s.unified_memory), usable=bool(s.usable), simulated=bool(s.simulated),
                   measured_gbps=s.measured_gbps or None)


@dataclass(frozen=True)
class Caps:
    """The machine as a runtime sees it (plx_caps_t), with its devices."""

    cpu_logical: int  #: online logical CPUs of the machine
    cpu_physical: int
    cpu_usable: int  #: min(affinity, ceil(cgroup quota))
    cpu_affinity: int
    cpu_quota: Optional[float]  #: cgroup CPU quota in CPUs; None when unlimited
    numa_nodes: int
    device_count: int  #: OpenCL devices found, usable or not
    memory_total_bytes: int
    memory_available_bytes: int  #: MemAvailable
    memory_limit_bytes: Optional[int]  #: cgroup limit; None when unlimited
    memory_usage_bytes: int  #: cgroup usage (0 without a limit)
    memory_budget_bytes: int  #: min(available, limit - usage) x ram_fraction
    cache_l1d_bytes: int  #: 0 when unknown
    cache_l2_bytes: int
    cache_l3_bytes: int
    cgroup_version: int  #: 0 when none was found, else 1 or 2
    from_profile: bool  #: a machine profile replaced detection
    devices: Tuple[Device, ...]

    @classmethod
    def _from_struct(cls, s: _abi.plx_caps_t, devices: Tuple[Device, ...]) -> "Caps":
        values = {name: getattr(s, name) for name, _ in s._fields_ if name != "struct_size"}
        values.update(cpu_quota=s.cpu_quota or None, from_profile=bool(s.from_profile),
                      memory_limit_bytes=None if s.memory_limit_bytes == _abi.PLX_UNLIMITED else s.memory_limit_bytes)
        return cls(**values, devices=devices)


class Runtime:
    """A Parallax runtime: reads the machine (or ``machine_profile``) once and plans workloads for it.

    Every option left at None takes the library's default. Use it as a context manager or call
    :meth:`close`; a closed runtime refuses calls with :class:`InvalidArgumentError`, while its plans stay valid.
    Methods may be called from any thread.

    Besides planning, a runtime runs Python callbacks on its own threads: :meth:`parallel_for`,
    :meth:`parallel_reduce`, :meth:`run_tasks` and the async :meth:`parallel_for_async` and :meth:`submit_tasks`,
    with progress reports and :class:`CancelToken`. Those callbacks hold the GIL, so Python-level work in them is
    serialized: they are for orchestration, progress and I/O-bound (or GIL-releasing) work, while the speed-ups come
    from Parallax's built-in and OpenCL kernels.

    OpenCL: :meth:`kernel` builds a :class:`Kernel` that runs over rows of NumPy arrays of any size
    (:meth:`Kernel.run_rows`) or over device :meth:`buffer` objects (:meth:`Kernel.run`); :meth:`measure_device`
    measures a device for the planner. Closing the runtime closes its kernels and buffers.

    :param max_cpu_workers: most CPU workers any plan may use; 0 (default) = all usable CPUs.
    :param reserve_cpus: CPUs left to the host's own threads (default 0).
    :param ram_fraction: share of free memory plans may use, in (0, 1] (default 0.75).
    :param vram_fraction: share of each device's memory plans may use, in (0, 1] (default 0.5).
    :param device_policy: "auto" (default: a device when the workload wants one and one matches), "cpu" (never
        touch OpenCL) or "gpu" (require a device: :class:`NoDeviceError` here when none matches).
    :param device_types: device types the runtime may use, from "cpu", "gpu", "accelerator"; None (default) =
        gpu and accelerator. Add "cpu" for CPU OpenCL devices such as PoCL.
    :param device_filter: only devices whose name, vendor or platform contains this text (case-insensitive).
    :param machine_profile: a machine profile replacing detection: JSON text, a dict, or the path of a JSON file.
    :param sysroot: directory read instead of / for /proc and /sys (for tests).
    :param log_level: the most verbose library messages wanted, as a logging level; None (default) = the
        logger's effective level at creation.
    :param logger: the logger (or its name) that receives the library's messages (kept as ``self.logger``);
        default ``"parallax"``.
    :param fault_injection: for tests: make chosen tasks or loop chunks fail, e.g.
        ``"task=7@1-2:out_of_memory;chunk=3:task_failed"`` (task 7 fails with PLX_ERR_OUT_OF_MEMORY on its attempts 1
        and 2; chunk 3 of every loop fails). Rules are ``task=INDEX[@ATTEMPTS]:STATUS`` or ``chunk=INDEX:STATUS``;
        ATTEMPTS is N, N-M or * (default); STATUS a status name with or without "PLX_ERR_". None (default):
        ``$PLX_FAULT`` when set, else none. The runtime logs a warning while rules are active. Device rules fail
        the runtime's OpenCL calls, counted from 0 over its life: ``alloc=INDEX:STATUS``, ``build=INDEX:STATUS``,
        ``enqueue=INDEX:STATUS`` (INDEX is N, N-M or *), e.g. ``"enqueue=1:device"`` fails its second kernel
        enqueue.
    :param cache_dir: directory of the on-disk program cache and measured device figures (str or os.PathLike);
        None (default): ``$XDG_CACHE_HOME/parallax``, else ``~/.cache/parallax``; ``""`` turns the disk cache off.
        Created private (0700).
    :param device_memory_limit_bytes: treat every device as having at most this much memory (plans and
        allocations; to test data larger than a device); 0 (default) = no limit.
    :param device_replicas: list each OpenCL device this many times, each with contexts and queues of its own (to
        test sharing work between devices); 0 (default) = ``$PLX_DEVICE_REPLICAS``, else 1; at most 16.
    :raises InvalidArgumentError: an option out of range, a malformed profile (the message names line and field) or
        fault injection rule.
    :raises IoError: the profile file cannot be read.
    :raises NoDeviceError: device_policy="gpu" and no device matches.
    """

    def __init__(self, *, max_cpu_workers: Optional[int] = None, reserve_cpus: Optional[int] = None,
                 ram_fraction: Optional[float] = None, vram_fraction: Optional[float] = None,
                 device_policy: Optional[str] = None, device_types: Optional[Iterable[str]] = None,
                 device_filter: Optional[str] = None, machine_profile: Optional[ProfileLike] = None,
                 sysroot: Union[None, str, "os.PathLike[str]"] = None, log_level: Union[None, int, str] = None,
                 logger: Union[None, str, _logbridge.LoggerLike] = None, fault_injection: Optional[str] = None,
                 cache_dir: Union[None, str, "os.PathLike[str]"] = None, device_memory_limit_bytes: int = 0,
                 device_replicas: int = 0) -> None:
        options = _abi.plx_runtime_options_t()
        lib.plx_runtime_options_init(byref(options), sizeof(options))
        if max_cpu_workers is not None:
            options.max_cpu_workers = _args.integer("max_cpu_workers", max_cpu_workers, 32)
        if reserve_cpus is not None:
            options.reserve_cpus = _args.integer("reserve_cpus", reserve_cpus, 32)
        if ram_fraction is not None:
            options.ram_fraction = float(ram_fraction)
        if vram_fraction is not None:
            options.vram_fraction = float(vram_fraction)
        if device_policy is not None:
            options.device_policy = _args.choice("device_policy", device_policy, _abi.DEVICE_POLICIES)
        if device_types is not None:
            options.device_types = _args.mask("device_types", device_types, _abi.DEVICE_TYPES)
        options.device_filter = _args.text("device_filter", device_filter)
        options.machine_profile = _args.profile(machine_profile)
        options.sysroot = _args.path("sysroot", sysroot)
        options.fault_injection = _args.text("fault_injection", fault_injection)
        options.cache_dir = _args.path("cache_dir", cache_dir)
        options.device_memory_limit_bytes = _args.integer("device_memory_limit_bytes", device_memory_limit_bytes, 64)
        options.device_replicas = _args.integer("device_replicas", device_replicas, 32)

        self.logger = _logbridge.resolve_logger(logger)
        level = _logbridge.c_level(_logbridge.python_level(log_level) if log_level is not None
                                   else self.logger.getEffectiveLevel())
        self._in_log = threading.local()
        callback = None
        if level != _abi.PLX_LOG_OFF:
            callback = _logbridge.make_callback(self.logger, self._in_log)
            options.log_callback, options.log_level = callback, level
        pointer = _abi.plx_runtime_p()
        lib.plx_runtime_create(byref(options), byref(pointer))
        # Destroyed on the reaper thread when that would happen inside a run (libparallax crashes destroying a
        # runtime from a callback of another runtime's run; the garbage collector may do it on any thread).
        self._handle = Handle(pointer, lib.plx_runtime_destroy, "runtime", keepalive=callback, defer_in_runs=True)
        # Its kernels and buffers: closed with it. (Each also retains the handle, so that the C runtime outlives
        # them even when the garbage collector frees them in any order.)
        self._children: "weakref.WeakSet[Union[Kernel, Buffer]]" = weakref.WeakSet()

    def _refuse_in_log(self, what: str) -> None:
        if getattr(self._in_log, "active", False):
            raise InvalidArgumentError(f"{what}: called from this runtime's own log callback, "
                                       "which the library forbids; use another runtime or defer the call")

    def _use(self, method: str) -> Any:
        self._refuse_in_log(f"Runtime.{method}")
        return self._handle.borrow(f"Runtime.{method}")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle.closed

    def close(self) -> None:
        """Destroys the runtime (once the calls in flight on other threads return): cancels its unfinished jobs and
        waits for them, and closes its kernels and buffers. Idempotent. Refused (InvalidArgumentError) from a callback
        of one of its jobs, which it would wait for."""
        if any(run.is_job and run.runtime is self for run in _active_runs()):
            raise InvalidArgumentError("Runtime.close: called from a callback of one of this runtime's jobs, which "
                                       "it would wait for; cancel the job instead, and close the runtime elsewhere")
        for child in list(self._children):
            child.close()
        self._handle.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<parallax.Runtime {'closed' if self.closed else 'open'}>"

    def caps(self) -> Caps:
        """The machine as this runtime sees it, with its OpenCL devices (discovered on first use)."""
        with self._use("caps") as runtime:
            caps = _abi.plx_caps_t(struct_size=sizeof(_abi.plx_caps_t))
            lib.plx_caps_get(runtime, byref(caps))
            devices = []
            for index in range(caps.device_count):
                info = _abi.plx_device_info_t(struct_size=sizeof(_abi.plx_device_info_t))
                lib.plx_device_info_get(runtime, index, byref(info))
                devices.append(Device._from_struct(info))
        return Caps._from_struct(caps, tuple(devices))

    def describe(self) -> Dict[str, Any]:
        """The machine description (plx_runtime_describe_json) as a dict: "cpu", "memory", "devices", "options",
        "sources", "warnings", ..."""
        with self._use("describe") as runtime:
            return json_out(lib.plx_runtime_describe_json, runtime)

    def plan(self, items: int, bytes_per_item: int = 0, *, kind: Optional[str] = None,
             layout: Optional[str] = None, rows: int = 0, bytes_per_row: int = 0,
             working_set_factor: Optional[float] = None, per_worker_bytes: int = 0, max_workers: int = 0,
             prefer: Optional[str] = None, name: Optional[str] = None) -> Plan:
        """Plans a workload on this runtime's machine: CPU workers, devices, chunk sizes within the memory budgets,
        and the reasons. Logs a JSON "parallel_plan_summary" line at INFO.

        :param items: number of items (frames, tiles...), >= 1.
        :param bytes_per_item: input bytes of one item; 0 = rows * bytes_per_row.
        :param kind: what limits the work: "cpu" (default), "memory", "io", "gpu" or "mixed".
        :param layout: "items" (default: items are independent) or "across" (each output row needs that row of
            every item, as in stacking; needs rows and bytes_per_row).
        :param rows: rows of one item (image height); 0 when items are not images.
        :param bytes_per_row: bytes of one row of one item.
        :param working_set_factor: bytes held per input byte while a chunk is processed, >= 1 (default 1).
        :param per_worker_bytes: fixed scratch bytes each worker needs besides its chunk.
        :param max_workers: most workers the workload can use; 0 = no cap.
        :param prefer: "auto" (default: devices for gpu and mixed kinds), "cpu" or "gpu".
        :param name: a name for logs and describe().
        :raises InvalidArgumentError: a value out of range or inconsistent.
        :raises OutOfMemoryError: even one worker with the smallest chunk does not fit the budget.
        :raises NoDeviceError: the runtime requires a device and none can take a chunk.
        """
        workload = _abi.plx_workload_t()
        lib.plx_workload_init(byref(workload), sizeof(workload))
        workload.name = _args.text("name", name)
        if kind is not None:
            workload.kind = _args.choice("kind", kind, _abi.WORKLOAD_KINDS)
        if layout is not None:
            workload.layout = _args.choice("layout", layout, _abi.LAYOUTS)
        if prefer is not None:
            workload.preferred_device = _args.choice("prefer", prefer, _abi.PREFERENCES)
        if working_set_factor is not None:
            workload.working_set_factor = float(working_set_factor)
        for field, value in (("items", items), ("bytes_per_item", bytes_per_item), ("rows", rows),
                             ("bytes_per_row", bytes_per_row), ("per_worker_bytes", per_worker_bytes)):
            setattr(workload, field, _args.integer(field, value, 64))
        workload.max_workers = _args.integer("max_workers", max_workers, 32)
        pointer = _abi.plx_plan_p()
        with self._use("plan") as runtime:
            lib.plx_plan_create(runtime, byref(workload), byref(pointer))
        return Plan(pointer, name or "workload")

    # ---- Execution -------------------------------------------------------------------------------------------
    #
    # Python callbacks hold the GIL: Python-level work in them is serialized. See parallax.execution.

    def parallel_for(self, fn: RangeFn, begin: int, end: Optional[int] = None, *, plan: Optional[Plan] = None,
                     workers: int = 0, grain: int = 0, progress: Optional[ProgressFn] = None,
                     progress_interval_ms: int = 200, bytes_per_item: int = 0, cancel: Optional[CancelToken] = None,
                     name: Optional[str] = None) -> RunReport:
        """Runs ``fn(begin, end, worker)`` over the items [begin, end) in chunks (``range``-like: one argument
        means [0, begin)), on the runtime's threads and the calling one, and returns a :class:`RunReport`.

        ``fn`` processes items [begin, end) as logical worker ``worker`` (in [0, workers), stable during the run,
        e.g. to index per-worker scratch). It returns None or 0 on success, or a non-zero int to stop the loop with a
        :class:`TaskError` naming the range and the code. If it raises, the loop stops (chunks already started
        finish) and :class:`TaskError` is raised, whose message names the exception's type and message and the
        range, and whose ``__cause__`` is the exception (KeyboardInterrupt and other non-``Exception`` exceptions
        are raised as they are).

        Callbacks run concurrently for different chunks on several threads, but each holds the GIL: pure-Python
        work is serialized, and with several workers tiny chunks pay for GIL hand-offs (keep chunks coarse). Use
        this to drive work that releases the GIL (I/O, NumPy, C extensions); the speed-ups of Parallax are in its
        built-in and OpenCL kernels.

        :param plan: a :class:`Plan` supplying the workers and the chunk size (items_per_chunk).
        :param workers: logical workers; 0 (default) = the plan's cpu_workers, else the runtime's usable CPUs.
            More workers than CPUs is allowed.
        :param grain: items per chunk; 0 (default) = the plan's, else about 8 chunks per worker.
        :param progress: called with a :class:`Progress` at most every ``progress_interval_ms`` and once at the
            end, from any thread but never twice at once. Returning True (or a non-zero int) cancels the run (mind
            lambdas ending in a call that returns True, such as tqdm's ``update``); any other value goes on. If it
            raises, the run is cancelled and the exception is raised here once the run has stopped.
        :param progress_interval_ms: minimum milliseconds between progress calls (default 200).
        :param bytes_per_item: bytes of one item, for Progress.bytes_done; 0 = the plan's.
        :param cancel: a :class:`CancelToken`; cancelling it stops the run with :class:`CancelledError`.
        :param name: for log lines and messages (default "parallel_for").
        :raises TaskError: ``fn`` raised or returned non-zero (``.report`` has the run's report).
        :raises CancelledError: the token or the progress callback cancelled the run.
        :raises InvalidArgumentError: begin > end, or an option out of range.
        """
        run = _LoopRun(self, "parallel_for", fn, name=name, workers=workers, progress=progress,
                       progress_interval_ms=progress_interval_ms, grain=grain, bytes_per_item=bytes_per_item)
        begin, end = _range(begin, end)
        try:
            plan_pointer = run.borrow(plan, cancel)
            with self._use("parallel_for") as runtime, running():
                error = _call(lib.plx_parallel_for, runtime, plan_pointer, begin, end, run.callback, None,
                              byref(run.options))
        finally:
            run.release()
        return run.outcome(error)

    def parallel_reduce(self, fn: RangeFn, begin: int, end: Optional[int] = None, *, op: Optional[str] = None,
                        combine: Optional[Callable[[Any, Any], Any]] = None, identity: Any = None,
                        plan: Optional[Plan] = None, workers: int = 0, grain: int = 0,
                        progress: Optional[ProgressFn] = None, progress_interval_ms: int = 200,
                        bytes_per_item: int = 0, cancel: Optional[CancelToken] = None,
                        name: Optional[str] = None) -> Any:
        """Reduces the items [begin, end) (``range``-like) deterministically: ``fn(begin, end, worker)`` returns
        the partial result of a chunk, and the partials are combined in a fixed pairwise tree over the chunks in
        index order — the same operations in the same order for any workers, plan or run, so a floating-point
        result is bit-identical every time.

        Built-in ops (``combine`` not given): ``op`` is "sum_double" (default; partials and result are floats),
        "sum_float" (float32 arithmetic: partials are rounded to float32) or "sum_int64" (ints that must fit
        int64; the sum wraps on overflow); the partials are added in C.

        Custom reduction: ``combine(a, b)`` returns the combination of two partials (any Python objects; it must
        not modify them in place unless it returns that object). It is called on the calling thread, in the fixed
        tree order: for chunks p0..p7, ``(((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7)))``, so a non-commutative combine
        (concatenation) keeps the chunk order. ``identity`` is the result of an empty range.

        :param grain: items per chunk; 0 (default) = ceil(n / 4096). Fixed so that the result never depends on the
            workers or the plan (which supplies the workers only).
        :returns: the reduced value (float for the sums of floats, int for sum_int64, combine's result).
        :raises TaskError: ``fn`` or ``combine`` raised (``__cause__`` is the exception); also raised when grain
            gives more than 2**20 chunks. Other parameters and errors as :meth:`parallel_for`.
        """
        run = _ReduceRun(self, fn, op, combine, identity, grain, name=name, workers=workers, progress=progress,
                         progress_interval_ms=progress_interval_ms, bytes_per_item=bytes_per_item)
        begin, end = _range(begin, end)
        try:
            plan_pointer = run.borrow(plan, cancel)
            with self._use("parallel_reduce") as runtime, running():
                error = _call(lib.plx_parallel_reduce, runtime, plan_pointer, begin, end, byref(run.desc),
                              byref(run.result), byref(run.options))
        finally:
            run.release()
        return run.outcome(error)

    def run_tasks(self, tasks: Sequence[TaskLike], *, max_attempts: int = 3, fail_fast: bool = False,
                  backoff_base_s: float = 0.05, backoff_cap_s: float = 5.0, grow_after: int = 4,
                  memory_budget_bytes: int = 0, jitter_seed: int = 0, workers: int = 0,
                  progress: Optional[ProgressFn] = None, progress_interval_ms: int = 200,
                  cancel: Optional[CancelToken] = None, name: Optional[str] = None, check: bool = True) -> TaskResults:
        """Runs independent tasks with memory admission control and retries, and returns one :class:`TaskResult`
        per task, in task order (whatever order they finished in), as a :class:`TaskResults` list whose
        ``report`` is the run's :class:`RunReport`.

        Each task is a callable ``fn(ctx)`` or a :class:`Task` (fn, estimated_bytes, name). ``ctx`` is a
        :class:`TaskContext` (index, attempt, worker, estimated_bytes; ``report_bytes()`` and ``message`` to
        report back). ``fn`` succeeds by returning (its value is kept in ``TaskResult.value``) and fails by
        raising: :class:`OutOfMemoryError` or Python's ``MemoryError`` is an out-of-memory failure, retried after a
        backoff with the concurrency halved (at most ``max_attempts`` attempts); any other exception fails the task
        for good, with the exception's type and text as its message (and the exception in
        ``TaskResult.exception``).

        A task starts only when its estimate fits what is left of the memory budget and the concurrency limit
        allows. Tasks are Python callables holding the GIL: they overlap only where they release it (I/O,
        NumPy, subprocesses, Parallax kernels).

        :param max_attempts: attempts per task before an out-of-memory failure is final (default 3).
        :param fail_fast: start no task after the first one failed for good; the rest end CANCELLED.
        :param backoff_base_s: backoff before a retry: base x 2**(attempt-1), at most ``backoff_cap_s``, times a
            random factor in [0.5, 1] (seeded by ``jitter_seed``; 0 = random).
        :param grow_after: successes in a row after which a halved concurrency limit grows back by one.
        :param memory_budget_bytes: what the running tasks' estimates may add up to; 0 = the runtime's budget.
        :param workers: most tasks at once; 0 = the runtime's usable CPUs.
        :param progress: as in :meth:`parallel_for`; ``done`` counts the tasks that succeeded.
        :param check: True (default): raise when a task failed or the run was cancelled; False: return the
            results anyway (errors before the run, KeyboardInterrupt and progress-callback exceptions are still
            raised).
        :raises TaskError: a task failed for good; ``.results`` has every result, ``__cause__`` is the first failed
            task's exception.
        :raises CancelledError: the token or the progress callback cancelled the run (``.results`` says which tasks
            did not start).
        """
        run = _TaskRun(self, tasks, check=check, max_attempts=max_attempts, fail_fast=fail_fast,
                       backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s, grow_after=grow_after,
                       memory_budget_bytes=memory_budget_bytes, jitter_seed=jitter_seed, kind="run_tasks", name=name,
                       workers=workers, progress=progress, progress_interval_ms=progress_interval_ms)
        try:
            run.borrow(None, cancel)
            with self._use("run_tasks") as runtime, running():
                error = _call(lib.plx_tasks_run, runtime, run.tasks, run.count, byref(run.options), run.results)
        finally:
            run.release()
        return run.outcome(error)

    def parallel_for_async(self, fn: RangeFn, begin: int, end: Optional[int] = None, *, plan: Optional[Plan] = None,
                           workers: int = 0, grain: int = 0, progress: Optional[ProgressFn] = None,
                           progress_interval_ms: int = 200, bytes_per_item: int = 0,
                           cancel: Optional[CancelToken] = None, name: Optional[str] = None) -> Job:
        """:meth:`parallel_for` without waiting: returns a :class:`Job` whose ``wait()`` returns the
        :class:`RunReport` or raises what :meth:`parallel_for` raises. The run starts on a thread of its own that
        joins the runtime's threads. The plan and the token stay in use (not destroyed by their close()) until the
        job has ended; closing the runtime cancels the job and waits for it."""
        run = _LoopRun(self, "parallel_for_async", fn, name=name, workers=workers, progress=progress,
                       progress_interval_ms=progress_interval_ms, grain=grain, bytes_per_item=bytes_per_item)
        run.is_job = True  # before it starts: its callbacks may run at once
        begin, end = _range(begin, end)
        job = _abi.plx_job_p()
        try:
            plan_pointer = run.borrow(plan, cancel)
            with self._use("parallel_for_async") as runtime:
                lib.plx_parallel_for_async(runtime, plan_pointer, begin, end, run.callback, None, byref(run.options),
                                           byref(job))
        except BaseException:
            run.release()
            raise
        return Job(job, run)

    def submit_tasks(self, tasks: Sequence[TaskLike], *, max_attempts: int = 3, fail_fast: bool = False,
                     backoff_base_s: float = 0.05, backoff_cap_s: float = 5.0, grow_after: int = 4,
                     memory_budget_bytes: int = 0, jitter_seed: int = 0, workers: int = 0,
                     progress: Optional[ProgressFn] = None, progress_interval_ms: int = 200,
                     cancel: Optional[CancelToken] = None, name: Optional[str] = None, check: bool = True) -> Job:
        """:meth:`run_tasks` without waiting: returns a :class:`Job` whose ``wait()`` returns the
        :class:`TaskResults` or raises what :meth:`run_tasks` raises (with the same ``check``)."""
        run = _TaskRun(self, tasks, check=check, max_attempts=max_attempts, fail_fast=fail_fast,
                       backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s, grow_after=grow_after,
                       memory_budget_bytes=memory_budget_bytes, jitter_seed=jitter_seed, kind="submit_tasks",
                       name=name, workers=workers, progress=progress, progress_interval_ms=progress_interval_ms)
        run.is_job = True  # before it starts: its callbacks may run at once
        job = _abi.plx_job_p()
        try:
            run.borrow(None, cancel)
            with self._use("submit_tasks") as runtime:
                lib.plx_tasks_submit(runtime, run.tasks, run.count, byref(run.options), run.results, byref(job))
        except BaseException:
            run.release()
            raise
        return Job(job, run)

    # ---- Devices and custom kernels ----------------------------------------------------------------------------

    def kernel(self, source: str, name: str, build_options: Optional[str] = None) -> Kernel:
        """Builds OpenCL C ``source`` (with ``build_options``, e.g. "-D N=4") for every usable device and returns
        its ``__kernel`` ``name`` as a :class:`Kernel`. A device where the build fails is left out (logged). Builds
        are cached in memory and in ``cache_dir``. With no usable device at all (a CPU-only runtime) the kernel is
        created anyway, for runs with a CPU fallback.

        :raises DeviceError: no device could build it; the message has the build log.
        :raises InvalidArgumentError: the program has no ``__kernel`` of that name, or the source is empty.
        """
        return Kernel(self, source, name, build_options)

    def buffer(self, device_index: int, nbytes: int) -> Buffer:
        """Allocates ``nbytes`` on device ``device_index`` (as in :attr:`Caps.devices`), for :meth:`Kernel.run`.

        :raises OutOfMemoryError: the device (or its device_memory_limit_bytes) has not that much left.
        :raises InvalidArgumentError: a bad device index or size.
        :raises UnsupportedError: the device is simulated by a machine profile.
        """
        return Buffer(self, device_index, nbytes)

    def measure_device(self, index: int, transfer_bytes: int = 0, stream_bytes: int = 0) -> DeviceFigures:
        """Measures device ``index`` (seconds to a minute) and caches the figures in ``cache_dir``, so that
        runtimes created afterwards plan with its streaming throughput (:attr:`Device.measured_gbps`, device
        shares). Run it while nothing else uses the device.

        :param transfer_bytes: size of each transfer test; 0 = 256 MiB.
        :param stream_bytes: bytes streamed through a y = a*x + b kernel; 0 = 4 GiB. Both are cut to what the device
            and the memory budget hold.
        :raises IoError: the cache could not be written; ``.figures`` has the figures all the same.
        :raises UnsupportedError: a simulated device.
        """
        return measure(self, index, transfer_bytes, stream_bytes)

    # ---- Built-in kernels -----------------------------------------------------------------------------------

    def stack(self, frames: Any, **options: Any) -> Any:
        """:func:`parallax.stack` on this runtime: ``rt.stack(frames, ...)`` is ``parallax.stack(frames, runtime=rt,
        ...)``; returns a :class:`parallax.StackResult`."""
        from .stack import stack  # deferred: parallax.stack imports this module

        return stack(frames, runtime=self, **options)

    def coadd(self, inputs: Any, shape_out: Any = None, output_wcs: Any = None, **options: Any) -> Any:
        """:func:`parallax.coadd` on this runtime: ``rt.coadd(inputs, ...)`` is ``parallax.coadd(inputs, ...,
        runtime=rt)``; returns ``(image, footprint)`` (and a :class:`parallax.CoaddInfo` with ``return_info=True``)."""
        from .coadd import coadd  # deferred: parallax.coadd imports this module

        return coadd(inputs, shape_out, output_wcs, runtime=self, **options)
