//! OpenCL devices and custom kernels: a [`Kernel`] (built by
//! [`Runtime::kernel`]) runs host-provided OpenCL C over rows of slices of any
//! size ([`Kernel::run_rows`]: chunks stream through pinned memory to every
//! device it was built for, with an optional CPU fallback), or once over
//! device-resident [`Buffer`]s ([`Kernel::run`]); [`Runtime::measure_device`]
//! measures a device for the planner.
//!
//! Slices are passed to the library without copies: it reads inputs and
//! writes outputs in place, during the call (which borrows them).

use std::marker::PhantomData;
use std::os::raw::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::Arc;

use parallax_sys as sys;

use crate::callback::{c_string, guard, init_struct, len_i32, len_i64, sized, CallbackResult, Failures};
use crate::error::{check, Error, Result};
use crate::run::{status_error, RawRun, RunOptions, RunReport};
use crate::runtime::Runtime;

/// Plain element types the library may read and write as raw bytes (every bit pattern is a
/// valid value): the integers and floats.
///
/// # Safety
/// Implemented only for types without padding, invalid bit patterns or drop glue.
pub unsafe trait Element: Copy + Send + Sync + 'static {}
macro_rules! element {
    ($($t:ty),*) => {$(unsafe impl Element for $t {})*};
}
element!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

fn bytes_of<T: Element>(data: &[T]) -> (*const c_void, usize) {
    (data.as_ptr() as *const c_void, std::mem::size_of_val(data))
}

// ---------------------------------------------------------------------------
// Kernel arguments
// ---------------------------------------------------------------------------

/// A scalar kernel argument: the exact bytes of one value (or a small vector, such as a `float4`
/// given as `[f32; 4]`), 1 to 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(Vec<u8>);

impl Scalar {
    /// One value of an element type: `Scalar::new(2.0f32)` for a `float`.
    pub fn new<T: Element>(value: T) -> Scalar {
        Scalar::of_slice(std::slice::from_ref(&value))
    }
    /// A vector type from its lanes: `Scalar::of_slice(&[1.0f32, 2.0, 3.0, 4.0])` for a `float4`.
    pub fn of_slice<T: Element>(values: &[T]) -> Scalar {
        let (ptr, len) = bytes_of(values);
        // SAFETY: Element values are plain bytes.
        Scalar(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }.to_vec())
    }
    /// Raw bytes, as the kernel argument's C type lays them out.
    pub fn from_bytes(bytes: &[u8]) -> Scalar {
        Scalar(bytes.to_vec())
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    fn raw(&self) -> sys::plx_kernel_scalar_t {
        sys::plx_kernel_scalar_t { data: self.0.as_ptr() as *const c_void, size: self.0.len() }
    }
}

macro_rules! scalar_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Scalar {
            fn from(value: $t) -> Scalar { Scalar::new(value) }
        }
    )*};
}
scalar_from!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

/// One argument of [`Kernel::run`] (`plx_kernel_arg_t`).
#[derive(Debug, Clone)]
pub enum KernelArg<'b> {
    /// A buffer on the run's device.
    Buffer(&'b Buffer<'b>),
    /// A value, copied at the call.
    Scalar(Scalar),
    /// This many bytes of `__local` memory.
    Local(usize),
}

// ---------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------

/// A host-provided OpenCL kernel built for the runtime's devices (`plx_kernel_t`). Borrows its
/// runtime: it is destroyed first (`plx_kernel_destroy` on drop).
pub struct Kernel<'rt> {
    raw: NonNull<sys::plx_kernel_t>,
    runtime: &'rt Runtime,
    name: String,
}

// SAFETY: kernel functions are thread-safe.
unsafe impl Send for Kernel<'_> {}
unsafe impl Sync for Kernel<'_> {}

