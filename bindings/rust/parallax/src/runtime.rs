//! The runtime: the machine as this process may use it (or a machine
//! profile), its options, and the log callback bridged to a Rust closure.

use std::cell::Cell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use parallax_sys as sys;

use crate::callback::{c_path, c_string, init_struct, lock, opt_ptr, sized, text_of};
use crate::error::{check, Error, Result};
use crate::plan::{Plan, Workload};

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// Severity of a library log line (`plx_log_level_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Nothing (as a filter only).
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl LogLevel {
    fn from_c(level: i32) -> LogLevel {
        match level {
            sys::PLX_LOG_ERROR => LogLevel::Error,
            sys::PLX_LOG_WARN => LogLevel::Warn,
            sys::PLX_LOG_INFO => LogLevel::Info,
            sys::PLX_LOG_OFF => LogLevel::Off,
            _ => LogLevel::Debug,
        }
    }
}

/// Which devices a runtime may use (`plx_device_policy_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DevicePolicy {
    /// An OpenCL device when the workload asks for one and one matches; else the CPU.
    #[default]
    Auto = 0,
    /// Never touch OpenCL.
    CpuOnly = 1,
    /// Require a matching device ([`Error::NoDevice`] at creation without one); never fall back.
    GpuRequired = 2,
}

/// A set of OpenCL device types (`plx_device_type_t` bits): `DeviceTypes::CPU | DeviceTypes::GPU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceTypes(i32);

impl DeviceTypes {
    /// CPU devices, such as PoCL on the host CPU.
    pub const CPU: DeviceTypes = DeviceTypes(sys::PLX_DEVICE_TYPE_CPU);
    pub const GPU: DeviceTypes = DeviceTypes(sys::PLX_DEVICE_TYPE_GPU);
    pub const ACCELERATOR: DeviceTypes = DeviceTypes(sys::PLX_DEVICE_TYPE_ACCELERATOR);
    /// Every type.
    pub const ANY: DeviceTypes = DeviceTypes(sys::PLX_DEVICE_TYPE_ANY);

    /// The mask as the library has it.
    pub fn bits(self) -> i32 {
        self.0
    }

