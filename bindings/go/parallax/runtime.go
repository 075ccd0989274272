package parallax

// #include "shim.h"
import "C"

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// LogLevel is a plx_log_level_t.
type LogLevel int32

const (
	LogOff   LogLevel = C.PLX_LOG_OFF
	LogError LogLevel = C.PLX_LOG_ERROR
	LogWarn  LogLevel = C.PLX_LOG_WARN
	LogInfo  LogLevel = C.PLX_LOG_INFO
	LogDebug LogLevel = C.PLX_LOG_DEBUG
)

func (l LogLevel) String() string {
	switch l {
	case LogOff:
		return "OFF"
	case LogError:
		return "ERROR"
	case LogWarn:
		return "WARN"
	case LogInfo:
		return "INFO"
	case LogDebug:
		return "DEBUG"
	}
	return fmt.Sprintf("LogLevel(%d)", int32(l))
}

// DevicePolicy is a plx_device_policy_t: which devices a runtime may use.
type DevicePolicy int32

const (
	DeviceAuto        DevicePolicy = C.PLX_DEVICE_AUTO
	DeviceCPUOnly     DevicePolicy = C.PLX_DEVICE_CPU_ONLY
	DeviceGPURequired DevicePolicy = C.PLX_DEVICE_GPU_REQUIRED
)

// DeviceType is a mask of plx_device_type_t bits.
type DeviceType int32

const (
	DeviceTypeCPU         DeviceType = C.PLX_DEVICE_TYPE_CPU // e.g. PoCL
	DeviceTypeGPU         DeviceType = C.PLX_DEVICE_TYPE_GPU
	DeviceTypeAccelerator DeviceType = C.PLX_DEVICE_TYPE_ACCELERATOR
	DeviceTypeAny         DeviceType = C.PLX_DEVICE_TYPE_ANY
)

// Unlimited is Caps.MemoryLimitBytes when no cgroup limit applies.
const Unlimited = int64(C.PLX_UNLIMITED)

// LogFunc receives the library's log lines: one sentence, or one JSON object
// for summaries ({"event":"parallel_plan_summary",...}). It is called from any
// thread, never twice at once for one runtime, and must not call the runtime
// that logs (such calls fail with ErrInvalidArgument). A panic in it is
// recovered and reported on standard error.
type LogFunc func(level LogLevel, message string)

// RuntimeOptions are the options of NewRuntime (plx_runtime_options_t). A zero
// field takes the library's default (plx_runtime_options_init): every zero
// here is either invalid or the default.
type RuntimeOptions struct {
	MaxCPUWorkers int32   // most CPU workers any plan may use; 0 = all usable CPUs
	ReserveCPUs   int32   // CPUs left to the host's own threads
	RAMFraction   float64 // share of free memory plans may use, in (0, 1]; 0 = 0.75
	VRAMFraction  float64 // share of each device's memory, in (0, 1]; 0 = 0.5
	DevicePolicy  DevicePolicy
	// Log receives the library's log lines at LogLevel and above; nil: none.
	Log LogFunc
	// LogLevel is the most verbose level sent to Log; 0 (LogOff) = LogInfo.
	LogLevel LogLevel
	// MachineProfile replaces detection: JSON text or the path of a JSON file.
	MachineProfile string
	// Sysroot is read instead of / for /proc and /sys (tests); "" = $PLX_SYSROOT or /.
	Sysroot string
	// DeviceFilter admits only devices whose name, vendor or platform contains it.
	DeviceFilter string
	// DeviceTypes the runtime may use; 0 = GPU | accelerator. Add DeviceTypeCPU for PoCL.
	DeviceTypes DeviceType
	// FaultInjection makes chosen tasks, chunks or device calls fail (tests), e.g.
	// "task=7@1-2:out_of_memory;chunk=3:task_failed"; "" = $PLX_FAULT or none.
	FaultInjection string
	// CacheDir holds the program cache and measured device figures; "" = the
	// default ($XDG_CACHE_HOME/parallax); see NoDiskCache.
	CacheDir string
	// NoDiskCache turns the on-disk program cache off.
	NoDiskCache bool
	// DeviceMemoryLimitBytes treats every device as having at most this much memory.
	DeviceMemoryLimitBytes int64
	// DeviceReplicas lists each OpenCL device this many times (tests); 0 = $PLX_DEVICE_REPLICAS or 1.
	DeviceReplicas int32
}

