//! Custom OpenCL kernels on PoCL (the CPU OpenCL device every test machine has): run_rows over
//! slices (zero-copy inputs and outputs), row providers, CPU fallbacks, data larger than the
//! device, fault injection; device buffers with Kernel::run; measured device figures.
//!
//! Builds cost about a second each on PoCL: every runtime shares one disk cache.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use parallax::{
    sys, CancelToken, DevicePolicy, DeviceTypes, Error, KernelArg, Progress, Rows, RunOptions, Runtime, Scalar,
    Workload, WorkloadKind,
};

const ROWS_SOURCE: &str = r#"
__kernel void axpb(__global const float* x, __global float* y, float a, float b, long first, long rows) {
  size_t i = get_global_id(1);
  y[i] = a * x[i] + b;
}
// Image rows: out[r][c] = a[r][c] + 2 b[r][c] + (first + r); sums[r] = first + r. One work-item per pixel.
__kernel void blend_rows(__global const float* a, __global const float* b, __global float* out, __global int* sums,
                         int width, long first, long rows) {
  size_t c = get_global_id(0), r = get_global_id(1);
  out[r * width + c] = a[r * width + c] + 2.0f * b[r * width + c] + (float)(first + r);
  if (c == 0) sums[r] = (int)(first + r);
}
"#;

const BUFFER_SOURCE: &str = r#"
__kernel void twice(__global int* v, int add) { size_t i = get_global_id(0); v[i] = 2 * v[i] + add; }
__kernel void scale4(__global float4* v, float4 by) { size_t i = get_global_id(0); v[i] *= by; }
__kernel void group_sums(__global const int* in, __global int* out, __local int* scratch) {
  size_t l = get_local_id(0), n = get_local_size(0);
  scratch[l] = in[get_global_id(0)];
  barrier(CLK_LOCAL_MEM_FENCE);
  if (l == 0) {
    int s = 0;
    for (size_t i = 0; i < n; ++i) s += scratch[i];
    out[get_group_id(0)] = s;
  }
}
"#;

const A: f32 = 2.0;
const B: f32 = 1.0;

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 4099) as f32).collect()
}

fn axpb(x: &[f32]) -> Vec<f32> {
    x.iter().map(|v| A * v + B).collect()
}

fn device_runtime_with(build: impl FnOnce(parallax::RuntimeBuilder) -> parallax::RuntimeBuilder) -> Runtime {
    build(Runtime::builder().device_types(DeviceTypes::ANY).cache_dir(common::cache_dir())).build().unwrap()
}

#[test]
fn axpb_over_a_million_rows_equals_plain_code() {
    let rt = common::device_runtime();
    let devices = rt.devices().unwrap();
    assert!(!devices.is_empty(), "PoCL is every test machine's OpenCL device");
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    assert_eq!(kernel.name(), "axpb");
    let built = kernel.devices().unwrap();
    assert!(!built.is_empty() && built.iter().all(|d| devices.iter().any(|i| i.index == *d && i.usable)));

    let x = ramp(1_000_003);
    let mut y = vec![-1f32; x.len()];
    let report = kernel
        .run_rows(&mut Rows::new(x.len() as i64).input(&x).output(&mut y).scalar(A).scalar(B), &RunOptions::new())
        .unwrap();
    assert_eq!(y, axpb(&x));
    assert!(report.chunks >= 1 && (report.failed, report.fallback_chunks, report.chunk_splits) == (0, 0, 0));

    for rows in [0usize, 1, 7] {
        let x = ramp(rows);
        let mut y = vec![-1f32; rows];
        kernel
            .run_rows(
                &mut Rows::new(rows as i64).input(&x).output(&mut y).scalar(A).scalar(Scalar::new(B)),
                &RunOptions::new(),
            )
            .unwrap();
        assert_eq!(y, axpb(&x));
    }
}

