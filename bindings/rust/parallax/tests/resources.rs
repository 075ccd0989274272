//! Resources are released deterministically on drop: 10,000 create/destroy cycles of a runtime
//! (with a log closure), a plan and a cancel token, and of async jobs and device kernels and
//! buffers, do not grow the process's memory. One test per binary, so nothing else runs while
//! RSS is measured.

mod common;

use parallax::{CancelToken, DeviceTypes, KernelArg, LogLevel, RunOptions, Runtime, Workload};

fn rss_bytes() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<i64>().unwrap() * 1024
}

fn runtime_cycles(path: &str, n: usize) {
    for i in 0..n {
        let rt = Runtime::builder()
            .machine_profile(path)
            .log_level(LogLevel::Debug)
            .log(move |_, line| assert!(!line.is_empty() || i == usize::MAX))
            .build()
            .unwrap();
        let plan = rt.plan(&Workload::new(100, 1 << 20)).unwrap();
        assert_eq!(plan.info().cpu_workers, 2);
        let token = CancelToken::new().unwrap();
        token.cancel();
        assert!(token.is_cancelled());
    }
}

const SOURCE: &str =
    "__kernel void twice(__global int* v, int add) { size_t i = get_global_id(0); v[i] = 2 * v[i] + add; }";

#[test]
fn create_destroy_cycles_do_not_grow_rss() {
    let path = common::profile("tiny-2c-4g");
    runtime_cycles(&path, 500);
    let before = rss_bytes();
    let start = std::time::Instant::now();
    runtime_cycles(&path, 10_000);
    let grown = rss_bytes() - before;
    // A leaked runtime with its plan, token and log closure costs kilobytes: 10,000 would be tens of MiB.
    assert!(grown < 4 << 20, "RSS grew by {grown} bytes over 10,000 cycles ({:?})", start.elapsed());

    // Async jobs, dropped finished or running.
    let rt = common::tiny();
    let jobs = |n: usize| {
        for i in 0..n {
            let job = rt.parallel_for_async(0..64, RunOptions::new().grain(8), |_, _| ()).unwrap();
            if i % 2 == 0 {
                assert_eq!(job.wait().unwrap().chunks, 8);
            }
        }
    };
    jobs(200);
    let before = rss_bytes();
    jobs(2_000);
    let grown = rss_bytes() - before;
    assert!(grown < 2 << 20, "RSS grew by {grown} bytes over 2,000 jobs");

    // Kernels and buffers on PoCL (the buffers' pages are really used).
    let drt = Runtime::builder().device_types(DeviceTypes::ANY).cache_dir(common::cache_dir()).build().unwrap();
    let data: Vec<i32> = (0..1 << 14).collect();
    let devices = |n: usize| {
        for i in 0..n {
            let kernel = drt.kernel(SOURCE, "twice", None).unwrap();
            let buffer = drt.buffer(0, 4 << 14).unwrap();
            buffer.write(0, &data).unwrap();
            kernel.run(0, &[KernelArg::Buffer(&buffer), KernelArg::Scalar((i as i32).into())], &[1024], None).unwrap();
        }
    };
    devices(20);
    let before = rss_bytes();
    devices(200);
    let grown = rss_bytes() - before;
    assert!(grown < 4 << 20, "RSS grew by {grown} bytes over 200 kernel and buffer cycles");
}
