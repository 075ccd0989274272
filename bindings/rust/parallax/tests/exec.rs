//! Handing loops to the runtime: parallel_for, deterministic reductions, tasks, progress,
//! cancellation and async jobs; callbacks that fail or panic become task failures.

mod common;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use parallax::{CancelToken, Error, Progress, RunOptions, Runtime, Task, Workload};

/// A gate callbacks wait at until the test opens it.
#[derive(Default)]
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    fn wait(&self) {
        let mut open = self.0.lock().unwrap();
        while !*open {
            let (guard, timeout) = self.1.wait_timeout(open, Duration::from_secs(10)).unwrap();
            open = guard;
            assert!(!timeout.timed_out() || *open, "the gate stayed closed");
        }
    }
    fn open(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}

/// Waits (at most 10 s) until `ready()`.
fn wait_for(ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(10), "never ready");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn fast() -> RunOptions<'static> {
    RunOptions::new().backoff(0.001, 0.01).jitter_seed(1)
}

// ---------------------------------------------------------------------------
// parallel_for
// ---------------------------------------------------------------------------

#[test]
fn every_item_runs_exactly_once_on_a_worker_in_range() {
    let rt = common::tiny();
    let n = 10_000;
    let hits: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(0)).collect();
    let bad_worker = AtomicBool::new(false);
    let report = rt
        .parallel_for_with(0..n as i64, &RunOptions::new().workers(3).grain(97).name("cover"), |items, worker| {
            if !(0..3).contains(&worker) {
                bad_worker.store(true, Ordering::Relaxed);
            }
            for i in items {
                hits[i as usize].fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap();
    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    assert!(!bad_worker.load(Ordering::Relaxed));
    assert_eq!(report.workers, 3);
    assert_eq!(report.chunks, (n as i64 + 96) / 97);
    assert_eq!((report.failed, report.failed_range), (0, None));

    // An empty range runs nothing; the default options use the runtime's CPUs.
    assert_eq!(rt.parallel_for(5..5, |_, _| -> () { panic!("ran") }).unwrap().chunks, 0);
    assert_eq!(rt.parallel_for(0..100, |_, _| ()).unwrap().workers, 2);
}

#[test]
fn a_plan_supplies_workers_and_chunks() {
    let rt = Runtime::builder().machine_profile(common::profile("laptop-8c-16g")).build().unwrap();
    let plan = rt.plan(&Workload::new(1000, 1 << 20)).unwrap();
    let chunks = AtomicUsize::new(0);
    let report = rt
        .parallel_for_with(0..1000, &RunOptions::new().plan(&plan), |items, _| {
            assert!(items.end - items.start <= plan.info().items_per_chunk);
            chunks.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(report.workers, plan.info().cpu_workers);
    assert_eq!(report.chunks as usize, chunks.load(Ordering::Relaxed));
    assert_eq!(report.chunks, plan.info().chunk_count);
}

#[test]
fn a_non_zero_code_or_an_error_fails_the_loop_with_the_c_message() {
    let rt = common::tiny();
    let e =
        rt.parallel_for_with(
            0..100,
            &RunOptions::new().grain(10).workers(1),
            |items, _| if items.start == 30 { 7 } else { 0 },
        );
    let e = e.unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
    assert!(e.message().contains("returned 7 for items [30, 40)"), "{e}");
    assert_eq!(parallax::last_error().unwrap().message(), e.message());

    let e = rt
        .parallel_for_with(0..100, &RunOptions::new().grain(10).workers(1), |items, _| {
            if items.start == 50 {
                Err(format!("row {} is corrupt", items.start))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
    assert!(e.message().contains("for items [50, 60)"), "{e}");
    assert!(e.message().contains("failed: row 50 is corrupt"), "{e}");

    let (begin, end) = (10, 0);
    let e = rt.parallel_for(begin..end, |_, _| ()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = rt.parallel_for_with(0..10, &RunOptions::new().workers(-1), |_, _| ()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
}

#[test]
fn a_panic_in_the_body_is_a_task_failure_not_an_unwind_into_c() {
    let rt = common::tiny();
    let ran = AtomicUsize::new(0);
    let e = rt
        .parallel_for_with(0..1000, &RunOptions::new().grain(10).workers(2), |items, _| {
            ran.fetch_add(1, Ordering::Relaxed);
            if items.start == 500 {
                panic!("pixel {} is cursed", items.start);
            }
        })
        .unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
    let m = e.message();
    assert!(m.contains("plx_parallel_for"), "the library's message comes first: {m}");
    assert!(m.contains("panicked: pixel 500 is cursed"), "{m}");
    assert!(ran.load(Ordering::Relaxed) < 100, "the loop stopped");
    // The runtime is fine afterwards.
    assert_eq!(rt.parallel_for(0..10, |_, _| ()).unwrap().failed, 0);
}

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------

fn value(i: i64) -> f64 {
    ((i * 7919) % 1000) as f64 / 7.0 + 1e-3 * i as f64
}

#[test]
fn sums_equal_plain_sums_and_do_not_depend_on_workers() {
    let rt = common::tiny();
    let n = 200_000i64;
    let integers: f64 = rt
        .parallel_sum(0..n, &RunOptions::new(), |items, _, acc: &mut f64| {
            for i in items {
                *acc += i as f64;
            }
        })
        .unwrap();
    assert_eq!(integers, (n * (n - 1) / 2) as f64);

    let exact: i64 = rt
        .parallel_sum(0..n, &RunOptions::new(), |items, _, acc: &mut i64| {
            for i in items {
                *acc += i * i;
            }
        })
        .unwrap();
    assert_eq!(exact, (0..n).map(|i| i * i).sum::<i64>());

    let plain: f64 = (0..n).map(value).sum();
    let mut bits = Vec::new();
    for workers in [1, 2, 5] {
        let sum: f64 = rt
            .parallel_sum(0..n, &RunOptions::new().workers(workers), |items, _, acc: &mut f64| {
                for i in items {
                    *acc += value(i);
                }
            })
            .unwrap();
        assert!((sum - plain).abs() <= 1e-9 * plain.abs(), "{sum} vs {plain}");
        bits.push(sum.to_bits());
    }
    assert!(bits.windows(2).all(|w| w[0] == w[1]), "the sum depends on the workers");

    let float: f32 = rt
        .parallel_sum(0..1000, &RunOptions::new(), |items, _, acc: &mut f32| {
            for _ in items {
                *acc += 0.5;
            }
        })
        .unwrap();
    assert_eq!(float, 500.0);
    let empty: f64 = rt.parallel_sum(3..3, &RunOptions::new(), |_, _, _: &mut f64| ()).unwrap();
    assert_eq!(empty, 0.0);
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Stats {
    min: f64,
    max: f64,
    count: i64,
    argmax: i64,
}

#[test]
fn custom_reductions_of_plain_values() {
    let rt = common::tiny();
    let identity = Stats { min: f64::INFINITY, max: f64::NEG_INFINITY, count: 0, argmax: -1 };
    let fold = |items: std::ops::Range<i64>, _: i32, acc: &mut Stats| {
        for i in items {
            let v = value(i);
            acc.min = acc.min.min(v);
            if v > acc.max {
                acc.max = v;
                acc.argmax = i;
            }
            acc.count += 1;
        }
    };
    let merge = |a: &mut Stats, b: &Stats| {
        a.min = a.min.min(b.min);
        if b.max > a.max || (b.max == a.max && b.argmax < a.argmax) {
            a.max = b.max;
            a.argmax = b.argmax;
        }
        a.count += b.count;
    };
    let got = rt.parallel_reduce(0..50_000, &RunOptions::new(), identity, fold, merge).unwrap();
    let mut plain = identity;
    fold(0..50_000, 0, &mut plain);
    assert_eq!(got, plain);
    assert_eq!(rt.parallel_reduce(7..7, &RunOptions::new(), identity, fold, merge).unwrap(), identity);

    // A panicking combine fails the reduction.
    let e = rt
        .parallel_reduce(
            0..50_000,
            &RunOptions::new().grain(100),
            0i64,
            |r, _, acc: &mut i64| *acc += r.end - r.start,
            |_, _| panic!("cannot merge"),
        )
        .unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("combine function panicked: cannot merge")), "{e:?}");
    // A value larger than the library takes is refused.
    let e = rt.parallel_reduce(0..10, &RunOptions::new(), [0u8; 5000], |_, _, _| (), |_, _| ()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
}

// ---------------------------------------------------------------------------
// Progress and cancellation
// ---------------------------------------------------------------------------

#[test]
fn progress_is_monotone_and_ends_complete() {
    let rt = common::tiny();
    let seen = Mutex::new(Vec::<Progress>::new());
    let options = RunOptions::new()
        .grain(4)
        .workers(2)
        .progress_interval_ms(0)
        .bytes_per_item(3)
        .progress(|p: &Progress| seen.lock().unwrap().push(*p));
    rt.parallel_for_with(0..400, &options, |_, _| std::thread::sleep(Duration::from_micros(200))).unwrap();
    drop(options);
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() >= 2);
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    let last = seen.last().unwrap();
    assert_eq!((last.done, last.total, last.bytes_done, last.fraction()), (400, 400, 1200, 1.0));
    assert!(seen.iter().all(|p| p.bytes_done == 3 * p.done));
    assert!(seen.iter().filter(|p| p.done == 0).all(|p| p.eta_s.is_none()));
}

#[test]
fn progress_break_cancels_and_a_progress_panic_fails_the_run() {
    let rt = common::tiny();
    let calls = AtomicUsize::new(0);
    let options = RunOptions::new().grain(1).workers(1).progress_interval_ms(0).progress(|p: &Progress| {
        if p.done >= 10 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let e = rt.parallel_for_with(0..1000, &options, |_, _| {
        calls.fetch_add(1, Ordering::Relaxed);
    });
    let e = e.unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
    assert!(e.message().contains("cancelled"), "{e}");
    let n = calls.load(Ordering::Relaxed);
    assert!((10..1000).contains(&n), "{n}");

    let options = RunOptions::new().grain(1).workers(1).progress_interval_ms(0).progress(|p: &Progress| {
        if p.done >= 5 {
            panic!("bad progress bar");
        }
    });
    let e = rt.parallel_for_with(0..1000, &options, |_, _| ()).unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("progress callback panicked: bad progress bar")), "{e:?}");
    // Tasks too, even when the results are asked for.
    let tasks: Vec<Task> = (0..100).map(|_| Task::new(|_| ())).collect();
    let e = rt.run_tasks_results(&tasks, &options.clone().workers(1)).unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
}

#[test]
fn a_token_cancelled_from_another_thread_stops_a_long_loop() {
    let rt = common::tiny();
    let token = CancelToken::new().unwrap();
    assert!(!token.is_cancelled());
    let calls = AtomicUsize::new(0);
    let e = std::thread::scope(|s| {
        let (remote, calls) = (token.clone(), &calls);
        s.spawn(move || {
            wait_for(|| calls.load(Ordering::Relaxed) >= 5); // the loop runs (however loaded the machine)
            remote.cancel();
        });
        rt.parallel_for_with(0..5000, &RunOptions::new().grain(1).workers(2).cancel(&token), |_, _| {
            calls.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        })
    })
    .unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
    assert!(token.is_cancelled());
    let n = calls.load(Ordering::Relaxed);
    assert!(0 < n && n < 5000, "{n}");

    // Every later run given the token is cancelled before it starts.
    let e = rt.parallel_for_with(0..10, &RunOptions::new().cancel(&token), |_, _| -> () { panic!("ran") }).unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
    let tasks: Vec<Task> = (0..3).map(|_| Task::new(|_| -> () { panic!("ran") })).collect();
    let results = rt.run_tasks_results(&tasks, &RunOptions::new().cancel(&token)).unwrap();
    assert!(results.results.iter().all(|r| r.status == parallax::sys::PLX_ERR_CANCELLED && r.attempts == 0));
    assert!(matches!(rt.run_tasks(&tasks, &RunOptions::new().cancel(&token)), Err(Error::Cancelled(_))));
}

// ---------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------

#[test]
fn task_results_come_back_in_task_order() {
    let rt = common::tiny();
    let out: Vec<AtomicI64> = (0..20).map(|_| AtomicI64::new(-1)).collect();
    let tasks: Vec<Task> = (0..20)
        .map(|i| {
            let out = &out;
            Task::new(move |ctx| {
                std::thread::sleep(Duration::from_millis(((7 * i) % 5) as u64));
                assert_eq!(ctx.index(), i);
                out[i as usize].store(i * 10, Ordering::Relaxed);
            })
        })
        .collect();
    let results = rt.run_tasks(&tasks, &RunOptions::new().workers(3)).unwrap();
    assert!(results.all_ok());
    assert!(results.results.iter().all(|r| (r.status, r.attempts, r.message.as_str()) == (0, 1, "")));
    assert!(out.iter().enumerate().all(|(i, v)| v.load(Ordering::Relaxed) == i as i64 * 10));
    let report = results.report.unwrap();
    assert_eq!((report.workers, report.chunks, report.failed), (3, 20, 0));
    assert!(rt.run_tasks(&[], &RunOptions::new()).unwrap().results.is_empty());
}

#[test]
fn failing_and_panicking_tasks_carry_their_messages() {
    let rt = common::tiny();
    let tasks = vec![
        Task::new(|_| ()),
        Task::new(|ctx| Err(Error::TaskFailed(format!("bad input {}", ctx.index())))),
        Task::new(|_| -> () { panic!("task exploded") }),
        Task::new(|_| Ok(())).name("fine"),
    ];
    let e = rt.run_tasks(&tasks, &RunOptions::new().workers(2)).unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
    assert!(e.message().contains("2 of 4 tasks failed"), "{e}");
    let results = rt.run_tasks_results(&tasks, &RunOptions::new().workers(2)).unwrap();
    let ok: Vec<bool> = results.results.iter().map(|r| r.is_ok()).collect();
    assert_eq!(ok, [true, false, false, true]);
    assert_eq!(results.results[1].message, "bad input 1");
    assert_eq!(results.results[1].error(), Some(Error::TaskFailed("bad input 1".into())));
    assert_eq!(results.results[2].message, "the task panicked: task exploded");
    assert_eq!(results.report.unwrap().failed, 2);

    // A message set on the context wins, cut to 255 bytes on a character boundary.
    let long = Task::new(|ctx| {
        ctx.set_message(&format!("frame 17: NaN header ✗{}", "x".repeat(400)));
        Err(Error::Io("ignored: the message was set".into()))
    });
    let results = rt.run_tasks_results(&[long], &RunOptions::new()).unwrap();
    let r = &results.results[0];
    assert_eq!(r.status, parallax::sys::PLX_ERR_IO);
    assert!(r.message.starts_with("frame 17: NaN header ✗") && r.message.len() == 255, "{}", r.message.len());
}

#[test]
fn out_of_memory_is_retried_with_backoff() {
    let rt = common::tiny();
    let attempts = Mutex::new(Vec::new());
    let tasks = vec![
        Task::new(|ctx| {
            attempts.lock().unwrap().push(ctx.attempt());
            if ctx.attempt() == 1 {
                Err(Error::OutOfMemory("not now".into()))
            } else {
                Ok(())
            }
        }),
        Task::new(|_| ()),
    ];
    let results = rt.run_tasks(&tasks, &fast()).unwrap();
    assert_eq!(results.results.iter().map(|r| r.attempts).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(*attempts.lock().unwrap(), [1, 2]);
    assert_eq!(results.report.unwrap().retries, 1);

    let hungry = [Task::new(|_| Err(Error::OutOfMemory("needs 40 GiB".into())))];
    let results = rt.run_tasks_results(&hungry, &fast().max_attempts(2)).unwrap();
    let r = &results.results[0];
    assert_eq!((r.status, r.attempts), (parallax::sys::PLX_ERR_OUT_OF_MEMORY, 2));
    assert!(r.message.contains("needs 40 GiB"), "{}", r.message);

    // Injected failures never call the task.
    let faulty = Runtime::builder()
        .machine_profile(common::profile("tiny-2c-4g"))
        .fault_injection("task=3@1-2:out_of_memory")
        .build()
        .unwrap();
    let ran = Mutex::new(Vec::new());
    let tasks: Vec<Task> =
        (0..6).map(|_| Task::new(|ctx| ran.lock().unwrap().push((ctx.index(), ctx.attempt())))).collect();
    let results = faulty.run_tasks(&tasks, &fast()).unwrap();
    assert_eq!(results.results.iter().map(|r| r.attempts).collect::<Vec<_>>(), [1, 1, 1, 3, 1, 1]);
    assert!(ran.lock().unwrap().contains(&(3, 3)));
}

#[test]
fn reported_bytes_raise_the_estimate_and_admission_respects_the_budget() {
    let rt = common::tiny();
    let estimates = Mutex::new(Vec::new());
    let task = Task::new(|ctx| {
        estimates.lock().unwrap().push(ctx.estimated_bytes());
        if ctx.attempt() == 1 {
            ctx.report_bytes(5000);
            return Err(Error::TaskFailed("buffer too small".into()));
        }
        Ok(())
    })
    .estimated_bytes(1000);
    let results = rt.run_tasks(&[task], &fast()).unwrap();
    assert_eq!(*estimates.lock().unwrap(), [1000, 5000]);
    assert_eq!(results.results[0].attempts, 2);

    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let tasks: Vec<Task> = (0..6)
        .map(|_| {
            Task::new(|_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .estimated_bytes(60)
        })
        .collect();
    let results = rt.run_tasks(&tasks, &RunOptions::new().workers(2).memory_budget_bytes(100)).unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    let report = results.report.unwrap();
    assert_eq!((report.peak_admitted_bytes, report.peak_concurrency), (60, 1));
}

#[test]
fn fail_fast_cancels_the_tasks_after_the_failure() {
    let rt = common::tiny();
    let called = Mutex::new(Vec::new());
    let tasks: Vec<Task> = (0..8)
        .map(|i| {
            let called = &called;
            Task::new(move |_| {
                called.lock().unwrap().push(i);
                if i == 2 {
                    Err(Error::Io("disk gone".into()))
                } else {
                    Ok(())
                }
            })
        })
        .collect();
    let options = RunOptions::new().workers(1).fail_fast(true);
    let e = rt.run_tasks(&tasks, &options).unwrap_err();
    assert!(e.message().contains("disk gone"), "{e}");
    assert_eq!(*called.lock().unwrap(), [0, 1, 2]);
    let results = rt.run_tasks_results(&tasks, &options).unwrap();
    let statuses: Vec<i32> = results.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 0, 9, 5, 5, 5, 5, 5]);
    let e = rt.run_tasks(&tasks, &RunOptions::new().max_attempts(0)).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("max_attempts")), "{e:?}");
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

#[test]
fn a_blocked_job_times_out_then_finishes() {
    let rt = common::tiny();
    let gate = Arc::new(Gate::default());
    let inside = gate.clone();
    let job =
        rt.parallel_for_async(0..4, RunOptions::new().workers(2).name("blocked"), move |_, _| inside.wait()).unwrap();
    let e = job.wait_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
    assert!(!job.is_done().unwrap());
    gate.open();
    let report = job.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((report.chunks, report.workers), (4, 2));
    assert!(job.is_done().unwrap());
    assert_eq!(job.wait().unwrap(), report);
}

#[test]
fn cancel_or_drop_stops_a_job() {
    let rt = common::tiny();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let job = rt
        .parallel_for_async(0..5000, RunOptions::new().grain(1).workers(2), move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        })
        .unwrap();
    wait_for(|| calls.load(Ordering::SeqCst) >= 5);
    job.cancel().unwrap();
    let e = job.wait().unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
    assert_eq!(job.wait().unwrap_err(), e, "the same outcome every time");
    job.cancel().unwrap();
    let n = calls.load(Ordering::SeqCst);
    assert!(0 < n && n < 5000, "{n}");

    // Dropping a running job cancels it and waits: nothing runs afterwards.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let job = rt
        .parallel_for_async(0..5000, RunOptions::new().grain(1).workers(2), move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        })
        .unwrap();
    wait_for(|| calls.load(Ordering::SeqCst) >= 5);
    drop(job);
    let n = calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(calls.load(Ordering::SeqCst), n);
    assert!(n < 5000);
}

#[test]
fn async_panics_and_progress_panics_come_back_from_wait() {
    let rt = common::tiny();
    let job = rt
        .parallel_for_async(0..10, RunOptions::new().grain(1).workers(1), |items, _| {
            if items.start == 3 {
                panic!("row 3 out of range");
            }
        })
        .unwrap();
    let e = job.wait().unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("panicked: row 3 out of range")), "{e:?}");

    let options = RunOptions::new()
        .grain(1)
        .workers(1)
        .progress_interval_ms(0)
        .progress(|_: &Progress| -> () { panic!("no such bar") });
    let job = rt.parallel_for_async(0..1000, options, |_, _| std::thread::sleep(Duration::from_micros(100))).unwrap();
    let e = job.wait_timeout(Duration::from_secs(10)).unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("no such bar")), "{e:?}");
    assert!(job.is_done().unwrap());
}

#[test]
fn submitted_tasks() {
    let rt = common::tiny();
    let squares = Arc::new(Mutex::new(vec![0i64; 10]));
    let tasks: Vec<Task<'static>> = (0..10)
        .map(|i| {
            let squares = squares.clone();
            Task::new(move |_| squares.lock().unwrap()[i as usize] = i * i)
        })
        .collect();
    let job = rt.submit_tasks(tasks, RunOptions::new().workers(2).name("squares")).unwrap();
    let results = job.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(results.all_ok() && results.report.unwrap().chunks == 10);
    assert_eq!(*squares.lock().unwrap(), (0..10).map(|i| i * i).collect::<Vec<_>>());

    let job = rt
        .submit_tasks(vec![Task::new(|_| ()), Task::new(|_| Err(Error::TaskFailed("no".into())))], RunOptions::new())
        .unwrap();
    let e = job.wait().unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
}

#[test]
fn a_job_keeps_its_plan_token_and_closures_alive() {
    let rt = common::tiny();
    let gate = Arc::new(Gate::default());
    let plan = rt.plan(&Workload::new(8, 1000)).unwrap();
    let token = CancelToken::new().unwrap();
    let seen = Arc::new(AtomicI64::new(0));
    let last = seen.clone();
    let inside = gate.clone();
    let options = RunOptions::new()
        .plan(&plan)
        .cancel(&token)
        .progress_interval_ms(0)
        .progress(move |p: &Progress| last.store(p.done, Ordering::SeqCst));
    let job = rt.parallel_for_async(0..8, options, move |_, _| inside.wait()).unwrap();
    let workers = plan.info().cpu_workers;
    drop(plan);
    drop(token);
    gate.open();
    assert_eq!(job.wait().unwrap().workers, workers);
    assert_eq!(seen.load(Ordering::SeqCst), 8);
}

#[test]
fn dropping_the_runtime_cancels_its_jobs() {
    let rt = common::tiny();
    let job = rt
        .parallel_for_async(0..5000, RunOptions::new().grain(1).workers(2), |_, _| {
            std::thread::sleep(Duration::from_millis(2))
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    drop(rt);
    assert!(job.is_done().unwrap());
    assert!(matches!(job.wait(), Err(Error::Cancelled(_))));
}

#[test]
fn a_job_waited_for_from_a_callback_of_the_same_runtime_does_not_deadlock() {
    let rt =
        Arc::new(Runtime::builder().machine_profile(common::profile("tiny-2c-4g")).max_cpu_workers(1).build().unwrap());
    let inner = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (runtime, counter) = (rt.clone(), inner.clone());
    // On a thread of its own, so that a deadlock fails the test instead of hanging it.
    std::thread::spawn(move || {
        let outcome = runtime.parallel_for_with(0..4, &RunOptions::new().grain(1).workers(2), |_, _| {
            let counter = counter.clone();
            let job = runtime
                .parallel_for_async(0..10, RunOptions::new().grain(1).workers(1), move |_, _| {
                    counter.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            assert_eq!(job.wait().unwrap().chunks, 10);
        });
        done_tx.send(outcome.map(|r| r.chunks)).unwrap();
    });
    let outcome = done_rx.recv_timeout(Duration::from_secs(20)).expect("deadlock");
    assert_eq!(outcome.unwrap(), 4);
    assert_eq!(inner.load(Ordering::SeqCst), 40);
}
