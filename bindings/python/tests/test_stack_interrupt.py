"""Ctrl-C during parallax.stack of in-memory frames: the run is cancelled within a progress interval and the
KeyboardInterrupt raised then, not once every pixel is stacked; the wakeup fd is only borrowed (parallax._interrupt)."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import parallax
from parallax import _interrupt

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")


@pytest.fixture(scope="module")
def srt(profile):
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g")) as runtime:
        yield runtime


def _interrupt_after(seconds):
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_cancels_an_in_memory_stack(srt):
    # About 2.5 s on the 2-CPU profile: a frame pass (linear fits), then winsorized clipping to convergence of 240
    # frames (16 arrays, each listed 15 times: read in place).
    block = np.random.default_rng(0).standard_normal((16, 512, 512), dtype=np.float32)
    cube = [block[i % 16] for i in range(240)]
    options = dict(reject="winsorized", normalize="linear_fit", combine="median", max_iters=None)
    timer = _interrupt_after(0.2)
    start = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            parallax.stack(cube, runtime=srt, **options)
        elapsed = time.perf_counter() - start
    finally:
        timer.cancel()
    assert elapsed < 0.7, f"the KeyboardInterrupt came {elapsed:.1f} s after the start, 0.2 s after Ctrl-C"
    assert signal.set_wakeup_fd(-1) == -1  # given back
    assert parallax.stack(block[:3, :4, :4], runtime=srt).image.shape == (4, 4)  # the runtime goes on


def test_ctrl_c_stops_a_provider_at_its_next_call(srt):
    """A provider's calls end the run as soon as Ctrl-C is seen, wherever they run (the main thread's, where
    Python's handler would have raised, take no note of it now)."""
    cube = np.random.default_rng(1).normal(0, 1, (20, 200, 50)).astype(np.float32)

    def slow(frame, row0, rows, col0, cols, channel):
        time.sleep(0.01)
        return cube[frame, row0:row0 + rows, col0:col0 + cols]

    timer = _interrupt_after(0.2)
    start = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            parallax.stack(slow, shape=cube.shape, runtime=srt, provider_rows=4)  # 1000 calls: 5 s or more
        elapsed = time.perf_counter() - start
    finally:
        timer.cancel()
    assert elapsed < 0.7
    assert signal.set_wakeup_fd(-1) == -1


def test_the_watch_is_set_only_where_ctrl_c_is_pythons(srt):
    with _interrupt.SigintWatch() as watch:
        assert watch.active and not watch.seen()
    assert signal.set_wakeup_fd(-1) == -1
    seen = []

    def in_a_thread():
        with _interrupt.SigintWatch() as other:
            seen.append(other.active)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [False]
    calls = []
    previous = signal.signal(signal.SIGINT, lambda *args: calls.append(args))
    try:
        with _interrupt.SigintWatch() as watch:
            assert not watch.active  # the program's own handler decides
        assert _interrupt.cancelling_progress(None, watch) is None
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_no_callback_saw_is_raised_on_leaving():
    with pytest.raises(KeyboardInterrupt):
        with _interrupt.SigintWatch() as watch:
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 5
            while not watch.seen() and time.monotonic() < deadline:
                pass
            assert watch.seen()  # noted, not raised: the call it watches goes on to cancel itself
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.set_wakeup_fd(-1) == -1
