"""Running Python callbacks on a runtime: loops (:meth:`Runtime.parallel_for`), deterministic reductions
(:meth:`Runtime.parallel_reduce`), tasks with memory admission and retries (:meth:`Runtime.run_tasks`), progress
reports, cancellation (:class:`CancelToken`) and async jobs (:class:`Job`).

Python callbacks hold the GIL while they run, so the Python-level work in them is serialized: a loop body written
in pure Python does not get faster with more workers. What runs in parallel is what releases the GIL (NumPy on
large arrays, I/O, ``time.sleep``, C extensions) and, above all, Parallax's own kernels (built-in and OpenCL).
These functions are for orchestration: driving I/O-bound or GIL-releasing work, memory-aware task scheduling,
progress and cancellation.

Nothing a callback raises reaches the C library: the binding catches it inside the callback, stops the run and
raises it (or a :class:`TaskError` caused by it) from the call that started the run, on the calling thread.
"""
from __future__ import annotations

import atexit
import math
import numbers
import operator
import threading
import weakref
from contextlib import ExitStack
from ctypes import byref, c_double, c_float, c_int, c_int64, c_void_p, cast, pointer, sizeof
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from . import _abi, _args
from ._handle import Handle, active_runs as _active_runs, reaper, running
from ._library import lib
from .errors import Error, InvalidArgumentError, OutOfMemoryError, TaskError, TimeoutError
from .plan import Plan

__all__ = ["RunReport", "Progress", "Task", "TaskContext", "TaskResult", "TaskResults", "CancelToken", "Job"]

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_MESSAGE_BYTES = 255  # plx_task_context_t.message holds 255 bytes and the NUL
_OUT_OF_MEMORY_STATUS = _abi.PLX_ERR_OUT_OF_MEMORY


# ---------------------------------------------------------------------------------------------------------------
# What runs report
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunReport:
    """What a run did (plx_run_report_t)."""

    workers: int  #: logical workers of the run
    threads: int  #: threads of the runtime's arena
    chunks: int  #: chunks run (loops) or task attempts (tasks)
    retries: int  #: task attempts after a first failure
    peak_concurrency: int  #: most chunks or tasks running at once
    failed: int  #: failed chunks or tasks
    failed_begin: Optional[int]  #: first failing range of a loop; None when none
    failed_end: Optional[int]
    callback_code: int  #: what the callback returned there; 0 when none
    peak_admitted_bytes: int  #: tasks: most estimated bytes running at once
    wall_s: float
    fallback_chunks: int  #: kernel runs: chunks that failed on a device and ran on the CPU fallback
    chunk_splits: int  #: kernel runs: times a device's chunk was halved after running out of memory
    device_kernel_s: float  #: kernel runs: seconds the devices' kernels ran (profiled), without transfers

    @classmethod
    def _from_struct(cls, s: _abi.plx_run_report_t) -> Optional["RunReport"]:
        if s.workers <= 0:  # never written: the call failed before the run started
            return None
        return cls(workers=s.workers, threads=s.threads, chunks=s.chunks, retries=s.retries,
                   peak_concurrency=s.peak_concurrency, failed=s.failed,
                   failed_begin=None if s.failed_begin < 0 else s.failed_begin,
                   failed_end=None if s.failed_end < 0 else s.failed_end, callback_code=s.callback_code,
                   peak_admitted_bytes=s.peak_admitted_bytes, wall_s=s.wall_s, fallback_chunks=s.fallback_chunks,
                   chunk_splits=s.chunk_splits, device_kernel_s=s.device_kernel_s)


@dataclass(frozen=True)
class Progress:
    """Progress of a run, as passed to a ``progress`` callback (plx_progress_t)."""

    done: int  #: items (loops) or tasks finished successfully
    total: int  #: items or tasks in the run
    bytes_done: int  #: done x bytes per item (loops), or the finished tasks' estimated bytes
    elapsed_s: float  #: seconds since the run started
    eta_s: Optional[float]  #: estimated seconds left; None until something is done

    @property
    def fraction(self) -> float:
        """done / total, in [0, 1] (1 for an empty run)."""
        return self.done / self.total if self.total > 0 else 1.0