#[test]
fn image_rows_with_two_inputs_two_outputs_and_a_provider() {
    let rt = common::device_runtime();
    let blend = rt.kernel(ROWS_SOURCE, "blend_rows", None).unwrap();
    let (rows, width) = (5000usize, 16usize);
    let a: Vec<f32> = (0..rows * width).map(|i| ((i * 37) % 1013) as f32 / 8.0).collect();
    let b: Vec<f32> = (0..rows * width).map(|i| ((i * 11) % 977) as f32 / 4.0).collect();
    let expected: Vec<f32> = (0..rows * width).map(|i| a[i] + 2.0 * b[i] + (i / width) as f32).collect();
    let mut out = vec![-1f32; rows * width];
    let mut sums = vec![-1i32; rows];
    let mut run = Rows::new(rows as i64)
        .input(&a)
        .input(&b)
        .output(&mut out)
        .output(&mut sums)
        .scalar(width as i32)
        .work_items_per_row(width as i64)
        .rows_per_chunk(1024);
    let report = blend.run_rows(&mut run, &RunOptions::new()).unwrap();
    drop(run);
    assert_eq!(out, expected);
    assert_eq!(sums, (0..rows as i32).collect::<Vec<_>>());
    assert_eq!(report.chunks, 5);

    // The second input made on demand, typed, each row once.
    let provided: Vec<AtomicUsize> = (0..rows).map(|_| AtomicUsize::new(0)).collect();
    let calls = AtomicUsize::new(0);
    let mut out2 = vec![-1f32; rows * width];
    let mut sums2 = vec![-1i32; rows];
    let mut run = Rows::new(rows as i64)
        .input(&a)
        .input_provider_of::<f32, _, _>(width, |first, dst| {
            calls.fetch_add(1, Ordering::Relaxed);
            let start = first as usize * width;
            dst.copy_from_slice(&b[start..start + dst.len()]);
            for r in 0..dst.len() / width {
                provided[first as usize + r].fetch_add(1, Ordering::Relaxed);
            }
        })
        .output(&mut out2)
        .output(&mut sums2)
        .scalar(width as i32)
        .work_items_per_row(width as i64)
        .rows_per_chunk(1000);
    let report = blend.run_rows(&mut run, &RunOptions::new()).unwrap();
    drop(run);
    assert!(provided.iter().all(|p| p.load(Ordering::Relaxed) == 1), "every row provided exactly once");
    assert_eq!(calls.load(Ordering::Relaxed) as i64, report.chunks);
    assert_eq!(out2, expected);
}

#[test]
fn failing_or_panicking_providers_fail_the_run() {
    let rt = common::device_runtime();
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    let x = ramp(40_000);
    let mut y = vec![0f32; x.len()];
    let mut run = Rows::new(x.len() as i64)
        .input_provider_of::<f32, _, _>(1, |first, dst| {
            if first >= 20_000 {
                panic!("no rows at {first}");
            }
            dst.copy_from_slice(&x[first as usize..first as usize + dst.len()]);
        })
        .output(&mut y)
        .scalar(A)
        .scalar(B)
        .rows_per_chunk(10_000);
    let e = kernel.run_rows(&mut run, &RunOptions::new()).unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
    assert!(
        e.message().contains("the row provider of inputs[0] for rows [20000, 30000) panicked: no rows at 20000"),
        "{e}"
    );
    drop(run);

    let mut run = Rows::new(100).input_provider(4, |_, _| 7).output(&mut y[..100]).scalar(A).scalar(B);
    let e = kernel.run_rows(&mut run, &RunOptions::new()).unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("returned 7")), "{e:?}");
}

#[test]
fn bad_row_runs_are_refused_with_a_message() {
    let rt = common::device_runtime();
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    let x = ramp(1000);
    let mut y = vec![0f32; 1000];
    let refuse = |mut run: Rows<'_>, what: &str| {
        let e = kernel.run_rows(&mut run, &RunOptions::new()).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert!(e.message().contains(what), "{what} not in {e}");
    };
    refuse(Rows::new(1000).input(&x[..999]).output(&mut y).scalar(A).scalar(B), "inputs[0] holds 3996 bytes");
    refuse(Rows::new(1000).input(&x).output(&mut y).scalar(A), "long first_row");
    refuse(Rows::new(1000).input(&x).output(&mut y).scalar(A).scalar(B).work_items_per_row(0), "work_items_per_row");
    refuse(Rows::new(1000).input(&x).scalar(A).scalar(B), "output");
    assert!(y.iter().all(|v| *v == 0.0));
}

