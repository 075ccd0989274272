"""Creating and closing runtimes and plans releases what they hold.

A leaked runtime with its plan costs about 2.2 KiB, so 10,000 leaked cycles grow
RSS by ~22 MiB: the bound is 1 KiB per cycle (measured growth: 0)."""
import gc
import logging

import parallax

CYCLES = 10000
LIMIT = CYCLES * 1024


def rss_bytes():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def cycle(path, logger, n):
    for _ in range(n):
        with parallax.Runtime(machine_profile=path, logger=logger) as rt, rt.plan(100, 1 << 20) as plan:
            assert plan.cpu_workers == 16


def test_create_close_cycles_do_not_grow_rss(profile):
    path = profile("laptop-8c-16g")
    logger = logging.getLogger("parallax.test.resources")
    logger.setLevel(logging.DEBUG)  # so every runtime installs a log callback
    logger.propagate = False
    cycle(path, logger, 200)
    gc.collect()
    before = rss_bytes()
    cycle(path, logger, CYCLES)
    gc.collect()
    assert rss_bytes() - before < LIMIT


def test_unclosed_runtimes_are_released_by_garbage_collection(profile):
    path = profile("laptop-8c-16g")
    for _ in range(200):
        parallax.Runtime(machine_profile=path).plan(100, 1 << 20)
    gc.collect()
    before = rss_bytes()
    for _ in range(CYCLES):
        parallax.Runtime(machine_profile=path).plan(100, 1 << 20)
    gc.collect()
    assert rss_bytes() - before < LIMIT