@dataclass(frozen=True)
class Task:
    """A task for :meth:`Runtime.run_tasks`: ``fn(ctx)`` with an estimate of its peak memory.

    A task starts only when ``estimated_bytes`` fits what is left of the memory budget (one larger than the whole
    budget runs alone); 0 means negligible. ``name`` appears in messages (default "task <index>")."""

    fn: Callable[["TaskContext"], Any]
    estimated_bytes: int = 0
    name: Optional[str] = None


class TaskContext:
    """What a task sees of its run, passed to ``fn(ctx)``. Valid during the call only.

    Set :attr:`message` to explain a failure (an exception's text is used when it is empty), and call
    :meth:`report_bytes` (or set :attr:`reported_bytes`) when the task learns that it needs more memory than its
    estimate: a failed attempt that reports more than its estimate is retried like an out-of-memory failure, with
    that figure as the new estimate."""

    __slots__ = ("index", "attempt", "worker", "estimated_bytes", "name", "message", "_reported_bytes")

    def __init__(self, index: int, attempt: int, worker: int, estimated_bytes: int, name: Optional[str]) -> None:
        self.index = index  #: the task's position in the tasks given
        self.attempt = attempt  #: 1 for the first run, 2 for the first retry...
        self.worker = worker  #: logical worker, in [0, workers)
        self.estimated_bytes = estimated_bytes  #: the current estimate of the task's peak memory
        self.name = name  #: the Task's name, or None
        self.message = ""  #: why the task failed (copied to its result; at most 255 bytes of UTF-8 are kept)
        self._reported_bytes = 0

    @property
    def reported_bytes(self) -> int:
        """The task's real peak memory, when its estimate proved too small; 0 = not reported."""
        return self._reported_bytes

    @reported_bytes.setter
    def reported_bytes(self, value: int) -> None:
        value = _args.integer("reported_bytes", value, 64)
        if value < 0:
            raise InvalidArgumentError(f"reported_bytes must be >= 0, got {value}")
        self._reported_bytes = value

    def report_bytes(self, nbytes: int) -> None:
        """Reports the task's real peak memory (see :attr:`reported_bytes`)."""
        self.reported_bytes = nbytes

    def __repr__(self) -> str:
        return (f"<parallax.TaskContext index={self.index} attempt={self.attempt} worker={self.worker} "
                f"estimated_bytes={self.estimated_bytes}>")


@dataclass(frozen=True)
class TaskResult:
    """How one task ended (plx_task_result_t), plus what only Python has: the value the task returned and the
    exception its last attempt raised."""

    status: int  #: PLX_OK (0), the task's last status, or PLX_ERR_CANCELLED (5) when it never started
    status_name: str  #: e.g. "PLX_OK", "PLX_ERR_TASK_FAILED"
    attempts: int  #: runs, including retries
    message: str  #: "" on success
    ok: bool  #: status == PLX_OK
    value: Any = field(default=None, compare=False)  #: what fn returned (successful tasks)
    exception: Optional[BaseException] = field(default=None, compare=False, repr=False)  #: what fn raised last


class TaskResults(List[TaskResult]):
    """The results of a task run, one per task in task order, with the run's :class:`RunReport` as ``report``."""

    report: Optional[RunReport] = None

    @property
    def ok(self) -> bool:
        """Whether every task succeeded."""
        return all(r.ok for r in self)

    @property
    def values(self) -> List[Any]:
        """What each task returned (None for the tasks that did not succeed)."""
        return [r.value for r in self]


# ---------------------------------------------------------------------------------------------------------------
# Cancel tokens
# ---------------------------------------------------------------------------------------------------------------

class CancelToken:
    """A flag that stops every run it was given (``cancel=token``), within one chunk or task: the run then raises
    :class:`CancelledError`. :meth:`cancel` may be called from any thread (a signal handler, a GUI, a watchdog).

    Use as a context manager or call :meth:`close`; a token in use by a run (or an unfinished job) is destroyed
    only once that run has ended."""

    def __init__(self) -> None:
        token = _abi.plx_cancel_token_p()
        lib.plx_cancel_token_create(byref(token))
        self._handle = Handle(token, lib.plx_cancel_token_destroy, "cancel token")

    def cancel(self) -> None:
        """Cancels every run given this token (and every later one). Idempotent."""
        with self._handle.borrow("CancelToken.cancel") as token:
            lib.plx_cancel_token_cancel(token)

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        with self._handle.borrow("CancelToken.cancelled") as token:
            return bool(lib.plx_cancel_token_is_cancelled(token))

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        """Destroys the token (once the runs using it ended). Idempotent."""
        self._handle.close()

    def __enter__(self) -> "CancelToken":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<parallax.CancelToken closed>"
        return f"<parallax.CancelToken {'cancelled' if self.cancelled else 'not cancelled'}>"


