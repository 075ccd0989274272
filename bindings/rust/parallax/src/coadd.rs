//! Mosaic co-addition (`plx_coadd`): N images resampled onto one output pixel
//! grid and combined, as reproject's `reproject_and_coadd` with
//! `reproject_interp` does.
//!
//! Each [`CoaddInput`] maps output pixel (x, y) to its own pixel coordinates
//! (0-based, pixel centres at integers) by an affine or homography matrix, a
//! FITS WCS header against the output's, or a coordinate-map closure. Images
//! are slices read in place. Everything is computed in double precision; the
//! outputs are float32, the same bits for any number of workers and tiling.

use std::ffi::CString;
use std::os::raw::{c_int, c_void};
use std::sync::{Arc, Mutex};

use parallax_sys as sys;

use crate::callback::{c_string, guard, init_struct, len_i64, lock, CallbackResult, Failures, Outcome};
use crate::error::{Error, Result};
use crate::plan::DevicePreference;
use crate::run::{status_error, RawRun, RunOptions, RunReport};
use crate::runtime::Runtime;

/// Interpolation of input pixels at non-integer coordinates (`plx_interpolation_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// scipy's map_coordinates order 0 with reproject's edge padding.
    Nearest = 0,
    /// scipy's map_coordinates order 1 with reproject's edge padding.
    Bilinear = 1,
    /// Keys' cubic convolution (a = -0.5), edge pixels repeated.
    Bicubic = 2,
    /// The normalised 6 x 6 Lanczos kernel, edge pixels repeated.
    Lanczos3 = 3,
}

/// How the inputs covering an output pixel are combined (`plx_coadd_combine_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoaddCombine {
    /// sum(v f) / sum(f), NaN where sum(f) is 0.
    Mean = 0,
    /// sum(v f), 0 where nothing contributes.
    Sum = 1,
    Min = 2,
    Max = 3,
    Median = 4,
    First = 5,
    Last = 6,
}

type MapFn<'a> = dyn Fn(i64, &[f64], &[f64], &mut [f64], &mut [f64]) -> Outcome + Sync + 'a;

enum Mapping<'a> {
    Matrix(i32, [f64; 9], usize),
    Wcs(String),
    Map(Box<MapFn<'a>>),
}

/// One input image of a co-addition (`plx_coadd_input_t`).
pub struct CoaddInput<'a> {
    data: &'a [f32],
    height: i64,
    width: i64,
    row_stride: i64,
    weights: Option<&'a [f32]>,
    weight: Option<f64>,
    background: Option<f64>,
    mapping: Mapping<'a>,
}