impl Drop for Kernel<'_> {
    fn drop(&mut self) {
        // SAFETY: ours; runs using it borrowed it and have returned.
        unsafe { sys::plx_kernel_destroy(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for Kernel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").field("name", &self.name).finish()
    }
}

impl Runtime {
    /// Builds OpenCL C `source` (with `build_options`, e.g. "-D N=4") for every usable device and
    /// returns its `__kernel` named `name` (`plx_kernel_create`). A device where the build fails
    /// is left out; [`Error::Device`] (with the build log) when none can build it. With no usable
    /// device at all (a CPU-only runtime) the kernel is created anyway, for runs with a CPU
    /// fallback.
    pub fn kernel(&self, source: &str, name: &str, build_options: Option<&str>) -> Result<Kernel<'_>> {
        let rt = self.ptr("Runtime::kernel")?;
        let c_source = c_string("source", source)?;
        let c_name = c_string("kernel name", name)?;
        let c_options = build_options.map(|o| c_string("build_options", o)).transpose()?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: NUL-terminated strings living through the call; an out-pointer.
        check(unsafe {
            sys::plx_kernel_create(
                rt,
                c_source.as_ptr(),
                c_name.as_ptr(),
                c_options.as_ref().map_or(std::ptr::null(), |o| o.as_ptr()),
                &mut raw,
            )
        })?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Internal("plx_kernel_create gave NULL".into()))?;
        Ok(Kernel { raw, runtime: self, name: name.to_string() })
    }

    /// Allocates `bytes` on device `device_index` (`plx_buffer_create`), for [`Kernel::run`].
    pub fn buffer(&self, device_index: i32, bytes: i64) -> Result<Buffer<'_>> {
        let rt = self.ptr("Runtime::buffer")?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: an out-pointer.
        check(unsafe { sys::plx_buffer_create(rt, device_index, bytes, &mut raw) })?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Internal("plx_buffer_create gave NULL".into()))?;
        Ok(Buffer { raw, device: device_index, bytes, _runtime: PhantomData })
    }

    /// Measures device `index` (seconds to a minute) and caches the figures in cache_dir
    /// (`plx_device_measure`); runtimes created afterwards plan with its streaming throughput.
    /// `transfer_bytes` 0 = 256 MiB, `stream_bytes` 0 = 4 GiB, both cut to what fits.
    pub fn measure_device(&self, index: i32, transfer_bytes: i64, stream_bytes: i64) -> Result<DeviceFigures> {
        let rt = self.ptr("Runtime::measure_device")?;
        let mut f: sys::plx_device_figures_t = sized();
        // SAFETY: a sized struct.
        check(unsafe { sys::plx_device_measure(rt, index, transfer_bytes, stream_bytes, &mut f) })?;
        Ok(DeviceFigures {
            h2d_pinned_gbps: f.h2d_pinned_gbps,
            h2d_pageable_gbps: f.h2d_pageable_gbps,
            d2h_pinned_gbps: f.d2h_pinned_gbps,
            device_copy_gbps: f.device_copy_gbps,
            launch_us: f.launch_us,
            launch_roundtrip_us: f.launch_roundtrip_us,
            stream_gbps: f.stream_gbps,
            transfer_bytes: f.transfer_bytes,
            stream_bytes: f.stream_bytes,
        })
    }
}

