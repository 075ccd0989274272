//! Concurrent use from host threads, as the C API promises it: runtimes and plans made on many
//! threads at once, one runtime shared by threads running loops, reductions, tasks and stacks,
//! error messages that stay on their thread, and a token cancelling runs on other threads.

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Barrier;

use parallax::{
    CancelToken, Error, Layout, PlanDevice, Reject, RunOptions, Runtime, StackDesc, Task, Workload, WorkloadKind,
};

const PROFILES: [&str; 5] = [
    "container-64c-quota2-2g",
    "laptop-8c-16g",
    "server-128c-2numa-512g-4gpu",
    "tiny-2c-4g",
    "workstation-32c-128g-1gpu",
];

fn workload() -> Workload {
    Workload::new(13_000, 24_883_200)
        .rows(1080, 23_040)
        .kind(WorkloadKind::Mixed)
        .layout(Layout::RowsAcrossItems)
        .working_set_factor(2.0)
}

type Fingerprint = (parallax::Caps, parallax::PlanInfo, Vec<PlanDevice>, Vec<String>);

fn fingerprint(rt: &Runtime) -> Fingerprint {
    let plan = rt.plan(&workload()).unwrap();
    (rt.caps().unwrap(), plan.info(), plan.devices().to_vec(), plan.reasons().unwrap())
}

#[test]
fn many_threads_create_runtimes_and_plans() {
    let paths: Vec<String> = PROFILES.iter().map(|p| common::profile(p)).collect();
    let make = |path: &str| Runtime::builder().machine_profile(path).build().unwrap();
    let expected: Vec<Fingerprint> = paths.iter().map(|p| fingerprint(&make(p))).collect();
    let distinct: std::collections::HashSet<String> = expected.iter().map(|e| format!("{:?}", e.1)).collect();
    assert_eq!(distinct.len(), paths.len(), "the profiles really plan differently");
    let start = Barrier::new(8);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (paths, expected, start) = (&paths, &expected, &start);
            s.spawn(move || {
                start.wait();
                for i in 0..10 {
                    let k = (t + i) % paths.len();
                    assert_eq!(fingerprint(&make(&paths[k])), expected[k]);
                }
            });
        }
    });
}

#[test]
fn one_runtime_shared_by_threads_running_loops_reductions_tasks_and_stacks() {
    let rt = Runtime::builder().machine_profile(common::profile("laptop-8c-16g")).build().unwrap();
    let expected = fingerprint(&rt);
    let frames: Vec<Vec<f32>> =
        (0..7).map(|f| (0..64 * 32).map(|p| ((p * 31 + f * 7) % 97) as f32).collect()).collect();
    let slices: Vec<&[f32]> = frames.iter().map(|f| &f[..]).collect();
    let reference = rt.stack(&StackDesc::new(&slices, 64, 32).reject(Reject::SigmaClip)).unwrap().image;
    let n = 100_000i64;
    let start = Barrier::new(6);
    std::thread::scope(|s| {
        for t in 0..6 {
            let (rt, expected, slices, reference, start) = (&rt, &expected, &slices, &reference, &start);
            s.spawn(move || {
                start.wait();
                for round in 0..5 {
                    match (t + round) % 4 {
                        0 => assert_eq!(&fingerprint(rt), expected),
                        1 => {
                            let hits: Vec<AtomicU8> = (0..10_000).map(|_| AtomicU8::new(0)).collect();
                            rt.parallel_for_with(0..10_000, &RunOptions::new().grain(100), |items, _| {
                                for i in items {
                                    hits[i as usize].fetch_add(1, Ordering::Relaxed);
                                }
                            })
                            .unwrap();
                            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
                        }
                        2 => {
                            let sum: i64 = rt
                                .parallel_sum(0..n, &RunOptions::new(), |items, _, acc: &mut i64| {
                                    for i in items {
                                        *acc += i;
                                    }
                                })
                                .unwrap();
                            assert_eq!(sum, n * (n - 1) / 2);
                            let done = AtomicUsize::new(0);
                            let tasks: Vec<Task> = (0..20)
                                .map(|_| {
                                    Task::new(|_| {
                                        done.fetch_add(1, Ordering::Relaxed);
                                    })
                                })
                                .collect();
                            assert!(rt.run_tasks(&tasks, &RunOptions::new()).unwrap().all_ok());
                            assert_eq!(done.load(Ordering::Relaxed), 20);
                        }
                        _ => {
                            let image =
                                rt.stack(&StackDesc::new(slices, 64, 32).reject(Reject::SigmaClip)).unwrap().image;
                            assert_eq!(&image, reference);
                        }
                    }
                }
            });
        }
    });
}