// Runtime is the machine as this process may use it (or a machine profile),
// with its options (plx_runtime_t). Its methods may be called from any
// goroutine. Close it when done; a finalizer closes it otherwise.
type Runtime struct{ *runtimeCore }

// runtimeCore is what kernels, buffers and jobs refer to: never the *Runtime
// itself, whose finalizer must be able to run while they are alive.
type runtimeCore struct {
	h   *handle
	log *logBridge // nil without a log function

	mu       sync.Mutex
	children map[*handle]struct{} // kernels and buffers: closed with the runtime
	jobs     map[*run]struct{}    // runs of jobs that have not ended
}

type logBridge struct {
	fn      LogFunc
	threads callbackThreads
}

// NewRuntime creates a runtime (plx_runtime_create); nil options = defaults.
func NewRuntime(options *RuntimeOptions) (*Runtime, error) {
	const op = "plx_runtime_create"
	if loadError != nil {
		return nil, loadError
	}
	if options == nil {
		options = &RuntimeOptions{}
	}
	var m cmem
	defer m.free()
	o := newC[C.plx_runtime_options_t](&m)
	if err := call("plx_runtime_options_init", func() C.plx_status_t {
		return C.plx_runtime_options_init(o, sizeOf[C.plx_runtime_options_t]())
	}); err != nil {
		return nil, err
	}
	if options.MaxCPUWorkers != 0 {
		o.max_cpu_workers = C.int32_t(options.MaxCPUWorkers)
	}
	if options.ReserveCPUs != 0 {
		o.reserve_cpus = C.int32_t(options.ReserveCPUs)
	}
	if options.RAMFraction != 0 {
		o.ram_fraction = C.double(options.RAMFraction)
	}
	if options.VRAMFraction != 0 {
		o.vram_fraction = C.double(options.VRAMFraction)
	}
	o.device_policy = C.int32_t(options.DevicePolicy)
	o.machine_profile = m.optString(options.MachineProfile)
	o.sysroot = m.optString(options.Sysroot)
	o.device_filter = m.optString(options.DeviceFilter)
	o.device_types = C.int32_t(options.DeviceTypes)
	o.fault_injection = m.optString(options.FaultInjection)
	if options.NoDiskCache {
		o.cache_dir = m.cstring("")
	} else {
		o.cache_dir = m.optString(options.CacheDir)
	}
	o.device_memory_limit_bytes = C.int64_t(options.DeviceMemoryLimitBytes)
	o.device_replicas = C.int32_t(options.DeviceReplicas)

	var bridge *logBridge
	var logHandle cgo.Handle
	if options.Log != nil {
		bridge = &logBridge{fn: options.Log}
		logHandle = cgo.NewHandle(bridge)
		level := options.LogLevel
		if level == LogOff {
			level = LogInfo
		}
		o.log_level = C.int32_t(level)
		C.plxgo_set_log(o, C.uintptr_t(logHandle))
	}
	out := newC[*C.plx_runtime_t](&m)
	if err := call(op, func() C.plx_status_t { return C.plx_runtime_create(o, out) }); err != nil {
		if bridge != nil {
			logHandle.Delete()
		}
		return nil, err
	}
	rt := &Runtime{&runtimeCore{log: bridge, children: map[*handle]struct{}{}, jobs: map[*run]struct{}{}}}
	rt.h = newHandle("runtime", unsafe.Pointer(*out), func(p unsafe.Pointer) {
		offThread(func() { C.plx_runtime_destroy((*C.plx_runtime_t)(p)) })
		if bridge != nil {
			logHandle.Delete()
		}
	})
	runtime.SetFinalizer(rt, func(rt *Runtime) { go rt.Close() })
	return rt, nil
}

// use acquires the runtime for one call of method op.
func (rt *runtimeCore) use(op string) (*C.plx_runtime_t, error) {
	if err := rt.refuseInLog(op); err != nil {
		return nil, err
	}
	p, err := rt.h.acquire(op)
	return (*C.plx_runtime_t)(p), err
}