    /// Whether every type of `other` is in this set.
    pub fn contains(self, other: DeviceTypes) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for DeviceTypes {
    type Output = DeviceTypes;
    fn bitor(self, other: DeviceTypes) -> DeviceTypes {
        DeviceTypes(self.0 | other.0)
    }
}

type LogFn = dyn FnMut(LogLevel, &str) + Send;

/// Options of [`Runtime::builder`]; every option left unset takes the library's default
/// (`plx_runtime_options_init`).
#[derive(Default)]
pub struct RuntimeBuilder {
    max_cpu_workers: Option<i32>,
    reserve_cpus: Option<i32>,
    ram_fraction: Option<f64>,
    vram_fraction: Option<f64>,
    device_policy: Option<DevicePolicy>,
    log_level: Option<LogLevel>,
    log: Option<Box<LogFn>>,
    machine_profile: Option<std::ffi::OsString>,
    sysroot: Option<PathBuf>,
    device_filter: Option<String>,
    device_types: Option<DeviceTypes>,
    fault_injection: Option<String>,
    cache_dir: Option<PathBuf>,
    device_memory_limit_bytes: Option<i64>,
    device_replicas: Option<i32>,
}

impl RuntimeBuilder {
    /// Most CPU workers any plan may use; 0 (default) = all usable CPUs.
    pub fn max_cpu_workers(mut self, n: i32) -> Self {
        self.max_cpu_workers = Some(n);
        self
    }
    /// CPUs left to the host's own threads (default 0).
    pub fn reserve_cpus(mut self, n: i32) -> Self {
        self.reserve_cpus = Some(n);
        self
    }
    /// Share of free memory plans may use, in (0, 1] (default 0.75).
    pub fn ram_fraction(mut self, fraction: f64) -> Self {
        self.ram_fraction = Some(fraction);
        self
    }
    /// Share of each device's memory plans may use, in (0, 1] (default 0.5).
    pub fn vram_fraction(mut self, fraction: f64) -> Self {
        self.vram_fraction = Some(fraction);
        self
    }
    pub fn device_policy(mut self, policy: DevicePolicy) -> Self {
        self.device_policy = Some(policy);
        self
    }
    /// The most verbose log lines passed to the log callback (default Info).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = Some(level);
        self
    }
    /// Receives the library's log lines: `f(level, line)`, a sentence or a one-line JSON object
    /// (`{"event":"parallel_plan_summary",...}`). Called from any thread, never twice at once for
    /// one runtime; it must not call this runtime (such calls are refused with
    /// [`Error::InvalidArgument`]). A panic in it is caught and dropped (logging cannot fail a call).
    pub fn log<F>(mut self, f: F) -> Self
    where
        F: FnMut(LogLevel, &str) + Send + 'static,
    {
        self.log = Some(Box::new(f));
        self
    }
    /// A machine profile replacing detection: JSON text (first non-blank character '{') or the
    /// path of a JSON file.
    pub fn machine_profile(mut self, profile: impl Into<String>) -> Self {
        self.machine_profile = Some(profile.into().into());
        self
    }
    /// The machine profile in a file (a path, even one starting with '{').
    pub fn machine_profile_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let path = if path.is_absolute() { path.to_path_buf() } else { Path::new(".").join(path) };
        self.machine_profile = Some(path.into_os_string());
        self
    }
    /// Directory read instead of / for /proc and /sys (for tests).
    pub fn sysroot(mut self, dir: impl Into<PathBuf>) -> Self {
        self.sysroot = Some(dir.into());
        self
    }
    /// Only devices whose name, vendor or platform contains this text (case-insensitive).
    pub fn device_filter(mut self, text: impl Into<String>) -> Self {
        self.device_filter = Some(text.into());
        self
    }
    /// Device types the runtime may use; default GPU | ACCELERATOR. Add CPU for PoCL.
    pub fn device_types(mut self, types: DeviceTypes) -> Self {
        self.device_types = Some(types);
        self
    }
    /// Fault injection for tests, e.g. "task=7@1-2:out_of_memory;chunk=3:task_failed".
    pub fn fault_injection(mut self, rules: impl Into<String>) -> Self {
        self.fault_injection = Some(rules.into());
        self
    }
    /// Directory of the on-disk program cache and measured device figures.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }
    /// Turns the on-disk program cache off.
    pub fn no_disk_cache(mut self) -> Self {
        self.cache_dir = Some(PathBuf::new());
        self
    }
    /// Treat every device as having at most this much memory; 0 = no limit.
    pub fn device_memory_limit_bytes(mut self, bytes: i64) -> Self {
        self.device_memory_limit_bytes = Some(bytes);
        self
    }
    /// List each OpenCL device this many times (1..16; 0 = $PLX_DEVICE_REPLICAS, else 1).
    pub fn device_replicas(mut self, n: i32) -> Self {
        self.device_replicas = Some(n);
        self
    }

    /// Creates the runtime (`plx_runtime_create`), after checking that the loaded library can serve
    /// this binding.
    pub fn build(self) -> Result<Runtime> {
        crate::version::check_library()?;
        let mut options: sys::plx_runtime_options_t = init_struct(sys::plx_runtime_options_init)?;
        if let Some(v) = self.max_cpu_workers {
            options.max_cpu_workers = v;
        }
        if let Some(v) = self.reserve_cpus {
            options.reserve_cpus = v;
        }
        if let Some(v) = self.ram_fraction {
            options.ram_fraction = v;
        }
        if let Some(v) = self.vram_fraction {
            options.vram_fraction = v;
        }
        if let Some(v) = self.device_policy {
            options.device_policy = v as i32;
        }
        if let Some(v) = self.device_types {
            options.device_types = v.bits();
        }
        if let Some(v) = self.device_memory_limit_bytes {
            options.device_memory_limit_bytes = v;
        }
        if let Some(v) = self.device_replicas {
            options.device_replicas = v;
        }
        let profile = self.machine_profile.as_deref().map(|t| c_path("machine_profile", Path::new(t))).transpose()?;
        let sysroot = self.sysroot.as_deref().map(|p| c_path("sysroot", p)).transpose()?;
        let filter = self.device_filter.as_deref().map(|t| c_string("device_filter", t)).transpose()?;
        let faults = self.fault_injection.as_deref().map(|t| c_string("fault_injection", t)).transpose()?;
        let cache = self.cache_dir.as_deref().map(|p| c_path("cache_dir", p)).transpose()?;
        options.machine_profile = opt_ptr(&profile);
        options.sysroot = opt_ptr(&sysroot);
        options.device_filter = opt_ptr(&filter);
        options.fault_injection = opt_ptr(&faults);
        options.cache_dir = opt_ptr(&cache);

        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let log = match self.log {
            Some(f) if self.log_level != Some(LogLevel::Off) => {
                let bridge = Box::new(LogBridge { id, f: Mutex::new(f) });
                options.log_callback = Some(log_trampoline);
                options.log_user_data = &*bridge as *const LogBridge as *mut c_void;
                if let Some(level) = self.log_level {
                    options.log_level = level as i32;
                }
                Some(bridge)
            }
            _ => {
                if let Some(level) = self.log_level {
                    options.log_level = level as i32;
                }
                None
            }
        };

        let mut raw = std::ptr::null_mut();
        // SAFETY: options and the strings it points to live through the call (copied by the
        // library); the log bridge is boxed and outlives the runtime (dropped after destroy).
        check(unsafe { sys::plx_runtime_create(&options, &mut raw) })?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Internal("plx_runtime_create gave NULL".into()))?;
        Ok(Runtime { raw, id, _log: log })
    }
}

