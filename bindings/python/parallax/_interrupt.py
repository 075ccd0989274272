"""Ctrl-C during a long library call. Python runs its SIGINT handler in the main thread between bytecodes: while that
thread waits in C, a KeyboardInterrupt comes only once the call has ended, or inside whichever of the run's Python
callbacks the main thread happens to be running (where ctypes reports it and drops it). Around a call made from
the main thread under Python's default handler (and no wakeup fd of someone else's), :class:`SigintWatch` puts its
own: a handler that only takes note (a second Ctrl-C raises at once, as Python's), and a wakeup fd, which the C-level
handler writes to at once, so that the run's progress callback, on any thread, sees Ctrl-C within a progress
interval and cancels the run; the KeyboardInterrupt is then raised as the call returns."""
from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable, Optional


class SigintWatch:
    """``with SigintWatch() as watch:`` a call ``watch.seen()`` tells, from any thread, whether Ctrl-C was pressed;
    leaving the block raises KeyboardInterrupt if it was. Inactive (``watch.active`` False, ``seen()`` always False)
    where Ctrl-C is not Python's default to take: outside the main thread, or under a handler of the program's."""

    def __init__(self) -> None:
        self.active = False
        self.pressed = 0  # SIGINTs the handler has taken
        self.woken = False  # a SIGINT reached the wakeup fd (before the handler could run)
        self.fds: Optional[tuple] = None

    def __enter__(self) -> "SigintWatch":
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return self
        read, write = self.fds = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        if previous != -1:  # someone else's (an event loop's): theirs, and nothing to watch
            signal.set_wakeup_fd(previous)
            self._forward(previous)
            return self
        signal.signal(signal.SIGINT, self._take)
        self.active = True
        return self

    def __exit__(self, _type: Any, exc: Optional[BaseException], _traceback: Any) -> None:
        # Entering this method ran the handler of a SIGINT still pending: ours, not yet Python's.
        if self.active:
            if signal.getsignal(signal.SIGINT) == self._take:  # not one a callback has put since
                signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.set_wakeup_fd(-1)
            self.active = False
        if self.fds is not None:
            for fd in self.fds:
                os.close(fd)
            self.fds = None
        if (self.pressed or self.woken) and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt  # as Python's handler would have raised it when the call returned

    def seen(self) -> bool:
        if self.active and not (self.pressed or self.woken):
            self.woken = signal.SIGINT in self._drain()
        return bool(self.pressed or self.woken)

    def _take(self, _signum: int, _frame: Any) -> None:
        self.pressed += 1
        if self.pressed > 1:
            raise KeyboardInterrupt

    def _drain(self) -> bytes:
        try:
            return os.read(self.fds[0], 4096)
        except BlockingIOError:
            return b""

    def _forward(self, fd: int) -> None:
        """Hands what reached our fd while it was set to the fd it had replaced."""
        data = self._drain()
        if data:
            try:
                os.write(fd, data)
            except OSError:
                pass  # a full or closed wakeup fd: its owner's handlers still run


def cancelling_progress(progress: Optional[Callable[[Any], Any]], watch: SigintWatch) -> Optional[Callable]:
    """``progress`` (None included), first raising KeyboardInterrupt once Ctrl-C was pressed: the run records it and
    cancels itself."""
    if not watch.active:
        return progress

    def call(info: Any) -> Any:
        if watch.seen():
            raise KeyboardInterrupt
        return None if progress is None else progress(info)

    return call
