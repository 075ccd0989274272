//! Workloads and plans: how to run one workload on one runtime's machine. A
//! plan does not refer to its runtime and stays valid after it is dropped.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use parallax_sys as sys;

use crate::callback::{c_string, init_struct, opt_ptr, sized};
use crate::error::{check, Error, Result};

/// What limits a workload, which sets how many CPU workers it gets (`plx_workload_kind_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WorkloadKind {
    /// Compute-bound: one worker per usable CPU.
    #[default]
    Cpu = 0,
    /// Bandwidth-bound: capped per NUMA node.
    Memory = 1,
    /// Waits on I/O: up to 2 workers per CPU.
    Io = 2,
    /// Runs on devices; one host worker each.
    Gpu = 3,
    /// Devices and CPU workers share the work.
    Mixed = 4,
}

/// How a workload's chunks are cut from its items (`plx_workload_layout_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// Items are processed independently.
    #[default]
    Items = 0,
    /// Each output row needs that row of every item (stacking): chunks are bands of rows through
    /// all items. Needs rows and bytes_per_row.
    RowsAcrossItems = 1,
}

/// Where a workload would rather run (`plx_device_preference_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DevicePreference {
    /// By kind (stack and coadd: a device when the runtime has a suitable one).
    #[default]
    Auto = 0,
    Cpu = 1,
    Gpu = 2,
}

/// A workload to plan (`plx_workload_t`); unset fields take the library's defaults.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    name: Option<String>,
    kind: Option<WorkloadKind>,
    layout: Option<Layout>,
    items: i64,
    bytes_per_item: i64,
    rows: i64,
    bytes_per_row: i64,
    working_set_factor: Option<f64>,
    per_worker_bytes: i64,
    max_workers: i32,
    preferred_device: Option<DevicePreference>,
}

impl Workload {
    /// `items` items (frames, tiles...) of `bytes_per_item` input bytes each.
    pub fn new(items: i64, bytes_per_item: i64) -> Workload {
        Workload { items, bytes_per_item, ..Workload::default() }
    }
    /// For logs and describe (default "workload").
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn kind(mut self, kind: WorkloadKind) -> Self {
        self.kind = Some(kind);
        self
    }
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = Some(layout);
        self
    }
    /// Rows of one item (image height) and bytes of one row.
    pub fn rows(mut self, rows: i64, bytes_per_row: i64) -> Self {
        self.rows = rows;
        self.bytes_per_row = bytes_per_row;
        self
    }
    /// Bytes held in memory per input byte while a chunk is processed (>= 1; default 1).
    pub fn working_set_factor(mut self, factor: f64) -> Self {
        self.working_set_factor = Some(factor);
        self
    }
    /// Fixed bytes each worker needs besides its chunk.
    pub fn per_worker_bytes(mut self, bytes: i64) -> Self {
        self.per_worker_bytes = bytes;
        self
    }
    /// Most workers this workload can use; 0 = no cap.
    pub fn max_workers(mut self, n: i32) -> Self {
        self.max_workers = n;
        self
    }
    pub fn prefer(mut self, device: DevicePreference) -> Self {
        self.preferred_device = Some(device);
        self
    }

    /// The C struct (plx_workload_init, then the fields set), and the name it points to.
    pub(crate) fn to_raw(&self) -> Result<(sys::plx_workload_t, Option<CString>)> {
        let mut w: sys::plx_workload_t = init_struct(sys::plx_workload_init)?;
        let name = self.name.as_deref().map(|n| c_string("workload name", n)).transpose()?;
        w.name = opt_ptr(&name);
        if let Some(kind) = self.kind {
            w.kind = kind as i32;
        }
        if let Some(layout) = self.layout {
            w.layout = layout as i32;
        }
        w.items = self.items;
        w.bytes_per_item = self.bytes_per_item;
        w.rows = self.rows;
        w.bytes_per_row = self.bytes_per_row;
        if let Some(f) = self.working_set_factor {
            w.working_set_factor = f;
        }
        w.per_worker_bytes = self.per_worker_bytes;
        w.max_workers = self.max_workers;
        if let Some(d) = self.preferred_device {
            w.preferred_device = d as i32;
        }
        Ok((w, name))
    }
}

/// The numbers of a plan (`plx_plan_info_t`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanInfo {
    /// >= 1.
    pub cpu_workers: i32,
    /// Devices take part.
    pub use_gpu: bool,
    /// Devices taking part.
    pub device_count: i32,
    /// The data does not fit at once and passes through in chunks.
    pub streaming: bool,
    pub items_per_chunk: i64,
    /// 0 without rows.
    pub rows_per_chunk: i64,
    pub gpu_rows_per_chunk: i64,
    pub gpu_items_per_chunk: i64,
    /// Most bytes one CPU chunk may hold (input x working_set_factor).
    pub max_chunk_bytes: i64,
    pub gpu_chunk_bytes: i64,
    pub memory_budget_bytes: i64,
    /// Host RAM set aside for device transfers.
    pub staging_bytes: i64,
    /// CPU chunks to cover the workload.
    pub chunk_count: i64,
    /// The whole working set (may exceed int64).
    pub total_bytes: f64,
}