# ---------------------------------------------------------------------------------------------------------------
# One run: its C structs, its callbacks, and what they caught
# ---------------------------------------------------------------------------------------------------------------

def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_cancel_answer(answer: Any) -> bool:
    return isinstance(answer, numbers.Integral) and int(answer) != 0


class _Run:
    """The Python side of one run. C points into it (options, report, callbacks, arrays) until the run has ended,
    so a job keeps it alive until then. Callbacks record what they raised here; :meth:`outcome` turns the
    library's status and those records into the value or exception of the call."""

    def __init__(self, runtime: Any, kind: str, name: Optional[str], *, workers: int, progress: Optional[Callable],
                 progress_interval_ms: int, grain: int = 0, bytes_per_item: int = 0) -> None:
        self.runtime = runtime  # keeps the Runtime object alive while a job uses it
        self.kind = kind
        self.where = f"Runtime.{kind}"  # the method, for messages
        self.name = name or kind
        self.is_job = False
        self.lock = threading.Lock()
        self.errors: Dict[Any, Tuple[BaseException, int, int, int]] = {}  # begin -> (exc, begin, end, worker)
        self.progress_error: Optional[BaseException] = None
        self.fatal: Optional[BaseException] = None  # KeyboardInterrupt, SystemExit...: re-raised as they are
        self.borrows = ExitStack()

        options = self.options = _abi.plx_run_options_t()
        lib.plx_run_options_init(byref(options), sizeof(options))
        self.report = _abi.plx_run_report_t(struct_size=sizeof(_abi.plx_run_report_t))
        options.report = pointer(self.report)
        options.name = _args.text("name", name)
        options.workers = _nonnegative("workers", workers, 32)
        options.progress_interval_ms = _nonnegative("progress_interval_ms", progress_interval_ms, 32)
        options.grain = _nonnegative("grain", grain, 64)
        options.bytes_per_item = _nonnegative("bytes_per_item", bytes_per_item, 64)
        if progress is not None:
            if not callable(progress):
                raise TypeError(f"progress must be callable, not {type(progress).__name__}")
            self.progress_callback = _abi.plx_progress_fn(self._progress_call(progress))
            options.progress = self.progress_callback

    # -- borrowed handles -------------------------------------------------------------------------------------

    def borrow(self, plan: Optional[Plan], cancel: Optional[CancelToken]) -> Any:
        """Borrows the plan and the cancel token until :meth:`release`; returns the plan's pointer (or None)."""
        where = self.where
        plan_pointer = None
        if plan is not None:
            if not isinstance(plan, Plan):
                raise TypeError(f"plan must be a parallax.Plan, not {type(plan).__name__}")
            plan_pointer = self.borrows.enter_context(plan._handle.borrow(f"{where}: plan"))
        if cancel is not None:
            if not isinstance(cancel, CancelToken):
                raise TypeError(f"cancel must be a parallax.CancelToken, not {type(cancel).__name__}")
            self.options.cancel = self.borrows.enter_context(cancel._handle.borrow(f"{where}: cancel"))
        return plan_pointer

    def release(self) -> None:
        """Gives back the plan and the cancel token (the run has ended). Idempotent."""
        self.borrows.close()

    def dispose(self) -> None:
        """Drops what C pointed to once the run has ended, breaking the reference cycles between the run and its
        callbacks' closures (so that the runtime it refers to is freed by reference counting, not by the cyclic
        garbage collector on whatever thread it runs)."""
        self.release()
        for name in ("callback", "progress_callback", "range_callback", "combine_callback", "options", "desc",
                     "tasks", "read", "objects"):
            if hasattr(self, name):
                setattr(self, name, None)
        self.errors, self.values, self.exceptions = {}, {}, {}
        self.progress_error = self.fatal = None

    def outcome(self, error: Optional[Error]) -> Any:
        """What the call returns once the run has ended, or raises. Call once."""
        try:
            return self._outcome(error)
        finally:
            self.dispose()

    def _outcome(self, error: Optional[Error]) -> Any:
        raise NotImplementedError

    # -- inside callbacks -------------------------------------------------------------------------------------

    def enter(self) -> None:
        _active_runs().append(self)

    def leave(self) -> None:
        runs = _active_runs()
        if runs:
            runs.pop()

    def record(self, key: Any, exc: BaseException, begin: int = 0, end: int = 0, worker: int = 0) -> None:
        with self.lock:
            if not isinstance(exc, Exception) and self.fatal is None:
                self.fatal = exc
            self.errors.setdefault(key, (exc, begin, end, worker))

    def _progress_call(self, fn: Callable[[Progress], Any]) -> Callable[..., int]:
        def call(info: Any, _user_data: Any) -> int:
            if self.fatal is not None or self.progress_error is not None:
                return 1
            self.enter()
            try:
                p = info.contents
                answer = fn(Progress(done=p.done, total=p.total, bytes_done=p.bytes_done, elapsed_s=p.elapsed_s,
                                     eta_s=None if p.eta_s < 0 else p.eta_s))
                return 1 if _is_cancel_answer(answer) else 0
            except BaseException as exc:  # noqa: B902 - nothing may propagate into C
                with self.lock:
                    if self.progress_error is None:
                        self.progress_error = exc
                    if not isinstance(exc, Exception) and self.fatal is None:
                        self.fatal = exc
                return 1
            finally:
                self.leave()

        return call

    # -- after the run ----------------------------------------------------------------------------------------

    def run_report(self) -> Optional[RunReport]:
        return RunReport._from_struct(self.report)

    def raise_callback_errors(self, error: Optional[Error], report: Optional[RunReport]) -> None:
        """Raises what the callbacks caught, in order: a KeyboardInterrupt-like exception as it is; a loop body's
        (or combine's) exception as the cause of a TaskError; a progress callback's exception as it is."""
        if self.fatal is not None:
            raise self.fatal
        if self.errors:
            first = min(self.errors, key=lambda k: (isinstance(k, str), k if isinstance(k, int) else 0))
            if report is not None and report.failed_begin is not None and report.failed_begin not in self.errors \
                    and error is not None:
                # The first failing range returned a code; a later one raised: the library's message, and the
                # exception as the cause.
                error.report = report
                raise error from self.errors[first][0]
            key = report.failed_begin if report is not None and report.failed_begin in self.errors else first
            exc, begin, end, worker = self.errors[key]
            if key == "combine":
                message = f"{self.name}: the combine function raised {_describe(exc)}"
            else:
                message = (f"{self.name}: the callback raised {_describe(exc)} for items [{begin}, {end}) on worker "
                           f"{worker}; the loop stopped"
                           + (f" after {report.chunks} chunks" if report is not None else ""))
            failure = TaskError(message)
            failure.report = report
            raise failure from exc
        if self.progress_error is not None:
            raise self.progress_error

    def raise_status(self, error: Optional[Error], report: Optional[RunReport], results: Any = None) -> None:
        if error is not None:
            error.report, error.results = report, results  # type: ignore[attr-defined]
            raise error


