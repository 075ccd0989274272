//! Image stacking (`plx_stack`): N registered frames of H x W float32 pixels
//! (or C planar channels of them) combined pixel by pixel into one image after
//! rejecting outliers.
//!
//! Frames are slices read in place (no copy), with optional row and channel
//! strides, or a provider closure making pixels on demand. NaN marks a missing
//! sample; +-inf is a sample always rejected. Results are the same bits for
//! any number of workers and any tiling.

use std::os::raw::{c_int, c_void};
use std::sync::Arc;

use parallax_sys as sys;

use crate::callback::{guard, init_struct, text_of, CallbackResult, Failures, Outcome};
use crate::error::{Error, Result};
use crate::plan::{DevicePreference, Plan};
use crate::run::{status_error, RawRun, RunOptions, RunReport};
use crate::runtime::Runtime;

/// How the surviving samples of a pixel are combined (`plx_stack_combine_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Combine {
    Mean = 0,
    /// sum w x / sum w with the frame weights ([`StackDesc::weights`]).
    WeightedMean = 1,
    Sum = 2,
    /// Of an even count, the mean of the two middle values.
    Median = 3,
    Min = 4,
    Max = 5,
}

/// How outliers are rejected before combining (`plx_stack_reject_t`). Nothing is rejected where
/// fewer than 3 samples are finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    None = 0,
    /// astropy's sigma_clip: iterate on the survivors around their median (or mean), population std.
    SigmaClip = 1,
    /// Sigma clipping with centre and std of the survivors clamped to their 5th/95th percentiles.
    WinsorizedSigmaClip = 2,
    /// Keep samples between two percentiles (numpy's linear interpolation).
    Percentile = 3,
    /// Drop the n_low lowest and n_high highest samples.
    MinMax = 4,
}

/// The centre of sigma clipping (`plx_stack_centre_t`, astropy's cenfunc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Centre {
    Median = 0,
    Mean = 1,
}

/// Per-frame normalization to the reference frame, per channel (`plx_stack_normalize_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Normalize {
    None = 0,
    /// offset = median(ref) - median(frame).
    Additive = 1,
    /// scale = median(ref) / median(frame).
    Multiplicative = 2,
    /// Least squares ref ~ scale x frame + offset, refitted without 3-sigma outliers.
    LinearFit = 3,
}

/// Where the frame weights of [`Combine::WeightedMean`] come from (`plx_stack_weights_t`).
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    /// Every frame weighs 1.
    None,
    /// One finite weight >= 0 per frame.
    Given(Vec<f64>),
    /// 1 / sigma^2 per frame and channel, sigma = 1.4826 x the MAD of the normalized frame.
    NoiseVariance,
}

/// A block of one frame's channel for a frame provider to fill: rows [row0, row0 + rows) x
/// columns [col0, col0 + cols).
pub struct FrameBlock<'b> {
    pub frame: i64,
    pub row0: i64,
    pub rows: i64,
    pub col0: i64,
    pub cols: i64,
    pub channel: i32,
    dst: *mut f32,
    stride: i64,
    _dst: std::marker::PhantomData<&'b mut [f32]>,
}

impl FrameBlock<'_> {
    /// Row `r` (0 .. rows) of the block: `cols` pixels to write.
    pub fn row_mut(&mut self, r: i64) -> &mut [f32] {
        assert!((0..self.rows).contains(&r), "FrameBlock::row_mut: row {r} outside 0..{}", self.rows);
        // SAFETY: the library's dst holds `rows` rows of `cols` floats, dst_stride floats apart.
        unsafe { std::slice::from_raw_parts_mut(self.dst.offset((r * self.stride) as isize), self.cols as usize) }
    }

    /// Fills the block with `pixel(row, col)` of the frame's channel (absolute coordinates).
    pub fn fill_with(&mut self, mut pixel: impl FnMut(i64, i64) -> f32) {
        for r in 0..self.rows {
            let (row0, col0) = (self.row0, self.col0);
            for (c, v) in self.row_mut(r).iter_mut().enumerate() {
                *v = pixel(row0 + r, col0 + c as i64);
            }
        }
    }
}

type ProviderFn<'a> = dyn Fn(&mut FrameBlock<'_>) -> Outcome + Sync + 'a;