/// One device of a plan (`plx_plan_device_t`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanDevice {
    pub device_index: i32,
    /// Expected fraction of the device work; the shares sum to 1.
    pub share: f64,
    pub chunk_bytes: i64,
    pub rows_per_chunk: i64,
    pub items_per_chunk: i64,
    /// vram_fraction x device memory.
    pub memory_budget_bytes: i64,
}

struct PlanHandle(NonNull<sys::plx_plan_t>);

impl Drop for PlanHandle {
    fn drop(&mut self) {
        // SAFETY: ours; the last clone of the plan (runs and jobs hold clones while they use it).
        unsafe { sys::plx_plan_destroy(self.0.as_ptr()) }
    }
}

/// A plan (`plx_plan_t`), from [`crate::Runtime::plan`] or [`crate::Runtime::stack_plan`]. Cheap to
/// clone (shared); destroyed with the last clone. Thread-safe.
#[derive(Clone)]
pub struct Plan {
    handle: Arc<PlanHandle>,
    info: PlanInfo,
    devices: Arc<[PlanDevice]>,
}

// SAFETY: plan functions take a const plan and are thread-safe; the handle is immutable.
unsafe impl Send for PlanHandle {}
unsafe impl Sync for PlanHandle {}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan").field("info", &self.info).field("devices", &self.devices).finish()
    }
}

impl Plan {
    /// Takes ownership of a plan from plx_plan_create or plx_stack_plan, and reads its numbers.
    pub(crate) fn from_raw(raw: *mut sys::plx_plan_t) -> Result<Plan> {
        let handle =
            PlanHandle(NonNull::new(raw).ok_or_else(|| Error::Internal("the library gave a NULL plan".into()))?);
        let mut i: sys::plx_plan_info_t = sized();
        // SAFETY: a live plan and a sized struct.
        check(unsafe { sys::plx_plan_get(handle.0.as_ptr(), &mut i) })?;
        let mut devices = Vec::new();
        for index in 0..i.device_count {
            let mut d: sys::plx_plan_device_t = sized();
            // SAFETY: as above; index in 0 .. device_count.
            check(unsafe { sys::plx_plan_device_get(handle.0.as_ptr(), index, &mut d) })?;
            devices.push(PlanDevice {
                device_index: d.device_index,
                share: d.share,
                chunk_bytes: d.chunk_bytes,
                rows_per_chunk: d.rows_per_chunk,
                items_per_chunk: d.items_per_chunk,
                memory_budget_bytes: d.memory_budget_bytes,
            });
        }
        let info = PlanInfo {
            cpu_workers: i.cpu_workers,
            use_gpu: i.use_gpu != 0,
            device_count: i.device_count,
            streaming: i.streaming != 0,
            items_per_chunk: i.items_per_chunk,
            rows_per_chunk: i.rows_per_chunk,
            gpu_rows_per_chunk: i.gpu_rows_per_chunk,
            gpu_items_per_chunk: i.gpu_items_per_chunk,
            max_chunk_bytes: i.max_chunk_bytes,
            gpu_chunk_bytes: i.gpu_chunk_bytes,
            memory_budget_bytes: i.memory_budget_bytes,
            staging_bytes: i.staging_bytes,
            chunk_count: i.chunk_count,
            total_bytes: i.total_bytes,
        };
        Ok(Plan { handle: Arc::new(handle), info, devices: devices.into() })
    }

    /// The plan's numbers (`plx_plan_get`, read when the plan was made).
    pub fn info(&self) -> PlanInfo {
        self.info
    }

    /// The devices taking part (`plx_plan_device_get`).
    pub fn devices(&self) -> &[PlanDevice] {
        &self.devices
    }

    /// The plan as JSON text (`plx_plan_describe_json`): its numbers, "devices", "budgets",
    /// "workload" and "reasons".
    pub fn describe_json(&self) -> Result<String> {
        let raw = self.as_raw();
        // SAFETY: the snprintf-like contract.
        crate::runtime::json_out(|buffer, size, required| unsafe {
            sys::plx_plan_describe_json(raw, buffer, size, required)
        })
    }

    /// One human sentence per planning decision (the "reasons" of [`Plan::describe_json`]).
    pub fn reasons(&self) -> Result<Vec<String>> {
        let text = self.describe_json()?;
        crate::json::string_array(&text, "reasons")
            .ok_or_else(|| Error::Internal(format!("plan description without a \"reasons\" array: {text}")))
    }

    /// The raw handle, for calls through `parallax_sys` (valid while this plan lives).
    pub fn as_raw(&self) -> *const sys::plx_plan_t {
        self.handle.0.as_ptr()
    }
}