// refuseInLog refuses calls on the runtime (or its kernels and buffers) from
// its own log function, which the library forbids.
func (rt *runtimeCore) refuseInLog(op string) error {
	if rt.log != nil && rt.log.threads.current() {
		return invalid(op, "called from this runtime's own log function, which the library forbids; "+
			"use another runtime or defer the call")
	}
	return nil
}

// Close destroys the runtime (plx_runtime_destroy) once the calls in flight on
// other goroutines return: it cancels the runtime's unfinished jobs and waits
// for them, and closes its kernels and buffers. Plans stay valid. Idempotent;
// it always returns nil, except from a callback of one of the runtime's jobs,
// which it would wait for (ErrInvalidArgument).
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	for r := range rt.jobs {
		if r.threads.current() {
			rt.mu.Unlock()
			return invalid("Runtime.Close", "called from a callback of one of this runtime's jobs, which it "+
				"would wait for; cancel the job instead, and close the runtime elsewhere")
		}
	}
	children := make([]*handle, 0, len(rt.children))
	for child := range rt.children {
		children = append(children, child)
	}
	rt.mu.Unlock()
	for _, child := range children {
		child.close()
	}
	rt.h.close()
	return nil
}

// Closed says whether Close was called.
func (rt *Runtime) Closed() bool { return rt.h.isClosed() }

// adopt registers a kernel's or buffer's handle, closed with the runtime.
func (rt *runtimeCore) adopt(child *handle) {
	rt.mu.Lock()
	rt.children[child] = struct{}{}
	rt.mu.Unlock()
}

func (rt *runtimeCore) disown(child *handle) {
	rt.mu.Lock()
	delete(rt.children, child)
	rt.mu.Unlock()
}

// DescribeJSON is the runtime's machine description as JSON
// (plx_runtime_describe_json): cpu, memory, devices, options, sources, warnings.
func (rt *Runtime) DescribeJSON() (string, error) {
	const op = "plx_runtime_describe_json"
	p, err := rt.use(op)
	if err != nil {
		return "", err
	}
	defer rt.h.release()
	return jsonOut(op, func(buffer *C.char, size C.size_t, required *C.size_t) C.plx_status_t {
		return C.plx_runtime_describe_json(p, buffer, size, required)
	})
}

// Caps is the machine as a runtime sees it (plx_caps_t), with its devices.
type Caps struct {
	CPULogical           int     // online logical CPUs of the machine
	CPUPhysical          int     // physical cores
	CPUUsable            int     // min(affinity, ceil(cgroup quota))
	CPUAffinity          int     // CPUs in this process's affinity mask
	CPUQuota             float64 // cgroup CPU quota in CPUs; 0 when unlimited
	NUMANodes            int
	DeviceCount          int // OpenCL devices found, usable or not
	MemoryTotalBytes     int64
	MemoryAvailableBytes int64 // MemAvailable
	MemoryLimitBytes     int64 // cgroup limit, or Unlimited
	MemoryUsageBytes     int64 // cgroup usage (0 without a limit)
	MemoryBudgetBytes    int64 // min(available, limit - usage) x ram_fraction
	CacheL1dBytes        int64 // 0 when unknown
	CacheL2Bytes         int64
	CacheL3Bytes         int64
	CgroupVersion        int  // 0 when none was found, else 1 or 2
	FromProfile          bool // a machine profile replaced detection
	Devices              []DeviceInfo
}

// DeviceInfo is one OpenCL device, or a machine profile's simulated one (plx_device_info_t).
type DeviceInfo struct {
	Index             int
	Type              DeviceType // one bit
	Name              string
	Vendor            string
	Platform          string
	DriverVersion     string
	OpenCLCVersion    string
	ComputeUnits      int
	MaxClockMHz       int
	GlobalMemoryBytes int64
	MaxAllocBytes     int64 // largest single buffer
	LocalMemoryBytes  int64
	FP64              bool
	UnifiedMemory     bool
	Usable            bool    // admitted by the runtime's policy, types and filter
	Simulated         bool    // from a machine profile
	MeasuredGBps      float64 // measured streaming throughput; 0 when not measured
}