#[test]
fn error_messages_stay_on_their_thread() {
    let rt = Runtime::builder().machine_profile(common::profile("laptop-8c-16g")).build().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (failed, succeeded) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let e = rt.plan(&Workload::new(10, 1000).working_set_factor(f64::NAN)).unwrap_err();
                assert!(e.message().contains("working_set_factor") && !e.message().contains("workload.items"), "{e}");
                failed.fetch_add(1, Ordering::Relaxed);
            }
        });
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(rt.plan(&Workload::new(10, 1000)).unwrap().info().cpu_workers, 16);
                succeeded.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut mine = 0;
        while mine < 300 || failed.load(Ordering::Relaxed) < 50 || succeeded.load(Ordering::Relaxed) < 50 {
            let e = rt.plan(&Workload::new(0, 1000)).unwrap_err();
            assert!(e.message().contains("workload.items") && !e.message().contains("working_set_factor"), "{e}");
            assert_eq!(parallax::last_error(), Some(e));
            mine += 1;
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn one_token_cancels_runs_on_several_threads() {
    let rt = common::tiny();
    let token = CancelToken::new().unwrap();
    let calls = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let (rt, token, calls) = (&rt, &token, &calls);
                s.spawn(move || {
                    rt.parallel_for_with(0..100_000, &RunOptions::new().grain(1).workers(1).cancel(token), |_, _| {
                        calls.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    })
                })
            })
            .collect();
        while calls.load(Ordering::Relaxed) < 10 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        token.cancel();
        for run in runs {
            assert!(matches!(run.join().unwrap(), Err(Error::Cancelled(_))));
        }
    });
    assert!(calls.load(Ordering::Relaxed) < 3 * 100_000);
}

#[test]
fn runtimes_dropped_inside_callbacks_of_another_runtime() {
    // Runtimes whose arenas have threads, dropped from the workers of another runtime's run (sync and
    // async), one of them while a job of its own still runs.
    let path = common::profile("tiny-2c-4g");
    let outer = Runtime::builder().machine_profile(&path).build().unwrap();
    let victims = |n: usize| -> std::sync::Arc<Vec<std::sync::Mutex<Option<Runtime>>>> {
        std::sync::Arc::new(
            (0..n)
                .map(|_| {
                    let v = Runtime::builder().machine_profile(&path).build().unwrap();
                    v.parallel_for_with(0..10, &RunOptions::new().workers(2), |_, _| ()).unwrap();
                    std::sync::Mutex::new(Some(v))
                })
                .collect(),
        )
    };
    for workers in [1, 2] {
        let sync = victims(4);
        outer
            .parallel_for_with(0..4, &RunOptions::new().grain(1).workers(workers), |items, _| {
                drop(sync[items.start as usize].lock().unwrap().take());
            })
            .unwrap();
        let jobs = victims(4);
        let inside = jobs.clone();
        let job = outer
            .parallel_for_async(0..4, RunOptions::new().grain(1).workers(workers), move |items, _| {
                let v = inside[items.start as usize].lock().unwrap().take().unwrap();
                let running = v
                    .parallel_for_async(0..200, RunOptions::new().grain(1), |_, _| {
                        std::thread::sleep(std::time::Duration::from_micros(50))
                    })
                    .unwrap();
                drop(v); // cancels and waits for its job
                assert!(running.is_done().unwrap());
            })
            .unwrap();
        job.wait().unwrap();
        assert!(sync.iter().chain(jobs.iter()).all(|v| v.lock().unwrap().is_none()));
    }
}