def _nonnegative(name: str, value: Any, bits: int) -> int:
    number = _args.integer(name, value, bits)
    if number < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, got {number}")
    return number


def _call(fn: Callable[..., Any], *args: Any) -> Optional[Error]:
    """Calls a status-returning library function; returns its error instead of raising it."""
    try:
        fn(*args)
    except Error as error:
        return error
    return None


def _range(begin: int, end: Optional[int]) -> Tuple[int, int]:
    if end is None:
        begin, end = 0, begin
    return _args.integer("begin", begin, 64), _args.integer("end", end, 64)


def _check_callable(name: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be callable, not {type(fn).__name__}")


def _callback_code(result: Any) -> int:
    """A loop body's return value as the C code: None = 0, an int as it is (it must fit a C int)."""
    if result is None:
        return 0
    if isinstance(result, bool) or not isinstance(result, numbers.Integral):
        # bool too: True would read as failure code 1 (a lambda ending in event.wait() returns it).
        raise TypeError(f"the callback must return None or an int (0 = success), not {type(result).__name__}")
    code = operator.index(result)
    if not -2**31 <= code <= _INT32_MAX:
        raise OverflowError(f"the callback returned {code}, which does not fit a C int")
    return code


# ---------------------------------------------------------------------------------------------------------------
# Loops
# ---------------------------------------------------------------------------------------------------------------

class _LoopRun(_Run):
    def __init__(self, runtime: Any, kind: str, fn: Callable[[int, int, int], Any], **kwargs: Any) -> None:
        _check_callable("fn", fn)
        super().__init__(runtime, kind, **kwargs)
        self.callback = _abi.plx_range_fn(self._body(fn))

    def _body(self, fn: Callable[[int, int, int], Any]) -> Callable[..., int]:
        def call(begin: int, end: int, worker: int, _user_data: Any) -> int:
            if self.fatal is not None:
                return 1
            self.enter()
            try:
                return _callback_code(fn(begin, end, worker))
            except BaseException as exc:  # noqa: B902 - nothing may propagate into C
                self.record(begin, exc, begin, end, worker)
                return -1
            finally:
                self.leave()

        return call

    def _outcome(self, error: Optional[Error]) -> RunReport:
        """The report of a finished loop, or the exception it ends with."""
        self.release()
        report = self.run_report()
        self.raise_callback_errors(error, report)
        self.raise_status(error, report)
        assert report is not None
        return report


# ---------------------------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------------------------

def _store_double(address: int, value: Any) -> None:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"the callback must return a real number, not {type(value).__name__}")
    c_double.from_address(address).value = float(value)