impl<'a> CoaddInput<'a> {
    /// An image of `height` x `width` pixels read in place, row after row (see
    /// [`CoaddInput::row_stride`]); mapped by the identity until a mapping is set.
    pub fn new(data: &'a [f32], height: i64, width: i64) -> CoaddInput<'a> {
        CoaddInput {
            data,
            height,
            width,
            row_stride: 0,
            weights: None,
            weight: None,
            background: None,
            mapping: Mapping::Matrix(sys::PLX_MAPPING_AFFINE, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], 6),
        }
    }
    /// Floats from a row to the next (0 = width), for a crop of a larger image.
    pub fn row_stride(mut self, floats: i64) -> Self {
        self.row_stride = floats;
        self
    }
    /// Per-pixel weights in the data's layout (NaN counts as 0).
    pub fn pixel_weights(mut self, weights: &'a [f32]) -> Self {
        self.weights = Some(weights);
        self
    }
    /// Scalar weight of the input (finite; default 1).
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = Some(weight);
        self
    }
    /// Subtracted from every value (finite; default 0).
    pub fn background(mut self, background: f64) -> Self {
        self.background = Some(background);
        self
    }
    /// xi = m[0] x + m[1] y + m[2], yi = m[3] x + m[4] y + m[5].
    pub fn affine(mut self, m: [f64; 6]) -> Self {
        let mut all = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        all[..6].copy_from_slice(&m);
        self.mapping = Mapping::Matrix(sys::PLX_MAPPING_AFFINE, all, 6);
        self
    }
    /// (u, v, w) = m (x, y, 1), m row-major 3 x 3; xi = u / w, yi = v / w.
    pub fn homography(mut self, m: [f64; 9]) -> Self {
        self.mapping = Mapping::Matrix(sys::PLX_MAPPING_HOMOGRAPHY, m, 9);
        self
    }
    /// The input's FITS WCS header against the output's ([`CoaddDesc::output_wcs`]), parsed by
    /// wcslib: 80-character cards back to back, or one card per line (see [`fits_cards`]).
    pub fn wcs(mut self, header: impl Into<String>) -> Self {
        self.mapping = Mapping::Wcs(header.into());
        self
    }
    /// The host's mapping: `f(input, x_out, y_out, x_in, y_in)` writes the input pixel coordinates
    /// of the output pixels (x_out[k], y_out[k]) (NaN where there is no counterpart). Called from
    /// several threads at once, possibly more than once for the same pixels.
    pub fn coordinate_map<F, R>(mut self, f: F) -> Self
    where
        F: Fn(i64, &[f64], &[f64], &mut [f64], &mut [f64]) -> R + Sync + 'a,
        R: CallbackResult,
    {
        self.mapping = Mapping::Map(Box::new(move |i, xo, yo, xi, yi| f(i, xo, yo, xi, yi).into_outcome()));
        self
    }

    fn check(&self, index: usize) -> Result<()> {
        let (h, w) = (self.height, self.width);
        if h < 1 || w < 1 || self.row_stride < 0 {
            return Ok(()); // the library refuses these with its own message
        }
        let stride = if self.row_stride == 0 { w } else { self.row_stride };
        let needed = (h - 1)
            .checked_mul(stride)
            .and_then(|n| n.checked_add(w))
            .ok_or_else(|| Error::invalid(format!("coadd: inputs[{index}] extent overflows int64")))?;
        for (what, len) in
            std::iter::once(("data", self.data.len())).chain(self.weights.map(|w| ("pixel weights", w.len())))
        {
            if (len as i64) < needed {
                return Err(Error::invalid(format!(
                    "coadd: inputs[{index}] {what} holds {len} floats, but {h} x {w} pixels with row stride {stride} \
                     need {needed}"
                )));
            }
        }
        Ok(())
    }
}

/// A header as wcslib reads it: 80-character cards back to back, as cfitsio's fits_hdr2str
/// writes them. Text with line breaks is read as one card per line (each padded to 80
/// characters, blank lines dropped); text without is taken as it is.
pub fn fits_cards(text: &str) -> Result<String> {
    if let Some(bad) = text.chars().find(|c| !c.is_ascii()) {
        return Err(Error::invalid(format!("a FITS header is ASCII text; this one holds {bad:?}")));
    }
    if !text.contains('\n') && !text.contains('\r') {
        return Ok(text.to_string());
    }
    let mut cards = String::new();
    for (number, line) in text.replace("\r\n", "\n").replace('\r', "\n").split('\n').enumerate() {
        let line = line.trim_end();
        if line.len() > 80 {
            return Err(Error::invalid(format!(
                "line {} of the header has {} characters; a FITS card has at most 80",
                number + 1,
                line.len()
            )));
        }
        if !line.trim().is_empty() {
            cards.push_str(&format!("{line:<80}"));
        }
    }
    Ok(cards)
}

/// A co-addition (`plx_coadd_desc_t`): the inputs, the output grid and how to combine.
pub struct CoaddDesc<'a> {
    inputs: &'a [CoaddInput<'a>],
    height: i64,
    width: i64,
    output_wcs: Option<String>,
    interpolation: Option<Interpolation>,
    combine: Option<CoaddCombine>,
    device: Option<DevicePreference>,
    options: RunOptions<'a>,
    want_footprint: bool,
}

