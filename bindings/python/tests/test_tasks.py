"""Runtime.run_tasks: results in task order, failures with their messages, out-of-memory retries (raised and
injected), fail_fast, memory admission, the task context."""
import threading
import time

import pytest

import parallax

FAST = dict(backoff_base_s=0.001, backoff_cap_s=0.01, jitter_seed=1)


def test_results_come_back_in_task_order_with_values(rt):
    def make(i):
        def task(ctx):
            time.sleep(0.001 * ((7 * i) % 5))  # finish out of order
            return i * 10
        return task

    results = rt.run_tasks([make(i) for i in range(20)], workers=3)
    assert isinstance(results, parallax.TaskResults) and results.ok
    assert [r.value for r in results] == results.values == [i * 10 for i in range(20)]
    assert all((r.status, r.status_name, r.attempts, r.message, r.ok) == (0, "PLX_OK", 1, "", True) for r in results)
    assert (results.report.workers, results.report.chunks, results.report.failed) == (3, 20, 0)


def test_a_failing_task_gets_its_message_and_is_the_cause(rt):
    def bad(ctx):
        raise ValueError(f"bad input {ctx.index}")

    tasks = [lambda ctx: None, lambda ctx: None, bad, lambda ctx: None]
    with pytest.raises(parallax.TaskError) as info:
        rt.run_tasks(tasks, workers=2)
    error = info.value
    assert isinstance(error.__cause__, ValueError) and str(error.__cause__) == "bad input 2"
    assert "1 of 4 tasks failed" in error.message and "task 2" in error.message
    results = error.results
    assert [r.ok for r in results] == [True, True, False, True]
    assert (results[2].status_name, results[2].attempts, results[2].message) == (
        "PLX_ERR_TASK_FAILED", 1, "ValueError: bad input 2")
    assert results[2].exception is error.__cause__ and error.report.failed == 1

    unchecked = rt.run_tasks(tasks, workers=2, check=False)
    assert not unchecked.ok and unchecked[2].message == "ValueError: bad input 2"
    assert isinstance(unchecked[2].exception, ValueError)


def test_the_context_message_explains_a_failure(rt):
    def task(ctx):
        ctx.message = "frame 17: NaN header ✗" + "x" * 400
        raise RuntimeError("ignored: the message was set")

    (result,) = rt.run_tasks([task], check=False)
    assert result.message.startswith("frame 17: NaN header ✗") and len(result.message.encode()) == 255


def test_memory_error_is_retried(rt):
    attempts = []

    def flaky(ctx):
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise MemoryError("not now")
        return "fine"

    def flaky_parallax(ctx):
        if ctx.attempt == 1:
            raise parallax.OutOfMemoryError("device full")

    results = rt.run_tasks([flaky, flaky_parallax, lambda ctx: None], **FAST)
    assert [r.attempts for r in results] == [2, 2, 1] and results.ok
    assert attempts == [1, 2] and results[0].value == "fine"
    assert results.report.retries == 2 and results.report.chunks == 5


def test_memory_error_on_every_attempt_ends_out_of_memory(rt):
    def hungry(ctx):
        raise MemoryError("needs 40 GiB")

    (result,) = rt.run_tasks([hungry], max_attempts=2, check=False, **FAST)
    assert (result.status, result.status_name, result.attempts) == (2, "PLX_ERR_OUT_OF_MEMORY", 2)
    assert "out of memory on all 2 attempts" in result.message and "MemoryError: needs 40 GiB" in result.message


def test_injected_out_of_memory_is_retried(profile):
    with parallax.Runtime(machine_profile=profile("tiny-2c-4g"), fault_injection="task=3@1-2:out_of_memory") as rt:
        ran = []
        results = rt.run_tasks([lambda ctx: ran.append((ctx.index, ctx.attempt)) for _ in range(6)], **FAST)
    assert [r.attempts for r in results] == [1, 1, 1, 3, 1, 1]
    assert results[3].status_name == "PLX_OK" and results.ok
    assert (3, 3) in ran and (3, 1) not in ran  # the injected attempts never called the task
    assert results.report.retries == 2