def _store_float(address: int, value: Any) -> None:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"the callback must return a real number, not {type(value).__name__}")
    c_float.from_address(address).value = float(value)


def _store_int64(address: int, value: Any) -> None:
    if not isinstance(value, numbers.Integral):
        raise TypeError(f"the callback must return an int, not {type(value).__name__}")
    c_int64.from_address(address).value = _args.integer("the partial", value, 64)


_BUILTIN_REDUCTIONS = {  # op -> (C type of a value, how a partial is stored)
    "sum_double": (c_double, _store_double),
    "sum_float": (c_float, _store_float),
    "sum_int64": (c_int64, _store_int64),
}


class _ReduceRun(_Run):
    def __init__(self, runtime: Any, fn: Callable[[int, int, int], Any], op: Optional[str],
                 combine: Optional[Callable[[Any, Any], Any]], identity: Any, grain: int, **kwargs: Any) -> None:
        _check_callable("fn", fn)
        super().__init__(runtime, "parallel_reduce", **kwargs)
        desc = self.desc = _abi.plx_reduce_desc_t()
        lib.plx_reduce_desc_init(byref(desc), sizeof(desc))
        desc.grain = _nonnegative("grain", grain, 64)
        if combine is None:
            op = "sum_double" if op is None else op
            desc.op = _args.choice("op", op, _abi.REDUCE_OPS)
            ctype, store = _BUILTIN_REDUCTIONS[op.lower()]
            self.result = ctype()
            self.read = lambda: self.result.value
        else:
            _check_callable("combine", combine)
            if op is not None:
                raise InvalidArgumentError(f"op={op!r} and combine= exclude each other: a custom reduction is "
                                           "given by combine (and identity) alone")
            # Partials are Python objects in a table; the C partial (8 bytes) holds the object's key. Key 0 is the
            # identity, which the library copies into every partial before the callback replaces it.
            objects: Dict[int, Any] = {0: identity}
            keys = iter(range(1, 2**63))  # next() on a range iterator is atomic under the GIL
            desc.op, desc.value_size = _abi.PLX_REDUCE_CUSTOM, sizeof(c_int64)
            desc.identity = None  # NULL: zeros, i.e. key 0
            self.objects = objects
            self.result = c_int64(0)
            self.read = lambda: objects[self.result.value]

            def store(address: int, value: Any) -> None:
                key = next(keys)
                objects[key] = value
                c_int64.from_address(address).value = key

            def merge(accumulated: int, partial: int, _user_data: Any) -> int:
                if self.fatal is not None:
                    return 1
                self.enter()
                try:
                    into, take = c_int64.from_address(accumulated), c_int64.from_address(partial)
                    value = combine(objects[into.value], objects[take.value])
                    if into.value == 0:  # never the identity's slot: it would change the empty result
                        into.value = next(keys)
                    objects[into.value] = value
                    if take.value != 0:
                        del objects[take.value]
                    return 0
                except BaseException as exc:  # noqa: B902 - nothing may propagate into C
                    self.record("combine", exc)
                    return -1
                finally:
                    self.leave()

            self.combine_callback = _abi.plx_combine_fn(merge)
            desc.combine = self.combine_callback

        def body(begin: int, end: int, worker: int, partial: int, _user_data: Any) -> int:
            if self.fatal is not None:
                return 1
            self.enter()
            try:
                store(partial, fn(begin, end, worker))
                return 0
            except BaseException as exc:  # noqa: B902 - nothing may propagate into C
                self.record(begin, exc, begin, end, worker)
                return -1
            finally:
                self.leave()

        self.range_callback = _abi.plx_reduce_range_fn(body)
        desc.range = self.range_callback

    def _outcome(self, error: Optional[Error]) -> Any:
        self.release()
        report = self.run_report()
        self.raise_callback_errors(error, report)
        self.raise_status(error, report)
        return self.read()