#[test]
fn progress_and_cancellation_of_row_runs() {
    let rt = common::device_runtime();
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    let x = ramp(100_000);
    let mut y = vec![0f32; x.len()];
    let last = Mutex::new(None);
    let options = RunOptions::new().progress_interval_ms(1).progress(|p: &Progress| *last.lock().unwrap() = Some(*p));
    kernel
        .run_rows(&mut Rows::new(100_000).input(&x).output(&mut y).scalar(A).scalar(B).rows_per_chunk(10_000), &options)
        .unwrap();
    drop(options);
    let p = last.into_inner().unwrap().unwrap();
    assert_eq!((p.done, p.total), (100_000, 100_000));
    let token = CancelToken::new().unwrap();
    token.cancel();
    let e = kernel
        .run_rows(
            &mut Rows::new(100_000).input(&x).output(&mut y).scalar(A).scalar(B),
            &RunOptions::new().cancel(&token),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
}

#[test]
fn a_failing_enqueue_runs_that_chunk_on_the_cpu_fallback() {
    let rt = device_runtime_with(|b| b.fault_injection("enqueue=1:device"));
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    let x = ramp(100_000);
    let mut y = vec![-1f32; x.len()];
    let calls = Mutex::new(Vec::new());
    let (x_start, x_end) = (x.as_ptr() as usize, x.as_ptr() as usize + 4 * x.len());
    let mut run = Rows::new(100_000).input(&x).output(&mut y).scalar(A).scalar(B).rows_per_chunk(10_000).cpu_fallback(
        |rows: &mut parallax::CpuRows<'_>| {
            calls.lock().unwrap().push((rows.first_row(), rows.rows()));
            let input = rows.input::<f32>(0).to_vec();
            let at = rows.input::<f32>(0).as_ptr() as usize;
            assert!(x_start <= at && at < x_end, "the fallback reads the caller's slice in place");
            for (o, v) in rows.output::<f32>(0).iter_mut().zip(&input) {
                *o = A * v + B;
            }
        },
    );
    let report = kernel.run_rows(&mut run, &RunOptions::new()).unwrap();
    drop(run);
    assert_eq!(y, axpb(&x));
    assert_eq!((report.fallback_chunks, report.failed, report.chunks), (1, 1, 10));
    let calls = calls.into_inner().unwrap();
    assert!(calls.len() == 1 && calls[0].0 % 10_000 == 0 && calls[0].1 == 10_000, "{calls:?}");
}

#[test]
fn out_of_memory_on_the_device_halves_the_chunk_and_data_may_exceed_the_device() {
    let rt = device_runtime_with(|b| b.fault_injection("alloc=2:out_of_memory"));
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    let x = ramp(300_000);
    let mut y = vec![-1f32; x.len()];
    let report = kernel
        .run_rows(
            &mut Rows::new(300_000).input(&x).output(&mut y).scalar(A).scalar(B).rows_per_chunk(65_536),
            &RunOptions::new(),
        )
        .unwrap();
    assert_eq!(y, axpb(&x));
    assert_eq!((report.chunk_splits, report.fallback_chunks), (1, 0));

    let limit = 4i64 << 20;
    let small = device_runtime_with(|b| b.device_memory_limit_bytes(limit));
    assert_eq!(small.device_info(0).unwrap().global_memory_bytes, limit);
    let kernel = small.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    let x = ramp(limit as usize); // 16 MiB in, 16 MiB out
    let mut y = vec![0f32; x.len()];
    let report = kernel
        .run_rows(&mut Rows::new(limit).input(&x).output(&mut y).scalar(A).scalar(B), &RunOptions::new())
        .unwrap();
    assert_eq!(y, axpb(&x));
    assert!(report.chunks >= 8 && report.fallback_chunks == 0, "{report:?}");
    let held = small.buffer(0, 3 << 20).unwrap();
    let e = small.buffer(0, 3 << 20).unwrap_err();
    assert!(matches!(&e, Error::OutOfMemory(m) if m.contains("device_memory_limit_bytes")), "{e:?}");
    drop(held);
    small.buffer(0, 3 << 20).unwrap(); // freed memory is counted back
}