impl<'a> CoaddDesc<'a> {
    /// `inputs` onto an output grid of `height` x `width` pixels (defaults: bilinear, mean).
    pub fn new(inputs: &'a [CoaddInput<'a>], height: i64, width: i64) -> CoaddDesc<'a> {
        CoaddDesc {
            inputs,
            height,
            width,
            output_wcs: None,
            interpolation: None,
            combine: None,
            device: None,
            options: RunOptions::new(),
            want_footprint: true,
        }
    }
    /// The output grid's FITS header: required when an input's mapping is a WCS.
    pub fn output_wcs(mut self, header: impl Into<String>) -> Self {
        self.output_wcs = Some(header.into());
        self
    }
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = Some(interpolation);
        self
    }
    pub fn combine(mut self, combine: CoaddCombine) -> Self {
        self.combine = Some(combine);
        self
    }
    /// Auto (default), Cpu, or Gpu (any OpenCL device with double precision, PoCL included).
    pub fn device(mut self, device: DevicePreference) -> Self {
        self.device = Some(device);
        self
    }
    /// Progress (items = output rows), cancellation, workers, memory budget and name of the run.
    pub fn options(mut self, options: RunOptions<'a>) -> Self {
        self.options = options;
        self
    }
    /// Fill [`CoaddResult::footprint`] (default true).
    pub fn with_footprint(mut self, on: bool) -> Self {
        self.want_footprint = on;
        self
    }
}

/// What a co-addition did (`plx_coadd_result_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct CoaddInfo {
    /// Output pixels with a non-zero footprint.
    pub covered: i64,
    /// (input, output pixel) pairs interpolated.
    pub samples: i64,
    pub tile_rows: i64,
    pub tiles: i64,
    /// The OpenCL device that resampled most rows; None: the CPU.
    pub device_index: Option<i32>,
    pub workers: i32,
    /// WCS inputs mapped natively (TAN, TAN-SIP).
    pub native_wcs: i32,
    /// WCS inputs mapped through wcslib on a grid.
    pub grid_wcs: i32,
    pub seconds: f64,
    pub report: Option<RunReport>,
}

/// What [`Runtime::coadd`] returns: height x width images, row after row.
#[derive(Debug, Clone, PartialEq)]
pub struct CoaddResult {
    /// The combined image: NaN where nothing contributes (0 for Sum).
    pub image: Vec<f32>,
    /// Sum of the weights per pixel (empty without [`CoaddDesc::with_footprint`]).
    pub footprint: Vec<f32>,
    pub info: CoaddInfo,
}

struct MapCtx<'f, 'a> {
    f: &'f MapFn<'a>,
    failures: Arc<Failures>,
}

unsafe extern "C" fn map_trampoline(
    user_data: *mut c_void,
    input: i64,
    n: i64,
    x_out: *const f64,
    y_out: *const f64,
    x_in: *mut f64,
    y_in: *mut f64,
) -> c_int {
    // SAFETY: user_data is the input's MapCtx; the four arrays hold n doubles for this call.
    let ctx = &*(user_data as *const MapCtx);
    let n = n.max(0) as usize;
    let (xo, yo, xi, yi) = if n == 0 {
        (&[][..], &[][..], &mut [][..], &mut [][..])
    } else {
        (
            std::slice::from_raw_parts(x_out, n),
            std::slice::from_raw_parts(y_out, n),
            std::slice::from_raw_parts_mut(x_in, n),
            std::slice::from_raw_parts_mut(y_in, n),
        )
    };
    guard(&ctx.failures, input, || format!("the coordinate map of inputs[{input}]"), || (ctx.f)(input, xo, yo, xi, yi))
}

type TileFn<'t> = dyn FnMut(i64, i64, &[f32], &[f32]) -> Outcome + Send + 't;