impl<'rt> Kernel<'rt> {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The runtime it was built on.
    pub fn runtime(&self) -> &'rt Runtime {
        self.runtime
    }

    /// The device indices it was built for (`plx_kernel_devices`); empty on a CPU-only runtime.
    pub fn devices(&self) -> Result<Vec<i32>> {
        let mut count = 0;
        // SAFETY: NULL with capacity 0 asks for the count.
        check(unsafe { sys::plx_kernel_devices(self.raw.as_ptr(), std::ptr::null_mut(), 0, &mut count) })?;
        let mut devices = vec![0i32; count.max(0) as usize];
        let capacity = len_i32("devices", devices.len())?;
        // SAFETY: a buffer of `capacity` ints.
        check(unsafe { sys::plx_kernel_devices(self.raw.as_ptr(), devices.as_mut_ptr(), capacity, &mut count) })?;
        devices.truncate(count.max(0) as usize);
        Ok(devices)
    }

    /// Runs the kernel once on device `device_index` over 1 to 3 dimensions of `global_size`
    /// work-items, in work-groups of `local_size` (None lets the driver choose), and returns when it
    /// is done (`plx_kernel_run`).
    pub fn run(
        &self,
        device_index: i32,
        args: &[KernelArg<'_>],
        global_size: &[i64],
        local_size: Option<&[i64]>,
    ) -> Result<()> {
        self.runtime.ptr("Kernel::run")?;
        if let Some(local) = local_size {
            if local.len() != global_size.len() {
                return Err(Error::invalid(format!(
                    "Kernel::run: local_size has {} dimensions, global_size {}",
                    local.len(),
                    global_size.len()
                )));
            }
        }
        let raw_args: Vec<sys::plx_kernel_arg_t> = args
            .iter()
            .map(|arg| {
                let mut a = sys::plx_kernel_arg_t {
                    kind: sys::PLX_ARG_BUFFER,
                    reserved0: 0,
                    buffer: std::ptr::null_mut(),
                    data: std::ptr::null(),
                    size: 0,
                };
                match arg {
                    KernelArg::Buffer(b) => a.buffer = b.raw.as_ptr(),
                    KernelArg::Scalar(s) => {
                        a.kind = sys::PLX_ARG_SCALAR;
                        let r = s.raw();
                        a.data = r.data;
                        a.size = r.size;
                    }
                    KernelArg::Local(n) => {
                        a.kind = sys::PLX_ARG_LOCAL;
                        a.size = *n;
                    }
                }
                a
            })
            .collect();
        let count = len_i32("args", raw_args.len())?;
        let dims = len_i32("global_size", global_size.len())?;
        // SAFETY: args (and the scalars and buffers they point to) and the sizes live through the call.
        check(unsafe {
            sys::plx_kernel_run(
                self.raw.as_ptr(),
                device_index,
                raw_args.as_ptr(),
                count,
                dims,
                global_size.as_ptr(),
                local_size.map_or(std::ptr::null(), |l| l.as_ptr()),
            )
        })
    }

    /// Runs the kernel over rows of host memory of any size, in chunks shared by its devices
    /// (`plx_kernel_run_rows`), and returns the [`RunReport`] (chunks, fallback_chunks,
    /// chunk_splits...). The kernel's arguments are each input, each output (holding the chunk's
    /// rows), each scalar, then `long first_row` and `long rows`; it runs on the range
    /// (work_items_per_row, rows of the chunk). The options' plan caps the chunk size. `rows` is
    /// borrowed mutably: the library writes its outputs during the call.
    pub fn run_rows(&self, rows: &mut Rows<'_>, options: &RunOptions<'_>) -> Result<RunReport> {
        self.runtime.ptr("Kernel::run_rows")?;
        let run = RawRun::new(options)?;
        let n = rows.rows.max(0) as usize;
        let mut inputs = Vec::with_capacity(rows.inputs.len());
        let mut contexts: Vec<Box<ProviderCtx>> = Vec::new();
        for (i, input) in rows.inputs.iter().enumerate() {
            let mut raw = sys::plx_rows_input_t {
                data: std::ptr::null(),
                bytes_per_row: 0,
                provider: None,
                provider_user_data: std::ptr::null_mut(),
            };
            match input {
                RowsInput::Slice { data, bytes, element } => {
                    raw.data = *data;
                    raw.bytes_per_row = row_bytes(&format!("inputs[{i}]"), *bytes, *element, n)?;
                }
                RowsInput::Provider { bytes_per_row, f } => {
                    let ctx = Box::new(ProviderCtx {
                        f: &**f,
                        failures: run.failures.clone(),
                        index: i,
                        bytes_per_row: *bytes_per_row,
                    });
                    raw.bytes_per_row = len_i64("bytes_per_row", *bytes_per_row)?;
                    raw.provider = Some(provider_trampoline);
                    raw.provider_user_data = &*ctx as *const ProviderCtx as *mut c_void;
                    contexts.push(ctx);
                }
            }
            inputs.push(raw);
        }
        let outputs = rows
            .outputs
            .iter()
            .enumerate()
            .map(|(j, (data, bytes, element))| {
                Ok(sys::plx_rows_output_t {
                    data: *data,
                    bytes_per_row: row_bytes(&format!("outputs[{j}]"), *bytes, *element, n)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let scalars: Vec<sys::plx_kernel_scalar_t> = rows.scalars.iter().map(Scalar::raw).collect();
        let cpu = rows.cpu_fallback.as_ref().map(|f| {
            Box::new(CpuCtx {
                f: &**f,
                failures: run.failures.clone(),
                input_bytes: inputs.iter().map(|i| i.bytes_per_row as usize).collect(),
                output_bytes: outputs.iter().map(|o| o.bytes_per_row as usize).collect(),
            })
        });

        let mut desc: sys::plx_rows_desc_t = init_struct(sys::plx_rows_desc_init)?;
        desc.rows = rows.rows;
        desc.inputs = inputs.as_ptr();
        desc.input_count = len_i32("inputs", inputs.len())?;
        desc.outputs = outputs.as_ptr();
        desc.output_count = len_i32("outputs", outputs.len())?;
        desc.scalars = scalars.as_ptr();
        desc.scalar_count = len_i32("scalars", scalars.len())?;
        if let Some(w) = rows.work_items_per_row {
            desc.work_items_per_row = w;
        }
        if let Some(r) = rows.rows_per_chunk {
            desc.rows_per_chunk = r;
        }
        if let Some(ctx) = &cpu {
            desc.cpu_fallback = Some(cpu_trampoline);
            desc.cpu_user_data = &**ctx as *const CpuCtx as *mut c_void;
        }
        // SAFETY: the descriptor and everything it points to (borrowed slices, contexts, scalars)
        // live through the call; outputs are exclusively borrowed by `rows`.
        let status = unsafe { sys::plx_kernel_run_rows(self.raw.as_ptr(), run.plan(), &desc, run.options()) };
        let error = status_error(status);
        drop(contexts);
        run.finish(error)
    }
}

/// Bytes of one row of a slice of `bytes` bytes over `rows` rows (one element per row when there
/// are no rows).
fn row_bytes(what: &str, bytes: usize, element: usize, rows: usize) -> Result<i64> {
    if rows == 0 {
        return len_i64("bytes_per_row", element);
    }
    if bytes % rows != 0 {
        return Err(Error::invalid(format!(
            "Kernel::run_rows: {what} holds {bytes} bytes, not a whole number of bytes for each of the {rows} rows"
        )));
    }
    len_i64("bytes_per_row", bytes / rows)
}

// ---------------------------------------------------------------------------
// Row runs
// ---------------------------------------------------------------------------

type ProviderFn<'a> = dyn Fn(i64, &mut [u8]) -> crate::callback::Outcome + Sync + 'a;
type CpuFn<'a> = dyn Fn(&mut CpuRows<'_>) -> crate::callback::Outcome + Sync + 'a;

enum RowsInput<'a> {
    Slice { data: *const c_void, bytes: usize, element: usize },
    Provider { bytes_per_row: usize, f: Box<ProviderFn<'a>> },
}

/// The inputs, outputs and scalars of a [`Kernel::run_rows`] (`plx_rows_desc_t`), all of
/// `rows` rows: a slice of n elements holds n / rows elements per row.
pub struct Rows<'a> {
    rows: i64,
    inputs: Vec<RowsInput<'a>>,
    outputs: Vec<(*mut c_void, usize, usize)>,
    scalars: Vec<Scalar>,
    work_items_per_row: Option<i64>,
    rows_per_chunk: Option<i64>,
    cpu_fallback: Option<Box<CpuFn<'a>>>,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> Rows<'a> {
    /// A run over `rows` rows.
    pub fn new(rows: i64) -> Rows<'a> {
        Rows {
            rows,
            inputs: Vec::new(),
            outputs: Vec::new(),
            scalars: Vec::new(),
            work_items_per_row: None,
            rows_per_chunk: None,
            cpu_fallback: None,
            _borrow: PhantomData,
        }
    }
    /// An input read in place: `data.len() / rows` elements per row.
    pub fn input<T: Element>(mut self, data: &'a [T]) -> Self {
        let (ptr, bytes) = bytes_of(data);
        self.inputs.push(RowsInput::Slice { data: ptr, bytes, element: std::mem::size_of::<T>() });
        self
    }
    /// An input made on demand: `f(first_row, dst)` writes the rows [first_row, first_row +
    /// dst.len() / bytes_per_row) into `dst` (the library's staging memory). Called from several
    /// threads at once, in any order, and again for rows of a chunk that is redone: it must give
    /// the same bytes every time.
    pub fn input_provider<F, R>(mut self, bytes_per_row: usize, f: F) -> Self
    where
        F: Fn(i64, &mut [u8]) -> R + Sync + 'a,
        R: CallbackResult,
    {
        self.inputs
            .push(RowsInput::Provider { bytes_per_row, f: Box::new(move |first, dst| f(first, dst).into_outcome()) });
        self
    }
    /// [`Rows::input_provider`] with rows of `row_len` elements of `T`.
    pub fn input_provider_of<T, F, R>(self, row_len: usize, f: F) -> Self
    where
        T: Element,
        F: Fn(i64, &mut [T]) -> R + Sync + 'a,
        R: CallbackResult,
    {
        let size = std::mem::size_of::<T>();
        self.input_provider(row_len * size, move |first, dst: &mut [u8]| {
            let typed = cast_mut::<T>(dst).expect("the library's staging memory is aligned for the element type");
            f(first, typed)
        })
    }
    /// An output written in place: `data.len() / rows` elements per row.
    pub fn output<T: Element>(mut self, data: &'a mut [T]) -> Self {
        let bytes = std::mem::size_of_val(data);
        self.outputs.push((data.as_mut_ptr() as *mut c_void, bytes, std::mem::size_of::<T>()));
        self
    }
    /// A scalar argument (after the inputs and outputs).
    pub fn scalar(mut self, value: impl Into<Scalar>) -> Self {
        self.scalars.push(value.into());
        self
    }
    /// Work-items per row (default 1): the kernel runs on (work_items_per_row, rows of the chunk).
    pub fn work_items_per_row(mut self, n: i64) -> Self {
        self.work_items_per_row = Some(n);
        self
    }
    /// Rows per device chunk (0 = sized to each device).
    pub fn rows_per_chunk(mut self, n: i64) -> Self {
        self.rows_per_chunk = Some(n);
        self
    }
    /// The CPU version of the kernel, for chunks that failed on a device, when no device can run
    /// it, and beside the devices for a plan of kind Mixed. Called concurrently for disjoint rows.
    pub fn cpu_fallback<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&mut CpuRows<'_>) -> R + Sync + 'a,
        R: CallbackResult,
    {
        self.cpu_fallback = Some(Box::new(move |rows| f(rows).into_outcome()));
        self
    }
}

fn cast<T: Element>(bytes: &[u8]) -> Option<&[T]> {
    let size = std::mem::size_of::<T>();
    if bytes.len() % size != 0 || (bytes.as_ptr() as usize) % std::mem::align_of::<T>() != 0 {
        return None;
    }
    // SAFETY: aligned, a whole number of elements, any bits are a valid T.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, bytes.len() / size) })
}

fn cast_mut<T: Element>(bytes: &mut [u8]) -> Option<&mut [T]> {
    let size = std::mem::size_of::<T>();
    if bytes.len() % size != 0 || (bytes.as_ptr() as usize) % std::mem::align_of::<T>() != 0 {
        return None;
    }
    // SAFETY: as cast, exclusively borrowed.
    Some(unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut T, bytes.len() / size) })
}