#[test]
fn a_cpu_only_runtime_runs_kernels_on_the_cpu_fallback_only() {
    let rt = device_runtime_with(|b| b.device_policy(DevicePolicy::CpuOnly));
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    assert!(kernel.devices().unwrap().is_empty());
    let x = ramp(100_000);
    let mut y = vec![-1f32; x.len()];
    let e = kernel
        .run_rows(&mut Rows::new(100_000).input(&x).output(&mut y).scalar(A).scalar(B), &RunOptions::new())
        .unwrap_err();
    assert!(matches!(&e, Error::NoDevice(m) if m.contains("no CPU fallback")), "{e:?}");
    let cpu = |rows: &mut parallax::CpuRows<'_>| {
        let input = rows.input::<f32>(0).to_vec();
        for (o, v) in rows.output::<f32>(0).iter_mut().zip(input) {
            *o = A * v + B;
        }
    };
    let report = kernel
        .run_rows(
            &mut Rows::new(100_000).input(&x).output(&mut y).scalar(A).scalar(B).cpu_fallback(cpu),
            &RunOptions::new().workers(2),
        )
        .unwrap();
    assert_eq!(y, axpb(&x));
    assert!(report.chunks >= 2 && report.fallback_chunks == 0);

    let e = kernel
        .run_rows(
            &mut Rows::new(100_000)
                .input(&x)
                .output(&mut y)
                .scalar(A)
                .scalar(B)
                .cpu_fallback(|_: &mut parallax::CpuRows<'_>| -> () { panic!("from the fallback") }),
            &RunOptions::new(),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::TaskFailed(m) if m.contains("CPU fallback") && m.contains("panicked: from the fallback")),
        "{e:?}"
    );
    let e = kernel
        .run_rows(
            &mut Rows::new(100_000)
                .input(&x)
                .output(&mut y)
                .scalar(A)
                .scalar(B)
                .cpu_fallback(|_: &mut parallax::CpuRows<'_>| 3),
            &RunOptions::new(),
        )
        .unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("returned 3")), "{e:?}");
}

#[test]
fn a_mixed_plan_adds_cpu_workers_and_replicas_share_the_rows() {
    let rt = common::device_runtime();
    let kernel = rt.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    let rows = 200_000i64;
    let plan = rt.plan(&Workload::new(1, rows * 4).rows(rows, 4).kind(WorkloadKind::Mixed)).unwrap();
    assert!(plan.info().use_gpu);
    let x = ramp(rows as usize);
    let mut y = vec![0f32; x.len()];
    let cpu = |r: &mut parallax::CpuRows<'_>| {
        let input = r.input::<f32>(0).to_vec();
        for (o, v) in r.output::<f32>(0).iter_mut().zip(input) {
            *o = A * v + B;
        }
    };
    let report = kernel
        .run_rows(
            &mut Rows::new(rows).input(&x).output(&mut y).scalar(A).scalar(B).rows_per_chunk(10_000).cpu_fallback(cpu),
            &RunOptions::new().plan(&plan),
        )
        .unwrap();
    assert_eq!(y, axpb(&x));
    assert_eq!(report.workers, 1 + plan.info().cpu_workers);

    let replicated = device_runtime_with(|b| b.device_replicas(2));
    let count = replicated.caps().unwrap().device_count;
    assert_eq!(count, 2 * rt.caps().unwrap().device_count);
    let kernel = replicated.kernel(ROWS_SOURCE, "axpb", None).unwrap();
    assert_eq!(kernel.devices().unwrap(), (0..count).collect::<Vec<_>>());
    let x = ramp(400_000);
    let mut y = vec![0f32; x.len()];
    let report = kernel
        .run_rows(
            &mut Rows::new(400_000).input(&x).output(&mut y).scalar(A).scalar(B).rows_per_chunk(20_000),
            &RunOptions::new(),
        )
        .unwrap();
    assert_eq!(report.chunks, 20);
    assert_eq!(y, axpb(&x));
}

#[test]
fn build_errors_carry_the_build_log() {
    let rt = common::device_runtime();
    let e =
        rt.kernel("__kernel void broken(__global float* x) { x[0] = undeclared_thing; }", "broken", None).unwrap_err();
    assert!(
        matches!(&e, Error::Device(m) if m.contains("CL_BUILD_PROGRAM_FAILURE") && m.contains("undeclared_thing")),
        "{e:?}"
    );
    let e = rt.kernel(ROWS_SOURCE, "not_there", None).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("no __kernel of that name")), "{e:?}");
    let e = rt.kernel("", "axpb", None).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("source is NULL or empty")), "{e:?}");
    let e = rt.kernel(ROWS_SOURCE, "axpb", Some("-D\0")).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("build_options")), "{e:?}");
    rt.kernel(BUFFER_SOURCE, "twice", Some("-D UNUSED=1")).unwrap();
}