enum Frames<'a> {
    Slices(Vec<&'a [f32]>),
    Provider(Box<ProviderFn<'a>>),
}

/// A stack (`plx_stack_desc_t`), the outputs wanted and the run's options. Unset parameters take
/// the library's defaults (mean, no rejection, sigma 3, 5 iterations, median centre, MINMAX 1/1,
/// percentiles 10/90).
pub struct StackDesc<'a> {
    frames: Frames<'a>,
    count: i64,
    height: i64,
    width: i64,
    channels: Option<i32>,
    row_stride: i64,
    channel_stride: i64,
    combine: Option<Combine>,
    reject: Option<Reject>,
    centre: Option<Centre>,
    sigma_low: Option<f64>,
    sigma_high: Option<f64>,
    max_iters: Option<i32>,
    minmax: Option<(i32, i32)>,
    percentiles: Option<(f64, f64)>,
    weights: Weights,
    normalize: Option<Normalize>,
    device: Option<DevicePreference>,
    reference_frame: Option<i64>,
    options: RunOptions<'a>,
    want_count: bool,
    want_rejected: bool,
    want_frame_stats: bool,
}

impl<'a> StackDesc<'a> {
    fn with(frames: Frames<'a>, count: i64, height: i64, width: i64) -> StackDesc<'a> {
        StackDesc {
            frames,
            count,
            height,
            width,
            channels: None,
            row_stride: 0,
            channel_stride: 0,
            combine: None,
            reject: None,
            centre: None,
            sigma_low: None,
            sigma_high: None,
            max_iters: None,
            minmax: None,
            percentiles: None,
            weights: Weights::None,
            normalize: None,
            device: None,
            reference_frame: None,
            options: RunOptions::new(),
            want_count: true,
            want_rejected: false,
            want_frame_stats: false,
        }
    }

    /// Frames given as slices read in place: frame i's pixel (channel c, row y, column x) is
    /// `frames[i][c * channel_stride + y * row_stride + x]` (strides default to a contiguous
    /// height x width plane per channel).
    pub fn new(frames: &[&'a [f32]], height: i64, width: i64) -> StackDesc<'a> {
        let n = frames.len() as i64;
        StackDesc::with(Frames::Slices(frames.to_vec()), n, height, width)
    }

    /// `frames` frames made on demand by `provider(block)`, which fills the block (see
    /// [`FrameBlock`]). Called from several threads at once, in any order, possibly more than once
    /// for the same pixels: it must give the same pixels every time. Returning an error or a
    /// non-zero code, or panicking, fails the stack with [`Error::TaskFailed`].
    pub fn from_provider<F, R>(frames: i64, height: i64, width: i64, provider: F) -> StackDesc<'a>
    where
        F: Fn(&mut FrameBlock<'_>) -> R + Sync + 'a,
        R: CallbackResult,
    {
        StackDesc::with(Frames::Provider(Box::new(move |b| provider(b).into_outcome())), frames, height, width)
    }

    /// Planar channels per frame, 1 .. 64 (default 1).
    pub fn channels(mut self, channels: i32) -> Self {
        self.channels = Some(channels);
        self
    }
    /// Floats from a row to the next (0 = width) and from a channel plane to the next (0 = height x
    /// row stride), for frames that are views into larger images.
    pub fn strides(mut self, row_stride: i64, channel_stride: i64) -> Self {
        self.row_stride = row_stride;
        self.channel_stride = channel_stride;
        self
    }
    pub fn combine(mut self, combine: Combine) -> Self {
        self.combine = Some(combine);
        self
    }
    pub fn reject(mut self, reject: Reject) -> Self {
        self.reject = Some(reject);
        self
    }
    pub fn centre(mut self, centre: Centre) -> Self {
        self.centre = Some(centre);
        self
    }
    /// Both clipping bounds, in standard deviations.
    pub fn sigma(self, sigma: f64) -> Self {
        self.sigma_low(sigma).sigma_high(sigma)
    }
    pub fn sigma_low(mut self, sigma: f64) -> Self {
        self.sigma_low = Some(sigma);
        self
    }
    pub fn sigma_high(mut self, sigma: f64) -> Self {
        self.sigma_high = Some(sigma);
        self
    }
    /// Clipping iterations at most (None: until nothing changes).
    pub fn max_iters(mut self, iterations: Option<i32>) -> Self {
        self.max_iters = Some(iterations.unwrap_or(-1));
        self
    }
    /// MinMax: lowest and highest samples dropped per pixel.
    pub fn minmax(mut self, n_low: i32, n_high: i32) -> Self {
        self.minmax = Some((n_low, n_high));
        self
    }
    /// Percentile: the kept range, in [0, 100].
    pub fn percentiles(mut self, low: f64, high: f64) -> Self {
        self.percentiles = Some((low, high));
        self
    }
    pub fn weights(mut self, weights: Weights) -> Self {
        self.weights = weights;
        self
    }
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = Some(normalize);
        self
    }
    /// The normalization reference (default frame 0).
    pub fn reference_frame(mut self, frame: i64) -> Self {
        self.reference_frame = Some(frame);
        self
    }
    /// Auto (default: a device when the runtime has one with double precision), Cpu or Gpu.
    pub fn device(mut self, device: DevicePreference) -> Self {
        self.device = Some(device);
        self
    }
    /// Progress (items = row units: channels x column tiles x height), cancellation, workers,
    /// memory budget and name of the run.
    pub fn options(mut self, options: RunOptions<'a>) -> Self {
        self.options = options;
        self
    }
    /// Fill [`StackResult::count`] (default true).
    pub fn with_count(mut self, on: bool) -> Self {
        self.want_count = on;
        self
    }
    /// Fill the rejection maps and per-frame rejection counts.
    pub fn with_rejection_maps(mut self, on: bool) -> Self {
        self.want_rejected = on;
        self
    }
    /// Fill the per-frame normalization scale, offset and weight.
    pub fn with_frame_stats(mut self, on: bool) -> Self {
        self.want_frame_stats = on;
        self
    }

    fn channel_count(&self) -> i64 {
        i64::from(self.channels.unwrap_or(1))
    }

    /// Checks what the library cannot: that every slice holds the pixels the strides reach, and
    /// that given weights are one per frame.
    fn check_memory(&self) -> Result<()> {
        if let Frames::Slices(frames) = &self.frames {
            let (h, w, c) = (self.height, self.width, self.channel_count());
            if h >= 1 && w >= 1 && c >= 1 && self.row_stride >= 0 && self.channel_stride >= 0 {
                let rs = if self.row_stride == 0 { w } else { self.row_stride };
                let cs = if self.channel_stride == 0 { h.checked_mul(rs) } else { Some(self.channel_stride) };
                let needed = cs
                    .and_then(|cs| (c - 1).checked_mul(cs))
                    .and_then(|a| (h - 1).checked_mul(rs).and_then(|b| a.checked_add(b)))
                    .and_then(|a| a.checked_add(w))
                    .ok_or_else(|| Error::invalid("stack: the frame extent overflows int64"))?;
                for (i, f) in frames.iter().enumerate() {
                    if (f.len() as i64) < needed {
                        return Err(Error::invalid(format!(
                            "stack: frames[{i}] holds {} floats, but {c} channel(s) of {h} x {w} pixels with row \
                             stride {rs} need {needed}",
                            f.len()
                        )));
                    }
                }
            }
        }
        if let Weights::Given(w) = &self.weights {
            if w.len() as i64 != self.count {
                return Err(Error::invalid(format!(
                    "stack: {} frame weights given for {} frames: give one per frame",
                    w.len(),
                    self.count
                )));
            }
        }
        Ok(())
    }
}

struct ProviderCtx<'f, 'a> {
    f: &'f ProviderFn<'a>,
    failures: Arc<Failures>,
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn provider_trampoline(
    user_data: *mut c_void,
    frame: i64,
    row0: i64,
    rows: i64,
    col0: i64,
    cols: i64,
    channel: i32,
    dst: *mut f32,
    dst_stride: i64,
) -> c_int {
    // SAFETY: user_data is the call's ProviderCtx; dst is the block's memory for this call.
    let ctx = &*(user_data as *const ProviderCtx);
    let mut block =
        FrameBlock { frame, row0, rows, col0, cols, channel, dst, stride: dst_stride, _dst: std::marker::PhantomData };
    guard(
        &ctx.failures,
        frame,
        || {
            format!(
                "the frame provider for frame {frame}, rows [{row0}, {}), columns [{col0}, {}), channel {channel}",
                row0 + rows,
                col0 + cols
            )
        },
        || (ctx.f)(&mut block),
    )
}

/// What [`Runtime::stack`] returns. Pixel maps are C x H x W planar (C = 1: H x W); per-frame
/// arrays are N, or N x C frame-major.
#[derive(Debug, Clone, PartialEq)]
pub struct StackResult {
    /// The combined pixels; NaN where no sample survived.
    pub image: Vec<f32>,
    /// Samples kept per pixel ([`StackDesc::with_count`], on by default).
    pub count: Option<Vec<i32>>,
    /// Samples rejected below per pixel, -inf included ([`StackDesc::with_rejection_maps`]).
    pub rejected_low: Option<Vec<i32>>,
    /// Samples rejected above per pixel, +inf included.
    pub rejected_high: Option<Vec<i32>>,
    /// Samples rejected per frame, all channels.
    pub frame_rejected: Option<Vec<i64>>,
    /// Normalization scale per frame and channel: x' = scale x + offset ([`StackDesc::with_frame_stats`]).
    pub frame_scale: Option<Vec<f64>>,
    pub frame_offset: Option<Vec<f64>>,
    /// Weight per frame and channel in a weighted mean.
    pub frame_weight: Option<Vec<f64>>,
    /// N x H x W x C.
    pub samples: i64,
    /// NaN samples.
    pub missing: i64,
    /// Samples combined.
    pub kept: i64,
    /// Samples rejected, low and high.
    pub rejected: i64,
    /// The OpenCL device that stacked; None: the CPU.
    pub device_index: Option<i32>,
    pub workers: i32,
    pub tile_rows: i64,
    pub tiles: i64,
    pub frame_stats_s: f64,
    pub stack_s: f64,
    /// The CPU instruction set of the pixel loops ("AVX2", "AVX3", ...).
    pub simd_target: String,
    pub report: Option<RunReport>,
}

impl Runtime {
    fn stack_desc<'s>(
        &self,
        desc: &'s StackDesc<'_>,
        run: &RawRun<'_>,
        pointers: &'s mut Vec<*const f32>,
        provider: &'s mut Option<Box<ProviderCtx<'s, 's>>>,
    ) -> Result<sys::plx_stack_desc_t> {
        desc.check_memory()?;
        let mut d: sys::plx_stack_desc_t = init_struct(sys::plx_stack_desc_init)?;
        d.frames = desc.count;
        d.height = desc.height;
        d.width = desc.width;
        if let Some(c) = desc.channels {
            d.channels = c;
        }
        match &desc.frames {
            Frames::Slices(frames) => {
                pointers.extend(frames.iter().map(|f| f.as_ptr()));
                d.frame_data = pointers.as_ptr();
                d.row_stride = desc.row_stride;
                d.channel_stride = desc.channel_stride;
            }
            Frames::Provider(f) => {
                let ctx = provider.insert(Box::new(ProviderCtx { f: &**f, failures: run.failures.clone() }));
                d.provider = Some(provider_trampoline);
                d.provider_user_data = &**ctx as *const ProviderCtx as *mut c_void;
            }
        }
        if let Some(v) = desc.combine {
            d.combine = v as i32;
        }
        if let Some(v) = desc.reject {
            d.reject = v as i32;
        }
        if let Some(v) = desc.centre {
            d.centre = v as i32;
        }
        if let Some(v) = desc.sigma_low {
            d.sigma_low = v;
        }
        if let Some(v) = desc.sigma_high {
            d.sigma_high = v;
        }
        if let Some(v) = desc.max_iters {
            d.max_iters = v;
        }
        if let Some((lo, hi)) = desc.minmax {
            d.n_low = lo;
            d.n_high = hi;
        }
        if let Some((lo, hi)) = desc.percentiles {
            d.percentile_low = lo;
            d.percentile_high = hi;
        }
        match &desc.weights {
            Weights::None => d.weights = sys::PLX_WEIGHTS_NONE,
            Weights::Given(w) => {
                d.weights = sys::PLX_WEIGHTS_GIVEN;
                d.frame_weights = w.as_ptr();
            }
            Weights::NoiseVariance => d.weights = sys::PLX_WEIGHTS_NOISE_VARIANCE,
        }
        if let Some(v) = desc.normalize {
            d.normalize = v as i32;
        }
        if let Some(v) = desc.device {
            d.device = v as i32;
        }
        if let Some(v) = desc.reference_frame {
            d.reference_frame = v;
        }
        d.run_options = run.options();
        Ok(d)
    }

    /// Stacks the frames of `desc` (`plx_stack`): rejects outliers among each pixel's finite
    /// samples, then combines the survivors. Memory stays within the runtime's budget for any N
    /// (the frames are read in bands of rows through all frames).
    pub fn stack(&self, desc: &StackDesc<'_>) -> Result<StackResult> {
        let rt = self.ptr("Runtime::stack")?;
        let run = RawRun::new(&desc.options)?;
        let mut pointers = Vec::new();
        let mut provider = None;
        let d = self.stack_desc(desc, &run, &mut pointers, &mut provider)?;

        let (n, c) = (desc.count.max(0) as usize, desc.channel_count().max(0) as usize);
        let pixels = (desc.height.max(0) as usize)
            .checked_mul(desc.width.max(0) as usize)
            .and_then(|p| p.checked_mul(c))
            .ok_or_else(|| Error::invalid("stack: the image size overflows"))?;
        let mut image = vec![0f32; pixels];
        let mut count = if desc.want_count { Some(vec![0i32; pixels]) } else { None };
        let (mut low, mut high, mut frame_rejected) = if desc.want_rejected {
            (Some(vec![0i32; pixels]), Some(vec![0i32; pixels]), Some(vec![0i64; n]))
        } else {
            (None, None, None)
        };
        let (mut scale, mut offset, mut weight) = if desc.want_frame_stats {
            (Some(vec![0f64; n * c]), Some(vec![0f64; n * c]), Some(vec![0f64; n * c]))
        } else {
            (None, None, None)
        };
        fn ptr<T>(v: &mut Option<Vec<T>>) -> *mut T {
            v.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr())
        }
        let mut r: sys::plx_stack_result_t = init_struct(sys::plx_stack_result_init)?;
        r.image = image.as_mut_ptr();
        r.count = ptr(&mut count);
        r.rejected_low = ptr(&mut low);
        r.rejected_high = ptr(&mut high);
        r.frame_rejected = ptr(&mut frame_rejected);
        r.frame_scale = ptr(&mut scale);
        r.frame_offset = ptr(&mut offset);
        r.frame_weight = ptr(&mut weight);
        // SAFETY: the descriptor and what it points to (frames, weights, provider context, run
        // options) and the outputs, sized for N, C, H and W as the descriptor says, outlive the call.
        let status = unsafe { sys::plx_stack(rt, &d, &mut r) };
        let error = status_error(status);
        let report = run.finish(error)?;
        Ok(StackResult {
            image,
            count,
            rejected_low: low,
            rejected_high: high,
            frame_rejected,
            frame_scale: scale,
            frame_offset: offset,
            frame_weight: weight,
            samples: r.samples,
            missing: r.missing,
            kept: r.kept,
            rejected: r.rejected,
            device_index: if r.device_index < 0 { None } else { Some(r.device_index) },
            workers: r.workers,
            tile_rows: r.tile_rows,
            tiles: r.tiles,
            frame_stats_s: r.frame_stats_s,
            stack_s: r.stack_s,
            simd_target: text_of(&r.simd_target),
            report: Some(report),
        })
    }

    /// The plan [`Runtime::stack`] would follow for `desc` (`plx_stack_plan`): workers, bands of
    /// rows (rows_per_chunk), streaming, devices. Reads no pixel.
    pub fn stack_plan(&self, desc: &StackDesc<'_>) -> Result<Plan> {
        let rt = self.ptr("Runtime::stack_plan")?;
        let run = RawRun::new(&desc.options)?;
        let mut pointers = Vec::new();
        let mut provider = None;
        let d = self.stack_desc(desc, &run, &mut pointers, &mut provider)?;
        let mut plan = std::ptr::null_mut();
        // SAFETY: as stack; an out-pointer.
        crate::error::check(unsafe { sys::plx_stack_plan(rt, &d, &mut plan) })?;
        Plan::from_raw(plan)
    }
}