// ---------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The id of the runtime whose log callback runs on this thread (0: none).
    static IN_LOG: Cell<u64> = const { Cell::new(0) };
}

struct LogBridge {
    id: u64,
    f: Mutex<Box<LogFn>>,
}

unsafe extern "C" fn log_trampoline(user_data: *mut c_void, level: sys::plx_log_level_t, message: *const c_char) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: user_data is the runtime's LogBridge, alive while the runtime is.
        let bridge = &*(user_data as *const LogBridge);
        let text = if message.is_null() { "".into() } else { CStr::from_ptr(message).to_string_lossy() };
        let outer = IN_LOG.with(|c| c.replace(bridge.id));
        struct Restore(u64);
        impl Drop for Restore {
            fn drop(&mut self) {
                IN_LOG.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(outer);
        (lock(&bridge.f))(LogLevel::from_c(level), &text);
    }));
}

// ---------------------------------------------------------------------------
// The runtime
// ---------------------------------------------------------------------------

/// A Parallax runtime (`plx_runtime_t`): reads the machine (or a profile) once, plans workloads
/// for it and runs them on its own threads. Thread-safe: share it by reference (`&Runtime` is
/// `Send`), e.g. with `std::thread::scope`. Dropping it cancels its unfinished jobs and waits for
/// them (`plx_runtime_destroy`); plans and job handles stay valid.
pub struct Runtime {
    raw: NonNull<sys::plx_runtime_t>,
    id: u64,
    _log: Option<Box<LogBridge>>,
}

