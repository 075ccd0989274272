//! Image stacking: known answers computed here by plain code (mean, median, min, max, sum,
//! weighted mean, astropy-style sigma clipping, min/max rejection, normalization), frames read
//! in place with strides and channels, providers, outputs, plans, errors, and the OpenCL path
//! on PoCL against the CPU's.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use parallax::{
    Centre, Combine, DevicePreference, Error, FrameBlock, Normalize, Progress, Reject, RunOptions, StackDesc, Weights,
};

const N: usize = 9;
const H: usize = 6;
const W: usize = 7;

/// Frames with noise, a few outliers, a missing sample and an infinite one.
fn frames() -> Vec<Vec<f32>> {
    (0..N)
        .map(|f| {
            (0..H * W)
                .map(|p| {
                    let noise = ((f * 131 + p * 71) % 17) as f32 / 4.0 - 2.0;
                    let mut v = 100.0 + p as f32 + noise;
                    if (f + p) % 13 == 0 {
                        v += 500.0; // a cosmic ray
                    }
                    if f == 2 && p == 5 {
                        v = f32::NAN;
                    }
                    if f == 4 && p == 9 {
                        v = f32::NEG_INFINITY;
                    }
                    v
                })
                .collect()
        })
        .collect()
}

fn samples(frames: &[Vec<f32>], p: usize) -> Vec<f64> {
    frames.iter().map(|f| f64::from(f[p])).collect()
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// astropy's sigma_clip(maxiters, cenfunc='median', stdfunc='std'), then the last bounds applied
/// to every finite sample; no rejection under 3 finite samples. Returns the kept samples.
fn sigma_clip(values: &[f64], low: f64, high: f64, max_iters: usize) -> Vec<f64> {
    let finite = sorted_finite(values);
    if finite.len() < 3 {
        return finite;
    }
    let mut kept = finite.clone();
    let mut bounds = (f64::NEG_INFINITY, f64::INFINITY);
    for _ in 0..max_iters {
        let centre = median(&kept);
        let mean = kept.iter().sum::<f64>() / kept.len() as f64;
        let std = (kept.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / kept.len() as f64).sqrt();
        bounds = (centre - low * std, centre + high * std);
        let next: Vec<f64> = kept.iter().copied().filter(|v| *v >= bounds.0 && *v <= bounds.1).collect();
        let done = next.len() == kept.len();
        kept = next;
        if done {
            break;
        }
    }
    finite.into_iter().filter(|v| *v >= bounds.0 && *v <= bounds.1).collect()
}

fn close(got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(*g);
        assert!((g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-6 * w.abs().max(1.0), "pixel {i}: got {g}, want {w}");
    }
}

fn refs(frames: &[Vec<f32>]) -> Vec<&[f32]> {
    frames.iter().map(|f| &f[..]).collect()
}

#[test]
fn combines_equal_plain_code() {
    let rt = common::tiny();
    let data = frames();
    let slices = refs(&data);
    type Plain = fn(&[f64]) -> f64;
    let cases: [(Combine, Plain); 5] = [
        (Combine::Mean, |v| v.iter().sum::<f64>() / v.len() as f64),
        (Combine::Sum, |v| v.iter().sum()),
        (Combine::Median, median),
        (Combine::Min, |v| v[0]),
        (Combine::Max, |v| v[v.len() - 1]),
    ];
    for (combine, plain) in cases {
        let r = rt.stack(&StackDesc::new(&slices, H as i64, W as i64).combine(combine)).unwrap();
        // No rejection: every finite sample but the infinite one (always rejected).
        let want: Vec<f64> = (0..H * W).map(|p| plain(&sorted_finite(&samples(&data, p)))).collect();
        close(&r.image, &want);
        let count = r.count.as_ref().unwrap();
        assert_eq!(count[5], N as i32 - 1, "the NaN is not counted");
        assert_eq!(count[9], N as i32 - 1, "the -inf is rejected");
        assert_eq!(count[0], N as i32);
        assert_eq!((r.samples, r.missing), ((N * H * W) as i64, 1));
        assert_eq!(r.kept + r.rejected + r.missing, r.samples);
    }
}

#[test]
fn sigma_clipping_equals_astropy_written_out() {
    let rt = common::tiny();
    let data = frames();
    let slices = refs(&data);
    for (low, high, iters) in [(3.0, 3.0, 5usize), (1.5, 2.0, 5), (1.0, 1.0, 1)] {
        let r = rt
            .stack(
                &StackDesc::new(&slices, H as i64, W as i64)
                    .reject(Reject::SigmaClip)
                    .sigma_low(low)
                    .sigma_high(high)
                    .max_iters(Some(iters as i32))
                    .centre(Centre::Median)
                    .with_rejection_maps(true),
            )
            .unwrap();
        let kept: Vec<Vec<f64>> = (0..H * W).map(|p| sigma_clip(&samples(&data, p), low, high, iters)).collect();
        let want: Vec<f64> = kept.iter().map(|k| k.iter().sum::<f64>() / k.len() as f64).collect();
        close(&r.image, &want);
        assert_eq!(r.count.unwrap(), kept.iter().map(|k| k.len() as i32).collect::<Vec<_>>());
        let (lo, hi) = (r.rejected_low.unwrap(), r.rejected_high.unwrap());
        for p in 0..H * W {
            let finite = samples(&data, p).iter().filter(|v| !v.is_nan()).count() as i32;
            assert_eq!(lo[p] + hi[p] + kept[p].len() as i32, finite, "pixel {p}");
        }
        let per_frame: i64 = r.frame_rejected.unwrap().iter().sum();
        assert_eq!(per_frame, r.rejected);
    }
}

#[test]
fn weighted_means_minmax_and_percentiles() {
    let rt = common::tiny();
    let data = frames();
    let slices = refs(&data);
    let weights: Vec<f64> = (0..N).map(|f| 1.0 + f as f64).collect();
    let r = rt
        .stack(
            &StackDesc::new(&slices, H as i64, W as i64)
                .combine(Combine::WeightedMean)
                .weights(Weights::Given(weights.clone())),
        )
        .unwrap();
    let want: Vec<f64> = (0..H * W)
        .map(|p| {
            let (mut s, mut w) = (0.0, 0.0);
            for (f, v) in samples(&data, p).iter().enumerate() {
                if v.is_finite() {
                    s += weights[f] * v;
                    w += weights[f];
                }
            }
            s / w
        })
        .collect();
    close(&r.image, &want);

    let r = rt.stack(&StackDesc::new(&slices, H as i64, W as i64).reject(Reject::MinMax).minmax(1, 2)).unwrap();
    let want: Vec<f64> = (0..H * W)
        .map(|p| {
            let s = sorted_finite(&samples(&data, p));
            let k = &s[1..s.len() - 2];
            k.iter().sum::<f64>() / k.len() as f64
        })
        .collect();
    close(&r.image, &want);

    // Percentile 0..100 keeps every finite sample.
    let r = rt
        .stack(&StackDesc::new(&slices, H as i64, W as i64).reject(Reject::Percentile).percentiles(0.0, 100.0))
        .unwrap();
    let want: Vec<f64> = (0..H * W)
        .map(|p| {
            let s = sorted_finite(&samples(&data, p));
            s.iter().sum::<f64>() / s.len() as f64
        })
        .collect();
    close(&r.image, &want);
    // Winsorized clipping and the mean centre run too (their numbers are the C++ suites' business).
    let r = rt
        .stack(
            &StackDesc::new(&slices, H as i64, W as i64)
                .reject(Reject::WinsorizedSigmaClip)
                .centre(Centre::Mean)
                .sigma(2.5),
        )
        .unwrap();
    assert!(r.image.iter().all(|v| v.is_finite()));
}

#[test]
fn additive_normalization_brings_every_frame_to_the_reference() {
    let rt = common::tiny();
    let base: Vec<f32> = (0..H * W).map(|p| 50.0 + (p % 11) as f32).collect();
    let data: Vec<Vec<f32>> = (0..5).map(|f| base.iter().map(|v| v + 10.0 * f as f32).collect()).collect();
    let slices = refs(&data);
    let r = rt
        .stack(
            &StackDesc::new(&slices, H as i64, W as i64)
                .normalize(Normalize::Additive)
                .reference_frame(2)
                .with_frame_stats(true),
        )
        .unwrap();
    let want: Vec<f64> = base.iter().map(|v| f64::from(*v) + 20.0).collect();
    close(&r.image, &want);
    assert_eq!(r.frame_offset.unwrap(), vec![20.0, 10.0, 0.0, -10.0, -20.0]);
    assert_eq!(r.frame_scale.unwrap(), vec![1.0; 5]);
    assert_eq!(r.frame_weight.unwrap().len(), 5);
}

#[test]
fn strided_channels_read_in_place_and_providers_give_the_same_bits() {
    let rt = common::tiny();
    let (c, rs) = (3usize, W + 5); // rows padded to 12 floats, 3 planar channels
    let cs = H * rs + 4;
    let data = frames();
    let value = |f: usize, ch: usize, y: usize, x: usize| data[f][y * W + x] + 1000.0 * ch as f32;
    let strided: Vec<Vec<f32>> = (0..N)
        .map(|f| {
            let mut v = vec![-7.0f32; (c - 1) * cs + (H - 1) * rs + W];
            for ch in 0..c {
                for y in 0..H {
                    for x in 0..W {
                        v[ch * cs + y * rs + x] = value(f, ch, y, x);
                    }
                }
            }
            v
        })
        .collect();
    let slices = refs(&strided);
    let desc = StackDesc::new(&slices, H as i64, W as i64)
        .channels(c as i32)
        .strides(rs as i64, cs as i64)
        .reject(Reject::SigmaClip)
        .sigma(2.0);
    let r = rt.stack(&desc).unwrap();
    assert_eq!(r.image.len(), c * H * W);
    for ch in 0..c {
        let want: Vec<f64> = (0..H * W)
            .map(|p| {
                let values: Vec<f64> = (0..N).map(|f| f64::from(value(f, ch, p / W, p % W))).collect();
                let k = sigma_clip(&values, 2.0, 2.0, 5);
                k.iter().sum::<f64>() / k.len() as f64
            })
            .collect();
        close(&r.image[ch * H * W..(ch + 1) * H * W], &want);
    }

    let calls = AtomicUsize::new(0);
    let provided = StackDesc::from_provider(N as i64, H as i64, W as i64, |block: &mut FrameBlock<'_>| {
        calls.fetch_add(1, Ordering::Relaxed);
        let (f, ch) = (block.frame as usize, block.channel as usize);
        block.fill_with(|y, x| value(f, ch, y as usize, x as usize));
    })
    .channels(c as i32)
    .reject(Reject::SigmaClip)
    .sigma(2.0);
    let p = rt.stack(&provided).unwrap();
    assert!(calls.load(Ordering::Relaxed) > 0);
    assert_eq!(
        p.image.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        r.image.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(p.count, r.count);
}

#[test]
fn results_do_not_depend_on_workers_and_plans_describe_the_tiles() {
    let rt = common::tiny();
    let data = frames();
    let slices = refs(&data);
    let one = rt
        .stack(
            &StackDesc::new(&slices, H as i64, W as i64)
                .reject(Reject::SigmaClip)
                .options(RunOptions::new().workers(1)),
        )
        .unwrap();
    let two = rt
        .stack(
            &StackDesc::new(&slices, H as i64, W as i64)
                .reject(Reject::SigmaClip)
                .options(RunOptions::new().workers(2)),
        )
        .unwrap();
    assert_eq!(
        one.image.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        two.image.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(two.workers, 2);
    assert!(!one.simd_target.is_empty() && one.device_index.is_none());
    let plan = rt.stack_plan(&StackDesc::new(&slices, H as i64, W as i64)).unwrap();
    assert!(plan.info().rows_per_chunk >= 1 && plan.info().cpu_workers >= 1, "{:?}", plan.info());

    let last = std::sync::Mutex::new(None);
    let desc = StackDesc::new(&slices, H as i64, W as i64)
        .options(RunOptions::new().progress_interval_ms(0).progress(|p: &Progress| *last.lock().unwrap() = Some(*p)));
    rt.stack(&desc).unwrap();
    drop(desc);
    let p = last.into_inner().unwrap().unwrap();
    assert_eq!(p.done, p.total);
}

#[test]
fn bad_stacks_are_refused_with_a_message() {
    let rt = common::tiny();
    let data = frames();
    let slices = refs(&data);
    let e = rt.stack(&StackDesc::new(&slices, H as i64 + 1, W as i64)).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("frames[0] holds 42 floats")), "{e:?}");
    let e = rt.stack(&StackDesc::new(&slices, H as i64, W as i64).weights(Weights::Given(vec![1.0; 3]))).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("3 frame weights given for 9 frames")), "{e:?}");
    let e = rt.stack(&StackDesc::new(&slices, 0, W as i64)).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("height")), "{e:?}");
    let e = rt.stack(&StackDesc::new(&[], H as i64, W as i64)).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("frames")), "{e:?}");
    let e = rt.stack(&StackDesc::new(&slices, H as i64, W as i64).sigma(-1.0).reject(Reject::SigmaClip)).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("sigma")), "{e:?}");
    let e = rt.stack_plan(&StackDesc::new(&slices, H as i64, W as i64).channels(0)).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");

    let e = rt
        .stack(&StackDesc::from_provider(4, H as i64, W as i64, |block: &mut FrameBlock<'_>| {
            if block.frame == 3 {
                panic!("frame {} is unreadable", block.frame);
            }
            block.fill_with(|_, _| 1.0);
        }))
        .unwrap_err();
    assert!(matches!(e, Error::TaskFailed(_)), "{e:?}");
    assert!(
        e.message().contains("the frame provider for frame 3")
            && e.message().contains("panicked: frame 3 is unreadable"),
        "{e}"
    );
    let e = rt
        .stack(&StackDesc::from_provider(4, H as i64, W as i64, |_: &mut FrameBlock<'_>| Err("disk error")))
        .unwrap_err();
    assert!(matches!(&e, Error::TaskFailed(m) if m.contains("failed: disk error")), "{e:?}");
}

#[test]
fn the_opencl_path_on_pocl_agrees_with_the_cpu() {
    let rt = common::device_runtime();
    let data = frames();
    let slices = refs(&data);
    let desc = |device| StackDesc::new(&slices, H as i64, W as i64).reject(Reject::SigmaClip).sigma(2.0).device(device);
    let cpu = rt.stack(&desc(DevicePreference::Cpu)).unwrap();
    let gpu = rt.stack(&desc(DevicePreference::Gpu)).unwrap();
    assert!(gpu.device_index.is_some() && cpu.device_index.is_none());
    let want: Vec<f64> = cpu.image.iter().map(|v| f64::from(*v)).collect();
    close(&gpu.image, &want);
    assert_eq!(gpu.count, cpu.count);
}