// Caps reads the machine as this runtime sees it (plx_caps_get), with every
// device (plx_device_info_get). OpenCL devices are discovered on first use.
func (rt *Runtime) Caps() (Caps, error) {
	const op = "plx_caps_get"
	p, err := rt.use(op)
	if err != nil {
		return Caps{}, err
	}
	defer rt.h.release()
	var m cmem
	defer m.free()
	c := newC[C.plx_caps_t](&m)
	c.struct_size = sizeOf[C.plx_caps_t]()
	if err := call(op, func() C.plx_status_t { return C.plx_caps_get(p, c) }); err != nil {
		return Caps{}, err
	}
	caps := Caps{
		CPULogical: int(c.cpu_logical), CPUPhysical: int(c.cpu_physical), CPUUsable: int(c.cpu_usable),
		CPUAffinity: int(c.cpu_affinity), CPUQuota: float64(c.cpu_quota), NUMANodes: int(c.numa_nodes),
		DeviceCount: int(c.device_count), MemoryTotalBytes: int64(c.memory_total_bytes),
		MemoryAvailableBytes: int64(c.memory_available_bytes), MemoryLimitBytes: int64(c.memory_limit_bytes),
		MemoryUsageBytes: int64(c.memory_usage_bytes), MemoryBudgetBytes: int64(c.memory_budget_bytes),
		CacheL1dBytes: int64(c.cache_l1d_bytes), CacheL2Bytes: int64(c.cache_l2_bytes),
		CacheL3Bytes: int64(c.cache_l3_bytes), CgroupVersion: int(c.cgroup_version), FromProfile: c.from_profile != 0,
	}
	for i := 0; i < caps.DeviceCount; i++ {
		d, err := rt.deviceInfo(p, i)
		if err != nil {
			return Caps{}, err
		}
		caps.Devices = append(caps.Devices, d)
	}
	return caps, nil
}

// Device reads device index (plx_device_info_get), 0 .. Caps().DeviceCount-1.
func (rt *Runtime) Device(index int) (DeviceInfo, error) {
	p, err := rt.use("plx_device_info_get")
	if err != nil {
		return DeviceInfo{}, err
	}
	defer rt.h.release()
	return rt.deviceInfo(p, index)
}

func (rt *Runtime) deviceInfo(p *C.plx_runtime_t, index int) (DeviceInfo, error) {
	const op = "plx_device_info_get"
	if index < math.MinInt32 || index > math.MaxInt32 {
		return DeviceInfo{}, invalid(op, "device index %d is out of range", index)
	}
	var m cmem
	defer m.free()
	d := newC[C.plx_device_info_t](&m)
	d.struct_size = sizeOf[C.plx_device_info_t]()
	if err := call(op, func() C.plx_status_t { return C.plx_device_info_get(p, C.int32_t(index), d) }); err != nil {
		return DeviceInfo{}, err
	}
	return DeviceInfo{
		Index: int(d.index), Type: DeviceType(d._type), Name: goString(d.name[:]), Vendor: goString(d.vendor[:]),
		Platform: goString(d.platform[:]), DriverVersion: goString(d.driver_version[:]),
		OpenCLCVersion: goString(d.opencl_c_version[:]), ComputeUnits: int(d.compute_units),
		MaxClockMHz: int(d.max_clock_mhz), GlobalMemoryBytes: int64(d.global_memory_bytes),
		MaxAllocBytes: int64(d.max_alloc_bytes), LocalMemoryBytes: int64(d.local_memory_bytes), FP64: d.fp64 != 0,
		UnifiedMemory: d.unified_memory != 0, Usable: d.usable != 0, Simulated: d.simulated != 0,
		MeasuredGBps: float64(d.measured_gbps),
	}, nil
}

// reportPanic writes a recovered panic of a callback that has nobody to return
// it to (the log function) on standard error.
func reportPanic(where string, value any) {
	fmt.Fprintf(os.Stderr, "parallax: panic in the %s recovered: %v\n", where, value)
}