# ---------------------------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------------------------

def _message_bytes(text: str) -> bytes:
    """At most 255 bytes of UTF-8, cut on a character boundary, without NULs (C would stop there)."""
    data = text.replace("\0", "\\0").encode("utf-8", "replace")
    if len(data) > _MESSAGE_BYTES:
        data = data[:_MESSAGE_BYTES].decode("utf-8", "ignore").encode("utf-8")
    return data


class _TaskRun(_Run):
    def __init__(self, runtime: Any, tasks: Iterable[Union[Task, Callable[[TaskContext], Any]]], *, check: bool,
                 max_attempts: int, fail_fast: bool, backoff_base_s: float, backoff_cap_s: float, grow_after: int,
                 memory_budget_bytes: int, jitter_seed: int, kind: str, **kwargs: Any) -> None:
        specs: List[Task] = []
        for index, task in enumerate(tasks):
            if isinstance(task, Task):
                _check_callable(f"tasks[{index}].fn", task.fn)
                specs.append(task)
            elif callable(task):
                specs.append(Task(task))
            else:
                raise TypeError(f"tasks[{index}] must be a parallax.Task or a callable, not {type(task).__name__}")
        super().__init__(runtime, kind, **kwargs)
        self.check = check
        self.specs = specs
        options = self.options
        options.max_attempts = _args.integer("max_attempts", max_attempts, 32)
        options.fail_fast = 1 if fail_fast else 0
        options.backoff_base_s = float(backoff_base_s)
        options.backoff_cap_s = float(backoff_cap_s)
        options.grow_after = _args.integer("grow_after", grow_after, 32)
        options.memory_budget_bytes = _nonnegative("memory_budget_bytes", memory_budget_bytes, 64)
        seed = operator.index(jitter_seed)
        if not 0 <= seed < 2**64:
            raise InvalidArgumentError(f"jitter_seed must be from 0 to 2**64 - 1, got {seed}")
        options.jitter_seed = seed

        self.values: Dict[int, Any] = {}
        self.exceptions: Dict[int, BaseException] = {}
        self.callback = _abi.plx_task_fn(self._task_call)
        count = len(specs)
        self.count = count
        self.tasks = (_abi.plx_task_t * max(count, 1))()
        self.results = (_abi.plx_task_result_t * max(count, 1))()
        for i, spec in enumerate(specs):
            self.tasks[i].struct_size = sizeof(_abi.plx_task_t)
            self.tasks[i].fn = self.callback
            self.tasks[i].estimated_bytes = _args.integer(f"tasks[{i}].estimated_bytes", spec.estimated_bytes, 64)
            self.tasks[i].name = _args.text(f"tasks[{i}].name", spec.name)
        for i in range(len(self.results)):
            self.results[i].struct_size = sizeof(_abi.plx_task_result_t)

    def _task_call(self, context: Any, _user_data: Any) -> int:
        try:
            ctx = context.contents
            index = ctx.index
            if self.fatal is not None:
                ctx.message = _message_bytes(f"not run: {type(self.fatal).__name__} was raised in another callback")
                return _abi.PLX_ERR_CANCELLED
            spec = self.specs[index]
            task_context = TaskContext(index, ctx.attempt, ctx.worker, ctx.estimated_bytes, spec.name)
        except BaseException:  # noqa: B902 - nothing may propagate into C
            return _abi.PLX_ERR_TASK_FAILED
        self.enter()
        try:
            value = spec.fn(task_context)
            status, message = _abi.PLX_OK, ""
            self.values[index] = value
            self.exceptions.pop(index, None)
        except BaseException as exc:  # noqa: B902 - nothing may propagate into C
            self.exceptions[index] = exc
            message = task_context.message or _describe(exc)
            if isinstance(exc, (MemoryError, OutOfMemoryError)):
                status = _OUT_OF_MEMORY_STATUS
            elif isinstance(exc, Exception):
                status = _abi.PLX_ERR_TASK_FAILED
            else:
                with self.lock:
                    if self.fatal is None:
                        self.fatal = exc
                status = _abi.PLX_ERR_CANCELLED
        finally:
            self.leave()
        try:
            ctx.reported_bytes = task_context.reported_bytes
            ctx.message = _message_bytes(message)
        except BaseException:  # noqa: B902
            pass
        return status

    def task_results(self) -> TaskResults:
        from .errors import _status_string

        results = TaskResults()
        for i in range(self.count):
            r = self.results[i]
            ok = r.status == _abi.PLX_OK
            results.append(TaskResult(status=r.status, status_name=_status_string(r.status), attempts=r.attempts,
                                      message=r.message.decode("utf-8", "replace"), ok=ok,
                                      value=self.values.get(i) if ok else None,
                                      exception=None if ok else self.exceptions.get(i)))
        results.report = self.run_report()
        return results

    def _outcome(self, error: Optional[Error]) -> TaskResults:
        self.release()
        if error is not None and error.status not in (_abi.PLX_ERR_TASK_FAILED, _abi.PLX_ERR_CANCELLED):
            raise error  # refused before the run (bad options, closed handles...)
        results = self.task_results()
        if self.fatal is not None:
            raise self.fatal
        if self.progress_error is not None:
            raise self.progress_error
        if error is not None and self.check:
            failed = next((r.exception for r in results if not r.ok and r.exception is not None
                           and r.status != _abi.PLX_ERR_CANCELLED), None)
            error.report, error.results = results.report, results
            if failed is not None:
                raise error from failed
            raise error
        return results