struct TileCtx<'f, 't> {
    f: Mutex<&'f mut TileFn<'t>>,
    failures: Arc<Failures>,
    width: usize,
}

unsafe extern "C" fn tile_trampoline(
    user_data: *mut c_void,
    row0: i64,
    rows: i64,
    image: *const f32,
    footprint: *const f32,
) -> c_int {
    // SAFETY: user_data is the call's TileCtx; image and footprint hold rows x width floats.
    let ctx = &*(user_data as *const TileCtx);
    let len = rows.max(0) as usize * ctx.width;
    let view = |p: *const f32| if p.is_null() || len == 0 { &[][..] } else { std::slice::from_raw_parts(p, len) };
    let (image, footprint) = (view(image), view(footprint));
    guard(
        &ctx.failures,
        row0,
        || format!("the tile function for rows [{row0}, {})", row0 + rows),
        || (lock(&ctx.f))(row0, rows, image, footprint),
    )
}

/// The C inputs and descriptor of a call, with everything they point to.
struct RawCoadd<'s, 'a> {
    _inputs: Vec<sys::plx_coadd_input_t>, // desc.inputs points here
    _headers: Vec<Option<CString>>,
    _output: Option<CString>,
    #[allow(clippy::vec_box)] // boxed: inputs[i].map_user_data points at each, whatever the Vec does
    _maps: Vec<Box<MapCtx<'s, 'a>>>,
    desc: sys::plx_coadd_desc_t,
}

impl<'s, 'a> RawCoadd<'s, 'a> {
    fn new(d: &'s CoaddDesc<'a>, run: &RawRun<'_>) -> Result<RawCoadd<'s, 'a>> {
        let mut inputs = Vec::with_capacity(d.inputs.len());
        let mut headers = Vec::with_capacity(d.inputs.len());
        let mut maps = Vec::new();
        for (i, input) in d.inputs.iter().enumerate() {
            input.check(i)?;
            let mut s: sys::plx_coadd_input_t = init_struct(sys::plx_coadd_input_init)?;
            s.data = input.data.as_ptr();
            s.height = input.height;
            s.width = input.width;
            s.row_stride = input.row_stride;
            s.weights = input.weights.map_or(std::ptr::null(), |w| w.as_ptr());
            if let Some(w) = input.weight {
                s.weight = w;
            }
            if let Some(b) = input.background {
                s.background = b;
            }
            let mut header = None;
            match &input.mapping {
                Mapping::Matrix(kind, m, n) => {
                    s.mapping = *kind;
                    s.matrix[..*n].copy_from_slice(&m[..*n]);
                }
                Mapping::Wcs(text) => {
                    s.mapping = sys::PLX_MAPPING_WCS;
                    let cards = c_string(&format!("inputs[{i}] WCS header"), &fits_cards(text)?)?;
                    s.wcs_header = cards.as_ptr();
                    header = Some(cards);
                }
                Mapping::Map(f) => {
                    let ctx = Box::new(MapCtx { f: &**f, failures: run.failures.clone() });
                    s.mapping = sys::PLX_MAPPING_COORDINATE_MAP;
                    s.map = Some(map_trampoline);
                    s.map_user_data = &*ctx as *const MapCtx as *mut c_void;
                    maps.push(ctx);
                }
            }
            inputs.push(s);
            headers.push(header);
        }
        let output = d
            .output_wcs
            .as_deref()
            .map(|t| fits_cards(t).and_then(|c| c_string("output WCS header", &c)))
            .transpose()?;
        let mut desc: sys::plx_coadd_desc_t = init_struct(sys::plx_coadd_desc_init)?;
        desc.inputs = inputs.as_ptr();
        desc.count = len_i64("inputs", inputs.len())?;
        desc.height = d.height;
        desc.width = d.width;
        desc.output_wcs_header = output.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        if let Some(v) = d.interpolation {
            desc.interpolation = v as i32;
        }
        if let Some(v) = d.combine {
            desc.combine = v as i32;
        }
        if let Some(v) = d.device {
            desc.device = v as i32;
        }
        desc.run_options = run.options();
        Ok(RawCoadd { _inputs: inputs, _headers: headers, _output: output, _maps: maps, desc })
    }
}