#[test]
fn buffers_round_trip_and_kernel_run_computes() {
    let rt = common::device_runtime();
    let twice = rt.kernel(BUFFER_SOURCE, "twice", None).unwrap();
    let buffer = rt.buffer(0, 4096 * 4).unwrap();
    assert_eq!((buffer.device(), buffer.len_bytes()), (0, 4096 * 4));
    let values: Vec<i32> = (0..4096).collect();
    buffer.write(0, &values).unwrap();
    let mut back = vec![0i32; 4096];
    buffer.read(0, &mut back).unwrap();
    assert_eq!(back, values);
    twice.run(0, &[KernelArg::Buffer(&buffer), KernelArg::Scalar(5i32.into())], &[4096], Some(&[64])).unwrap();
    buffer.read(0, &mut back).unwrap();
    let expected: Vec<i32> = values.iter().map(|v| 2 * v + 5).collect();
    assert_eq!(back, expected);
    let mut one = [0i32; 1];
    buffer.read(100 * 4, &mut one).unwrap();
    assert_eq!(one, [205]);
    twice.run(0, &[KernelArg::Buffer(&buffer), KernelArg::Scalar(Scalar::new(1i32))], &[4096], None).unwrap();
    buffer.write(8, &[-1i32, -2]).unwrap();
    let mut head = [0i32; 4];
    buffer.read(0, &mut head).unwrap();
    assert_eq!(head, [11, 15, -1, -2]);

    let e = buffer.write(0, &vec![0i32; 4097]).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("outside the buffer")), "{e:?}");
    let e =
        twice.run(0, &[KernelArg::Buffer(&buffer), KernelArg::Scalar(0i32.into())], &[4096], Some(&[3])).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("divide")), "{e:?}");
    let e = twice
        .run(0, &[KernelArg::Buffer(&buffer), KernelArg::Scalar(0i32.into())], &[4096], Some(&[64, 1]))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = rt.buffer(99, 16).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
}

#[test]
fn local_memory_and_vector_scalars() {
    let rt = common::device_runtime();
    let sums = rt.kernel(BUFFER_SOURCE, "group_sums", None).unwrap();
    let data = rt.buffer(0, 1024 * 4).unwrap();
    let out = rt.buffer(0, 16 * 4).unwrap();
    let values: Vec<i32> = (0..1024).map(|i| (i * 7919) % 2001 - 1000).collect();
    data.write(0, &values).unwrap();
    sums.run(0, &[KernelArg::Buffer(&data), KernelArg::Buffer(&out), KernelArg::Local(64 * 4)], &[1024], Some(&[64]))
        .unwrap();
    let mut got = [0i32; 16];
    out.read(0, &mut got).unwrap();
    let expected: Vec<i32> = values.chunks(64).map(|c| c.iter().sum()).collect();
    assert_eq!(got.to_vec(), expected);

    let scale4 = rt.kernel(BUFFER_SOURCE, "scale4", None).unwrap();
    let buffer = rt.buffer(0, 8 * 16).unwrap();
    buffer.write(0, &[1f32; 32]).unwrap();
    scale4
        .run(0, &[KernelArg::Buffer(&buffer), KernelArg::Scalar(Scalar::of_slice(&[1f32, 2.0, 3.0, 4.0]))], &[8], None)
        .unwrap();
    let mut back = [0f32; 32];
    buffer.read(0, &mut back).unwrap();
    assert_eq!(back.to_vec(), [1f32, 2.0, 3.0, 4.0].repeat(8));
    assert_eq!(Scalar::from_bytes(&[1, 0, 0, 0]), Scalar::new(1i32));
}

#[test]
fn measured_figures_are_cached_for_later_runtimes() {
    let cache = std::env::temp_dir().join(format!("parallax-rust-measure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let make = || Runtime::builder().device_types(DeviceTypes::ANY).cache_dir(cache.join("nested")).build().unwrap();
    let rt = make();
    assert_eq!(rt.device_info(0).unwrap().measured_gbps, None);
    let f = rt.measure_device(0, 1 << 20, 4 << 20).unwrap();
    assert_eq!((f.transfer_bytes, f.stream_bytes), (1 << 20, 4 << 20));
    for v in [
        f.h2d_pinned_gbps,
        f.h2d_pageable_gbps,
        f.d2h_pinned_gbps,
        f.device_copy_gbps,
        f.launch_us,
        f.launch_roundtrip_us,
        f.stream_gbps,
    ] {
        assert!(v > 0.0, "{f:?}");
    }
    drop(rt);
    assert_eq!(make().device_info(0).unwrap().measured_gbps, Some(f.stream_gbps));
    let e = common::tiny().measure_device(0, 0, 0).unwrap_err();
    assert!(e.status() == sys::PLX_ERR_INVALID_ARGUMENT || e.status() == sys::PLX_ERR_UNSUPPORTED, "{e:?}");
    let _ = std::fs::remove_dir_all(&cache);
}