# ---------------------------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------------------------

_SLICE_MS = 100  # an unbounded wait on the main thread wakes this often, so that Ctrl-C is seen
_jobs: "weakref.WeakSet[Job]" = weakref.WeakSet()
_dropped: Set[int] = set()  # addresses of jobs dropped while running, until the reaper destroyed them
_dropped_lock = threading.RLock()  # reentrant: Job.__del__ may run while this thread holds it


def _poll(job: Any) -> bool:
    done = c_int(0)
    lib.plx_job_poll(job, byref(done))
    return bool(done.value)


def _destroy_job(job: Any, run: "_Run") -> None:
    with _dropped_lock:  # out of the set first: _cancel_jobs_at_exit cancels only jobs not yet destroyed
        _dropped.discard(_address(job))
    lib.plx_job_destroy(job)
    run.dispose()


def _wait_quietly(job: Any) -> None:
    """Waits for a dropped job to end, on the reaper thread."""
    try:
        lib.plx_job_wait(job, -1)
    except Error:
        pass


def _address(job: Any) -> int:
    return cast(job, c_void_p).value or 0


def _timeout_ms(timeout: Optional[float]) -> int:
    if timeout is None:
        return -1
    seconds = float(timeout)
    if math.isnan(seconds):
        raise InvalidArgumentError("timeout is NaN: give seconds, or None to wait as long as it takes")
    if seconds >= 2**53 / 1000:
        return -1
    return max(0, math.ceil(seconds * 1000))