// SAFETY: the C API is thread-safe for every runtime function; the log closure is Send and only
// called under its mutex.
unsafe impl Send for Runtime {}
unsafe impl Sync for Runtime {}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: the handle is ours; no borrow of the runtime outlives it (kernels and buffers
        // borrow it), and the log bridge is dropped after this.
        unsafe { sys::plx_runtime_destroy(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("raw", &self.raw).finish()
    }
}

impl Runtime {
    /// A runtime with the library's default options (this machine, all usable CPUs).
    pub fn new() -> Result<Runtime> {
        Runtime::builder().build()
    }

    /// Options for a runtime; finish with [`RuntimeBuilder::build`].
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The handle for a call, refused from this runtime's own log callback (which the C API forbids).
    pub(crate) fn ptr(&self, what: &str) -> Result<*mut sys::plx_runtime_t> {
        if IN_LOG.with(|c| c.get()) == self.id {
            return Err(Error::invalid(format!(
                "{what}: called from this runtime's own log callback, which the library forbids; use another \
                 runtime or defer the call"
            )));
        }
        Ok(self.raw.as_ptr())
    }

    /// The raw handle, for calls through `parallax_sys` (valid while `self` lives).
    pub fn as_raw(&self) -> *mut sys::plx_runtime_t {
        self.raw.as_ptr()
    }

    /// The machine as this runtime sees it (`plx_caps_get`); discovers OpenCL devices on first use.
    pub fn caps(&self) -> Result<Caps> {
        let mut caps: sys::plx_caps_t = sized();
        // SAFETY: caps is a plx_caps_t with struct_size set.
        check(unsafe { sys::plx_caps_get(self.ptr("Runtime::caps")?, &mut caps) })?;
        Ok(Caps::from_raw(&caps))
    }

    /// One OpenCL device (`plx_device_info_get`), index 0 .. caps().device_count.
    pub fn device_info(&self, index: i32) -> Result<DeviceInfo> {
        let mut info: sys::plx_device_info_t = sized();
        // SAFETY: info is a plx_device_info_t with struct_size set.
        check(unsafe { sys::plx_device_info_get(self.ptr("Runtime::device_info")?, index, &mut info) })?;
        Ok(DeviceInfo::from_raw(&info))
    }

    /// Every OpenCL device the runtime found, usable or not.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>> {
        (0..self.caps()?.device_count).map(|i| self.device_info(i)).collect()
    }

    /// The machine description as JSON text (`plx_runtime_describe_json`): "cpu", "memory",
    /// "devices", "options", "sources", "warnings"...
    pub fn describe_json(&self) -> Result<String> {
        let raw = self.ptr("Runtime::describe_json")?;
        // SAFETY: the snprintf-like contract: buffer of buffer_size bytes, or NULL and 0.
        json_out(|buffer, size, required| unsafe { sys::plx_runtime_describe_json(raw, buffer, size, required) })
    }

    /// Plans a workload on this runtime's machine (`plx_plan_create`).
    pub fn plan(&self, workload: &Workload) -> Result<Plan> {
        let raw = self.ptr("Runtime::plan")?;
        let (w, _name) = workload.to_raw()?;
        let mut plan = std::ptr::null_mut();
        // SAFETY: w and the name it points to live through the call.
        check(unsafe { sys::plx_plan_create(raw, &w, &mut plan) })?;
        Plan::from_raw(plan)
    }
}

/// Calls a snprintf-like `*_describe_json` function: asks for the size, then fills a buffer of
/// that size (again if the text grew in between).
pub(crate) fn json_out<F>(mut call: F) -> Result<String>
where
    F: FnMut(*mut c_char, usize, *mut usize) -> sys::plx_status_t,
{
    let mut required = 0usize;
    check(call(std::ptr::null_mut(), 0, &mut required))?;
    for _ in 0..3 {
        let mut buffer = vec![0u8; required.max(1)];
        let status = call(buffer.as_mut_ptr() as *mut c_char, buffer.len(), &mut required);
        if status == sys::PLX_ERR_BUFFER_TOO_SMALL {
            continue;
        }
        check(status)?;
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        buffer.truncate(end);
        return String::from_utf8(buffer).map_err(|e| Error::Internal(format!("describe: JSON is not UTF-8: {e}")));
    }
    Err(Error::BufferTooSmall("describe: the text kept growing between calls".into()))
}

// ---------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------