struct ProviderCtx<'f, 'a> {
    f: &'f ProviderFn<'a>,
    failures: Arc<Failures>,
    index: usize,
    bytes_per_row: usize,
}

unsafe extern "C" fn provider_trampoline(first_row: i64, rows: i64, dst: *mut c_void, user_data: *mut c_void) -> c_int {
    // SAFETY: user_data is the input's ProviderCtx, alive during the call; dst holds rows x
    // bytes_per_row bytes for this call only.
    let ctx = &*(user_data as *const ProviderCtx);
    let len = rows.max(0) as usize * ctx.bytes_per_row;
    let dst = if len == 0 { &mut [][..] } else { std::slice::from_raw_parts_mut(dst as *mut u8, len) };
    let index = ctx.index;
    guard(
        &ctx.failures,
        first_row,
        || format!("the row provider of inputs[{index}] for rows [{first_row}, {})", first_row + rows),
        || (ctx.f)(first_row, dst),
    )
}

/// The rows a CPU fallback computes: views of the inputs' and outputs' rows [first_row,
/// first_row + rows), without copies.
pub struct CpuRows<'c> {
    first_row: i64,
    rows: i64,
    inputs: &'c [*const c_void],
    outputs: &'c [*mut c_void],
    input_bytes: &'c [usize],
    output_bytes: &'c [usize],
}