class Job:
    """A run started without waiting (:meth:`Runtime.parallel_for_async`, :meth:`Runtime.submit_tasks`).

    :meth:`wait` returns what the synchronous call would return, or raises what it would raise; :attr:`done`
    tells whether the run ended; :meth:`cancel` asks it to stop. Use it as a context manager or call
    :meth:`close`, which cancels the run if it still goes on and waits for it to end.

    A Job keeps the Python callbacks and every C struct of its run alive until the run has ended. A Job dropped
    while its run goes on does not stop it: the run goes on to its end (closing the runtime cancels it), then a
    thread of the binding frees it. Jobs still running at interpreter exit are cancelled and waited for."""

    def __init__(self, job: Any, run: _Run) -> None:
        """Takes ownership of a plx_job_t*; use :meth:`Runtime.parallel_for_async` or :meth:`Runtime.submit_tasks`."""
        run.is_job = True

        self._handle = Handle(job, lambda pointer: _destroy_job(pointer, run), "job", keepalive=run,
                              defer_in_runs=True)
        self._run = run
        self._lock = threading.Lock()
        self._outcome: Optional[Tuple[bool, Any]] = None
        self.name = run.name
        _jobs.add(self)

    # -- waiting ----------------------------------------------------------------------------------------------

    def _wait(self, timeout_ms: int) -> Optional[Error]:
        """plx_job_wait: the run's error (None on success); raises TimeoutError."""
        with self._handle.borrow("Job.wait") as job:
            runs = _active_runs()
            if timeout_ms < 0 and self._run in runs:
                raise InvalidArgumentError(f"Job.wait: job '{self.name}' waited for from one of its own callbacks, "
                                           "which would never return; give a timeout, or wait from elsewhere")
            # On the main thread, outside callbacks, an unbounded wait is a loop of short ones so that Ctrl-C is
            # seen. (Inside a callback it must be one unbounded wait: that runs the job right there when it has
            # not started, which is what keeps a wait from a busy arena from deadlocking.)
            sliced = timeout_ms < 0 and not runs and threading.get_ident() == threading.main_thread().ident
            while True:
                try:
                    with running():  # an unbounded wait may run the job's callbacks on this thread
                        lib.plx_job_wait(job, _SLICE_MS if sliced else timeout_ms)
                except TimeoutError:
                    if sliced:
                        continue
                    raise
                except Error as error:
                    return error
                return None

    def _settle(self, error: Optional[Error]) -> Tuple[bool, Any]:
        with self._lock:
            if self._outcome is None:
                try:
                    self._outcome = (True, self._run.outcome(error))  # type: ignore[attr-defined]
                except BaseException as exc:  # noqa: B902 - kept, raised by every wait()
                    self._outcome = (False, exc)
            return self._outcome

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Waits for the run to end and returns what the synchronous call returns (a :class:`RunReport`, or the
        :class:`TaskResults`), or raises what it raises (:class:`TaskError`, :class:`CancelledError`, ...). Every
        later call returns (or raises) the same.

        :param timeout: seconds; None (default) waits as long as it takes.
        :raises TimeoutError: (``parallax.TimeoutError``, also a builtin ``TimeoutError``) the run did not end
            within ``timeout``; it goes on.

        Called from a callback of another run on the same runtime, ``wait()`` without a timeout runs the job on
        the calling thread if it has not started yet, so it never deadlocks; with a timeout it may time out.
        Waiting without a timeout from one of the job's own callbacks is refused (InvalidArgumentError)."""
        outcome = self._outcome
        if outcome is None:
            outcome = self._settle(self._wait(_timeout_ms(timeout)))
        ok, value = outcome
        if ok:
            return value
        raise value

    @property
    def done(self) -> bool:
        """Whether the run has ended (plx_job_poll)."""
        if self._outcome is not None:
            return True
        with self._handle.borrow("Job.done") as job:
            ended = _poll(job)
        if ended:
            self._settle(self._wait(0))
        return ended

    def cancel(self) -> None:
        """Asks the run to stop: it then ends with :class:`CancelledError` (unless it already ended)."""
        if self._outcome is not None:
            return
        with self._handle.borrow("Job.cancel") as job:
            lib.plx_job_cancel(job)

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        """Cancels the run if it still goes on, waits for it to end, and frees the job. :meth:`wait` still gives
        the outcome afterwards. Idempotent."""
        if self._handle.closed:
            return
        if self._outcome is None:
            if self._run in _active_runs():
                raise InvalidArgumentError(f"Job.close: job '{self.name}' closed from one of its own callbacks, "
                                           "which would wait for itself; call cancel() there instead")
            self.cancel()
            self._settle(self._wait(-1))
        self._handle.close()

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            handle = self._handle
        except AttributeError:  # __init__ failed
            return
        if handle.closed:
            return
        try:
            with handle.borrow("job") as job:
                ended = _poll(job)
                if not ended:
                    with _dropped_lock:
                        _dropped.add(_address(job))
        except BaseException:  # noqa: B902
            return
        if ended:
            handle.close()
        else:  # never wait here: the reaper waits for the end, then frees the job and its callbacks
            handle.close_later(_wait_quietly)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "done" if self._outcome is not None else "running"
        return f"<parallax.Job {self.name!r} {state}>"


@atexit.register
def _cancel_jobs_at_exit() -> None:
    """Running jobs call Python: stop them before the interpreter goes."""
    for job in list(_jobs):
        try:
            job.close()
        except BaseException:  # noqa: B902
            pass
    with _dropped_lock:
        for address in _dropped:
            lib.plx_job_cancel(cast(address, _abi.plx_job_p))
    reaper.join()
