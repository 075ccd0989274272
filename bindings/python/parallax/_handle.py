"""Lifetime of one C handle: destroyed exactly once, never while a call on
another thread is still using it, and on garbage collection at the latest.

Runtimes and jobs are never destroyed on a thread that is inside a Parallax run
(a callback, a library thread, or a thread blocked in a call that runs Python
callbacks): the C API forbids destroying a runtime while it runs work and a job
from its own callbacks, and Python's garbage collector may free either on any
thread. Such a destroy is handed to a short-lived thread of the binding's own
("parallax-reaper") instead."""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple

from .errors import InvalidArgumentError

_state = threading.local()  # .depth: calls running Python callbacks; .runs: runs whose callbacks we are in


def active_runs() -> List[Any]:
    """The runs whose callbacks the calling thread is inside, innermost last."""
    try:
        return _state.runs
    except AttributeError:
        _state.runs = []
        return _state.runs


@contextmanager
def running() -> Iterator[None]:
    """Marks the calling thread as inside a library call that may run callbacks (and runs) on it."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def in_run() -> bool:
    """Whether the calling thread may be inside a Parallax run: in a call that runs callbacks, in a callback, or a
    thread Python did not start (a library thread calling back)."""
    if getattr(_state, "depth", 0) or active_runs():
        return True
    thread = threading._active.get(threading.get_ident())  # type: ignore[attr-defined]
    return thread is None or isinstance(thread, threading._DummyThread)  # type: ignore[attr-defined]


class _Reaper:
    """Runs deferred destroys, in order, on a thread of its own that ends when none is left."""

    _STARTING: Any = object()

    def __init__(self) -> None:
        # Reentrant: the garbage collector may free a handle (and defer its destroy) while this thread holds it.
        self._lock = threading.RLock()
        self._pending: List[Tuple[Callable[[Any], None], Any, Any]] = []
        self._thread: Any = None  # None, _STARTING or the draining thread
        self._last_native_id: Optional[int] = None  # the OS thread of the last draining thread

    def defer(self, destroy: Callable[[Any], None], pointer: Any, keepalive: Any) -> None:
        with self._lock:
            self._pending.append((destroy, pointer, keepalive))
            if self._thread is None:
                self._thread = self._STARTING
                # A daemon, so that a dropped job that never ends cannot hold up the interpreter's exit before the
                # atexit handler cancels it. (daemon given: Thread() would otherwise ask current_thread(), adding
                # a dummy thread for a library thread.)
                thread = threading.Thread(target=self._drain, name="parallax-reaper", daemon=True)
                self._thread = thread
                thread.start()

    def _drain(self) -> None:
        self._last_native_id = threading.get_native_id()
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                destroy, pointer, keepalive = self._pending.pop(0)
            try:
                with running():  # a destroy here may release more handles: they come back to this queue
                    destroy(pointer)
            except BaseException:  # noqa: B902 - nothing to report to
                pass
            del keepalive

    def join(self) -> None:
        """Waits until every deferred destroy has run and the thread that ran them is gone (for tests and
        shutdown)."""
        while True:
            with self._lock:
                thread = self._thread
            if thread is None or thread is threading.current_thread():
                break
            if thread is self._STARTING:
                time.sleep(0.001)
            else:
                thread.join()
        self._wait_for_os_thread()

    def _wait_for_os_thread(self) -> None:
        # threading's join returns before the OS thread has ended, and what that thread holds in the library is
        # released only then: oneTBB keeps its workers while a thread that used it lives, so a runtime destroyed
        # right after join() could not end them (its workers then end a moment later, on their own). On Linux,
        # wait for the thread to be gone; briefly (a thread id may be reused), and elsewhere not at all.
        native_id = self._last_native_id
        if native_id is None or native_id == threading.get_native_id():
            return
        task = f"/proc/self/task/{native_id}"
        deadline = time.monotonic() + 2.0
        while os.path.exists(task) and time.monotonic() < deadline:
            time.sleep(0.001)


reaper = _Reaper()


class Handle:
    """Owns a C handle. ``borrow()`` yields it for one call; ``close()`` marks it closed and destroys it once the
    last borrower is done. ``keepalive`` (e.g. a ctypes callback the handle calls) lives as long as the handle.
    With ``defer_in_runs``, a destroy that would happen inside a Parallax run is handed to the reaper thread."""

    def __init__(self, pointer: Any, destroy: Callable[[Any], None], kind: str, keepalive: Any = None,
                 defer_in_runs: bool = False) -> None:
        self._pointer, self._destroy, self._kind, self._keepalive = pointer, destroy, kind, keepalive
        self._defer = defer_in_runs
        self._later: Optional[Callable[[Any], None]] = None
        self._lock = threading.Lock()
        self._users = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def borrow(self, what: str) -> Iterator[Any]:
        pointer = self.retain(what)
        try:
            yield pointer
        finally:
            self.unretain()

    def retain(self, what: str) -> Any:
        """Takes a use of the handle that lasts until :meth:`unretain` (a borrow that outlives one call: a kernel
        or buffer keeps its runtime until it is destroyed itself). Returns the pointer."""
        with self._lock:
            if self._closed:
                raise InvalidArgumentError(f"{what}: this {self._kind} is closed")
            self._users += 1
            return self._pointer

    def unretain(self) -> None:
        """Ends a use taken by :meth:`retain`; the last one of a closed handle destroys it."""
        with self._lock:
            self._users -= 1
            last = self._closed and self._users == 0
        if last:
            self._release()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            last = self._users == 0
        if last:
            self._release()

    def close_later(self, before: Callable[[Any], None]) -> None:
        """Closes the handle; the reaper thread calls ``before(pointer)`` (which may block) and then destroys it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._later = before
            last = self._users == 0
        if last:
            self._release()

    def _release(self) -> None:
        pointer, self._pointer = self._pointer, None
        keepalive, self._keepalive = self._keepalive, None
        if pointer:
            later, destroy = self._later, self._destroy
            if later is not None:
                def finish(p: Any) -> None:
                    later(p)
                    destroy(p)

                reaper.defer(finish, pointer, keepalive)
            elif self._defer and in_run():
                reaper.defer(destroy, pointer, keepalive)
            else:
                with running():  # destroying a runtime or job may run a job's callbacks right here
                    self._destroy(pointer)
        del keepalive

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # a partly built handle, or interpreter shutdown
            pass