impl CpuRows<'_> {
    pub fn first_row(&self) -> i64 {
        self.first_row
    }
    pub fn rows(&self) -> i64 {
        self.rows
    }
    /// The rows of input `i` as bytes.
    pub fn input_bytes(&self, i: usize) -> &[u8] {
        let len = self.input_bytes[i] * self.rows as usize;
        // SAFETY: the library passes rows x bytes_per_row readable bytes per input.
        unsafe { std::slice::from_raw_parts(self.inputs[i] as *const u8, len) }
    }
    /// The rows of input `i` as elements of `T`. Panics (failing the chunk) if the rows are not a
    /// whole number of aligned `T`.
    pub fn input<T: Element>(&self, i: usize) -> &[T] {
        cast(self.input_bytes(i)).expect("CpuRows::input: rows are not a whole number of aligned elements of this type")
    }
    /// The rows of output `j` as bytes, to write.
    pub fn output_bytes(&mut self, j: usize) -> &mut [u8] {
        let len = self.output_bytes[j] * self.rows as usize;
        // SAFETY: the library passes this chunk's rows of output j, written by this call only.
        unsafe { std::slice::from_raw_parts_mut(self.outputs[j] as *mut u8, len) }
    }
    /// The rows of output `j` as elements of `T`, to write.
    pub fn output<T: Element>(&mut self, j: usize) -> &mut [T] {
        cast_mut(self.output_bytes(j))
            .expect("CpuRows::output: rows are not a whole number of aligned elements of this type")
    }
}