/// The machine as a runtime sees it (`plx_caps_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct Caps {
    /// Online logical CPUs of the machine.
    pub cpu_logical: i32,
    pub cpu_physical: i32,
    /// min(affinity, ceil(cgroup quota)).
    pub cpu_usable: i32,
    pub cpu_affinity: i32,
    /// cgroup CPU quota in CPUs; None when unlimited.
    pub cpu_quota: Option<f64>,
    pub numa_nodes: i32,
    /// OpenCL devices found, usable or not.
    pub device_count: i32,
    pub memory_total_bytes: i64,
    /// MemAvailable.
    pub memory_available_bytes: i64,
    /// cgroup limit; None when unlimited.
    pub memory_limit_bytes: Option<i64>,
    /// cgroup usage (0 without a limit).
    pub memory_usage_bytes: i64,
    /// min(available, limit - usage) x ram_fraction.
    pub memory_budget_bytes: i64,
    /// 0 when unknown.
    pub cache_l1d_bytes: i64,
    pub cache_l2_bytes: i64,
    pub cache_l3_bytes: i64,
    /// 0 when none was found, else 1 or 2.
    pub cgroup_version: i32,
    /// A machine profile replaced detection.
    pub from_profile: bool,
}

impl Caps {
    fn from_raw(c: &sys::plx_caps_t) -> Caps {
        Caps {
            cpu_logical: c.cpu_logical,
            cpu_physical: c.cpu_physical,
            cpu_usable: c.cpu_usable,
            cpu_affinity: c.cpu_affinity,
            cpu_quota: if c.cpu_quota > 0.0 { Some(c.cpu_quota) } else { None },
            numa_nodes: c.numa_nodes,
            device_count: c.device_count,
            memory_total_bytes: c.memory_total_bytes,
            memory_available_bytes: c.memory_available_bytes,
            memory_limit_bytes: if c.memory_limit_bytes == sys::PLX_UNLIMITED {
                None
            } else {
                Some(c.memory_limit_bytes)
            },
            memory_usage_bytes: c.memory_usage_bytes,
            memory_budget_bytes: c.memory_budget_bytes,
            cache_l1d_bytes: c.cache_l1d_bytes,
            cache_l2_bytes: c.cache_l2_bytes,
            cache_l3_bytes: c.cache_l3_bytes,
            cgroup_version: c.cgroup_version,
            from_profile: c.from_profile != 0,
        }
    }
}

/// One OpenCL device, or a machine profile's simulated one (`plx_device_info_t`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub index: i32,
    /// One type bit: CPU, GPU or ACCELERATOR.
    pub device_type: DeviceTypes,
    pub name: String,
    pub vendor: String,
    pub platform: String,
    pub driver_version: String,
    pub opencl_c_version: String,
    pub compute_units: i32,
    pub max_clock_mhz: i32,
    pub global_memory_bytes: i64,
    /// Largest single buffer.
    pub max_alloc_bytes: i64,
    pub local_memory_bytes: i64,
    pub fp64: bool,
    /// Shares host memory.
    pub unified_memory: bool,
    /// Admitted by the runtime's policy, types and filter.
    pub usable: bool,
    /// Comes from a machine profile.
    pub simulated: bool,
    /// Streaming throughput measured by [`Runtime::measure_device`] (GB/s); None when not measured.
    pub measured_gbps: Option<f64>,
}

impl DeviceInfo {
    fn from_raw(d: &sys::plx_device_info_t) -> DeviceInfo {
        DeviceInfo {
            index: d.index,
            device_type: DeviceTypes(d.type_),
            name: text_of(&d.name),
            vendor: text_of(&d.vendor),
            platform: text_of(&d.platform),
            driver_version: text_of(&d.driver_version),
            opencl_c_version: text_of(&d.opencl_c_version),
            compute_units: d.compute_units,
            max_clock_mhz: d.max_clock_mhz,
            global_memory_bytes: d.global_memory_bytes,
            max_alloc_bytes: d.max_alloc_bytes,
            local_memory_bytes: d.local_memory_bytes,
            fp64: d.fp64 != 0,
            unified_memory: d.unified_memory != 0,
            usable: d.usable != 0,
            simulated: d.simulated != 0,
            measured_gbps: if d.measured_gbps > 0.0 { Some(d.measured_gbps) } else { None },
        }
    }
}