def test_fail_fast_cancels_the_tasks_after_the_failure(rt):
    called = []

    def make(i):
        def task(ctx):
            called.append(i)
            if i == 2:
                raise OSError("disk gone")
        return task

    with pytest.raises(parallax.TaskError, match="disk gone") as info:
        rt.run_tasks([make(i) for i in range(8)], workers=1, fail_fast=True)
    results = info.value.results
    assert called == [0, 1, 2]
    assert [r.status_name for r in results] == ["PLX_OK"] * 2 + ["PLX_ERR_TASK_FAILED"] + ["PLX_ERR_CANCELLED"] * 5
    assert all(r.attempts == 0 and "fail_fast" in r.message for r in results[3:])


def test_the_context_describes_the_attempt(rt):
    seen = {}
    lock = threading.Lock()

    def task(ctx):
        with lock:
            seen[ctx.index] = (ctx.attempt, ctx.worker, ctx.estimated_bytes, ctx.name)

    tasks = [parallax.Task(task, estimated_bytes=1000 * i, name=f"frame-{i}") for i in range(6)] + [task]
    rt.run_tasks(tasks, workers=2)
    assert {i: (a, e, n) for i, (a, _, e, n) in seen.items()} == {
        **{i: (1, 1000 * i, f"frame-{i}") for i in range(6)}, 6: (1, 0, None)}
    assert all(0 <= w < 2 for _, w, _, _ in seen.values())


def test_reported_bytes_raise_the_estimate_of_the_retry(rt):
    estimates = []

    def task(ctx):
        estimates.append(ctx.estimated_bytes)
        if ctx.attempt == 1:
            ctx.report_bytes(5000)
            raise RuntimeError("buffer too small")

    with pytest.raises(parallax.InvalidArgumentError):
        parallax.TaskContext(0, 1, 0, 0, None).report_bytes(-1)
    (result,) = rt.run_tasks([parallax.Task(task, estimated_bytes=1000)], **FAST)
    assert estimates == [1000, 5000] and result.attempts == 2


def test_admission_keeps_estimates_within_the_budget(rt):
    running, peak, wait_for_peer = [0], [0], [False]
    lock = threading.Condition()

    def task(ctx):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            lock.notify_all()
            # Where two fit, wait (a while) for the second: on a loaded machine the
            # other lane may otherwise start only after this task has ended.
            if wait_for_peer[0]:
                lock.wait_for(lambda: peak[0] >= 2, timeout=5)
        time.sleep(0.005)
        with lock:
            running[0] -= 1

    tasks = [parallax.Task(task, estimated_bytes=60) for _ in range(6)]
    results = rt.run_tasks(tasks, workers=2, memory_budget_bytes=100)
    assert peak[0] == 1 and results.report.peak_admitted_bytes == 60 and results.report.peak_concurrency == 1
    peak[0], wait_for_peer[0] = 0, True
    results = rt.run_tasks(tasks, workers=2, memory_budget_bytes=120)
    if results.report.threads >= 2:  # two tasks at once need two threads
        assert peak[0] == 2 and results.report.peak_admitted_bytes == 120


def test_keyboard_interrupt_in_a_task_is_raised_and_stops_the_others(rt):
    called = []

    def make(i):
        def task(ctx):
            called.append(i)
            if i == 1:
                raise KeyboardInterrupt
        return task

    with pytest.raises(KeyboardInterrupt):
        rt.run_tasks([make(i) for i in range(50)], workers=1)
    assert called == [0, 1]


def test_empty_and_bad_task_lists(rt):
    results = rt.run_tasks([])
    assert results == [] and results.ok
    with pytest.raises(TypeError, match=r"tasks\[1\]"):
        rt.run_tasks([lambda ctx: None, 42])
    with pytest.raises(TypeError, match=r"tasks\[0\].fn"):
        rt.run_tasks([parallax.Task(None)])
    with pytest.raises(parallax.InvalidArgumentError, match="estimated_bytes"):
        rt.run_tasks([parallax.Task(lambda ctx: None, estimated_bytes=-1)])
    with pytest.raises(parallax.InvalidArgumentError, match="max_attempts"):
        rt.run_tasks([lambda ctx: None], max_attempts=0)
    with pytest.raises(parallax.InvalidArgumentError, match="backoff_cap_s"):
        rt.run_tasks([lambda ctx: None], backoff_base_s=2, backoff_cap_s=1)
    with pytest.raises(parallax.InvalidArgumentError, match="jitter_seed"):
        rt.run_tasks([lambda ctx: None], jitter_seed=-1)