struct CpuCtx<'f, 'a> {
    f: &'f CpuFn<'a>,
    failures: Arc<Failures>,
    input_bytes: Vec<usize>,
    output_bytes: Vec<usize>,
}

unsafe extern "C" fn cpu_trampoline(
    first_row: i64,
    rows: i64,
    inputs: *const *const c_void,
    outputs: *const *mut c_void,
    user_data: *mut c_void,
) -> c_int {
    // SAFETY: user_data is the run's CpuCtx; inputs and outputs hold one pointer per input and output.
    let ctx = &*(user_data as *const CpuCtx);
    let ins =
        if ctx.input_bytes.is_empty() { &[][..] } else { std::slice::from_raw_parts(inputs, ctx.input_bytes.len()) };
    let outs = std::slice::from_raw_parts(outputs, ctx.output_bytes.len());
    let mut view = CpuRows {
        first_row,
        rows,
        inputs: ins,
        outputs: outs,
        input_bytes: &ctx.input_bytes,
        output_bytes: &ctx.output_bytes,
    };
    guard(
        &ctx.failures,
        first_row,
        || format!("the CPU fallback for rows [{first_row}, {})", first_row + rows),
        || (ctx.f)(&mut view),
    )
}

// ---------------------------------------------------------------------------
// Buffers
// ---------------------------------------------------------------------------

/// Memory on one device (`plx_buffer_t`), for [`Kernel::run`]. Borrows its runtime; freed on drop
/// (`plx_buffer_destroy`).
#[derive(Debug)]
pub struct Buffer<'rt> {
    raw: NonNull<sys::plx_buffer_t>,
    device: i32,
    bytes: i64,
    _runtime: PhantomData<&'rt Runtime>,
}

// SAFETY: buffer functions are thread-safe (each call blocks until its copy is done).
unsafe impl Send for Buffer<'_> {}
unsafe impl Sync for Buffer<'_> {}

impl Drop for Buffer<'_> {
    fn drop(&mut self) {
        // SAFETY: ours; kernel runs using it borrowed it and have returned.
        unsafe { sys::plx_buffer_destroy(self.raw.as_ptr()) }
    }
}

impl Buffer<'_> {
    /// The device it lives on.
    pub fn device(&self) -> i32 {
        self.device
    }
    /// Its size in bytes.
    pub fn len_bytes(&self) -> i64 {
        self.bytes
    }
    /// Copies `data` into the buffer at byte `offset` (blocking; `plx_buffer_write`).
    pub fn write<T: Element>(&self, offset: i64, data: &[T]) -> Result<()> {
        let (ptr, bytes) = bytes_of(data);
        // SAFETY: `bytes` readable bytes at ptr.
        check(unsafe { sys::plx_buffer_write(self.raw.as_ptr(), offset, ptr, len_i64("bytes", bytes)?) })
    }
    /// Copies `out.len()` elements of the buffer from byte `offset` into `out` (blocking;
    /// `plx_buffer_read`).
    pub fn read<T: Element>(&self, offset: i64, out: &mut [T]) -> Result<()> {
        let bytes = std::mem::size_of_val(out);
        // SAFETY: `bytes` writable bytes; any bits are a valid T.
        check(unsafe {
            sys::plx_buffer_read(self.raw.as_ptr(), offset, out.as_mut_ptr() as *mut c_void, len_i64("bytes", bytes)?)
        })
    }
}

/// What [`Runtime::measure_device`] found (`plx_device_figures_t`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceFigures {
    /// Host to device from pinned memory, GB/s.
    pub h2d_pinned_gbps: f64,
    pub h2d_pageable_gbps: f64,
    pub d2h_pinned_gbps: f64,
    /// A copy kernel on the device, read + write.
    pub device_copy_gbps: f64,
    /// An empty kernel, launches queued back to back.
    pub launch_us: f64,
    /// An empty kernel, each waited for.
    pub launch_roundtrip_us: f64,
    /// y = a*x + b over host memory through run_rows: input bytes per second.
    pub stream_gbps: f64,
    pub transfer_bytes: i64,
    pub stream_bytes: i64,
}