fn info(r: &sys::plx_coadd_result_t, report: RunReport) -> CoaddInfo {
    CoaddInfo {
        covered: r.covered,
        samples: r.samples,
        tile_rows: r.tile_rows,
        tiles: r.tiles,
        device_index: if r.device_index < 0 { None } else { Some(r.device_index) },
        workers: r.workers,
        native_wcs: r.native_wcs,
        grid_wcs: r.grid_wcs,
        seconds: r.seconds,
        report: Some(report),
    }
}

impl Runtime {
    /// Co-adds the inputs of `desc` into a new image and footprint (`plx_coadd`).
    pub fn coadd(&self, desc: &CoaddDesc<'_>) -> Result<CoaddResult> {
        let rt = self.ptr("Runtime::coadd")?;
        let run = RawRun::new(&desc.options)?;
        let raw = RawCoadd::new(desc, &run)?;
        let pixels = (desc.height.max(0) as usize)
            .checked_mul(desc.width.max(0) as usize)
            .ok_or_else(|| Error::invalid("coadd: the output size overflows"))?;
        let mut image = vec![0f32; pixels];
        let mut footprint = if desc.want_footprint { vec![0f32; pixels] } else { Vec::new() };
        let mut r: sys::plx_coadd_result_t = init_struct(sys::plx_coadd_result_init)?;
        r.image = image.as_mut_ptr();
        r.footprint = if desc.want_footprint { footprint.as_mut_ptr() } else { std::ptr::null_mut() };
        // SAFETY: the descriptor and everything it points to live through the call; the outputs
        // hold height x width floats.
        let status = unsafe { sys::plx_coadd(rt, &raw.desc, &mut r) };
        let error = status_error(status);
        drop(raw);
        let report = run.finish(error)?;
        Ok(CoaddResult { image, footprint, info: info(&r, report) })
    }

    /// Co-adds the inputs of `desc` tile by tile, without an output image (`plx_coadd` with a tile
    /// function): `tile(row0, rows, image, footprint)` receives each finished band of output rows
    /// [row0, row0 + rows) x all columns (`rows x width` floats each, valid during the call), one
    /// at a time, in no particular order. The output may then be larger than memory. Returning an
    /// error or a non-zero code, or panicking, stops the call with [`Error::TaskFailed`].
    pub fn coadd_tiles<F, R>(&self, desc: &CoaddDesc<'_>, mut tile: F) -> Result<CoaddInfo>
    where
        F: FnMut(i64, i64, &[f32], &[f32]) -> R + Send,
        R: CallbackResult,
    {
        let rt = self.ptr("Runtime::coadd_tiles")?;
        let run = RawRun::new(&desc.options)?;
        let mut raw = RawCoadd::new(desc, &run)?;
        let mut boxed = move |row0: i64, rows: i64, image: &[f32], footprint: &[f32]| {
            tile(row0, rows, image, footprint).into_outcome()
        };
        let ctx = TileCtx {
            f: Mutex::new(&mut boxed as &mut TileFn<'_>),
            failures: run.failures.clone(),
            width: desc.width.max(0) as usize,
        };
        raw.desc.tile = Some(tile_trampoline);
        raw.desc.tile_user_data = &ctx as *const TileCtx as *mut c_void;
        let mut r: sys::plx_coadd_result_t = init_struct(sys::plx_coadd_result_init)?;
        // SAFETY: as coadd; the tile context lives through the call.
        let status = unsafe { sys::plx_coadd(rt, &raw.desc, &mut r) };
        let error = status_error(status);
        drop(raw);
        let report = run.finish(error)?;
        Ok(info(&r, report))
    }
}
