package parallax

// #include "shim.h"
import "C"

import (
	"encoding/json"
	"runtime"
	"unsafe"
)

// WorkloadKind is a plx_workload_kind_t: what limits a workload.
type WorkloadKind int32

const (
	WorkloadCPU    WorkloadKind = C.PLX_WORKLOAD_CPU    // compute-bound
	WorkloadMemory WorkloadKind = C.PLX_WORKLOAD_MEMORY // bandwidth-bound
	WorkloadIO     WorkloadKind = C.PLX_WORKLOAD_IO     // waits on I/O
	WorkloadGPU    WorkloadKind = C.PLX_WORKLOAD_GPU    // runs on devices
	WorkloadMixed  WorkloadKind = C.PLX_WORKLOAD_MIXED  // devices and CPU workers
)

// Layout is a plx_workload_layout_t: how chunks are cut from the items.
type Layout int32

const (
	LayoutItems           Layout = C.PLX_LAYOUT_ITEMS
	LayoutRowsAcrossItems Layout = C.PLX_LAYOUT_ROWS_ACROSS_ITEMS
)

// DevicePreference is a plx_device_preference_t: where a workload would rather run.
type DevicePreference int32

const (
	PreferAuto DevicePreference = C.PLX_PREFER_AUTO
	PreferCPU  DevicePreference = C.PLX_PREFER_CPU
	PreferGPU  DevicePreference = C.PLX_PREFER_GPU
)

// Workload describes work to plan (plx_workload_t). A zero field takes the
// library's default (plx_workload_init); Items must be set.
type Workload struct {
	Name             string // for logs and describe; "" = "workload"
	Kind             WorkloadKind
	Layout           Layout
	Items            int64   // frames, tiles..., >= 1
	BytesPerItem     int64   // input bytes of one item; 0 = Rows * BytesPerRow
	Rows             int64   // rows of one item (image height); 0 when not images
	BytesPerRow      int64   // bytes of one row of one item
	WorkingSetFactor float64 // bytes held per input byte, >= 1; 0 = 1
	PerWorkerBytes   int64   // fixed scratch bytes per worker
	MaxWorkers       int32   // 0 = no cap
	PreferredDevice  DevicePreference
}

// PlanInfo are the numbers of a plan (plx_plan_info_t).
type PlanInfo struct {
	CPUWorkers        int
	UseGPU            bool
	DeviceCount       int
	Streaming         bool  // the data does not fit at once
	ItemsPerChunk     int64 // items in one CPU chunk
	RowsPerChunk      int64 // rows in one CPU chunk; 0 without rows
	GPURowsPerChunk   int64
	GPUItemsPerChunk  int64
	MaxChunkBytes     int64
	GPUChunkBytes     int64
	MemoryBudgetBytes int64
	StagingBytes      int64
	ChunkCount        int64
	TotalBytes        float64 // the whole working set (may exceed int64)
}

// PlanDevice is one device taking part in a plan (plx_plan_device_t).
type PlanDevice struct {
	DeviceIndex       int
	Share             float64 // expected fraction of the device work
	ChunkBytes        int64
	RowsPerChunk      int64
	ItemsPerChunk     int64
	MemoryBudgetBytes int64
}

// Plan is how to run one workload on one runtime's machine (plx_plan_t). Its
// numbers are read once and stay readable after Close; it does not refer to
// its runtime. Close it when done; a finalizer closes it otherwise.
type Plan struct {
	PlanInfo
	Name    string
	Devices []PlanDevice
	h       *handle
}

// Plan plans a workload on this runtime's machine (plx_plan_create) and logs
// a JSON "parallel_plan_summary" line at LogInfo.
func (rt *Runtime) Plan(w Workload) (*Plan, error) {
	const op = "plx_plan_create"
	p, err := rt.use(op)
	if err != nil {
		return nil, err
	}
	defer rt.h.release()
	var m cmem
	defer m.free()
	c := newC[C.plx_workload_t](&m)
	if err := call("plx_workload_init", func() C.plx_status_t {
		return C.plx_workload_init(c, sizeOf[C.plx_workload_t]())
	}); err != nil {
		return nil, err
	}
	c.name = m.optString(w.Name)
	c.kind = C.int32_t(w.Kind)
	c.layout = C.int32_t(w.Layout)
	c.items = C.int64_t(w.Items)
	c.bytes_per_item = C.int64_t(w.BytesPerItem)
	c.rows = C.int64_t(w.Rows)
	c.bytes_per_row = C.int64_t(w.BytesPerRow)
	if w.WorkingSetFactor != 0 {
		c.working_set_factor = C.double(w.WorkingSetFactor)
	}
	c.per_worker_bytes = C.int64_t(w.PerWorkerBytes)
	c.max_workers = C.int32_t(w.MaxWorkers)
	c.preferred_device = C.int32_t(w.PreferredDevice)
	out := newC[*C.plx_plan_t](&m)
	if err := call(op, func() C.plx_status_t { return C.plx_plan_create(p, c, out) }); err != nil {
		return nil, err
	}
	name := w.Name
	if name == "" {
		name = "workload"
	}
	return newPlan(*out, name)
}

// newPlan takes ownership of a plx_plan_t and reads its numbers.
func newPlan(p *C.plx_plan_t, name string) (*Plan, error) {
	plan := &Plan{Name: name, h: newHandle("plan", unsafe.Pointer(p), func(p unsafe.Pointer) {
		C.plx_plan_destroy((*C.plx_plan_t)(p))
	})}
	runtime.SetFinalizer(plan, func(plan *Plan) { plan.h.close() })
	var m cmem
	defer m.free()
	info := newC[C.plx_plan_info_t](&m)
	info.struct_size = sizeOf[C.plx_plan_info_t]()
	if err := call("plx_plan_get", func() C.plx_status_t { return C.plx_plan_get(p, info) }); err != nil {
		plan.Close()
		return nil, err
	}
	plan.PlanInfo = PlanInfo{
		CPUWorkers: int(info.cpu_workers), UseGPU: info.use_gpu != 0, DeviceCount: int(info.device_count),
		Streaming: info.streaming != 0, ItemsPerChunk: int64(info.items_per_chunk),
		RowsPerChunk: int64(info.rows_per_chunk), GPURowsPerChunk: int64(info.gpu_rows_per_chunk),
		GPUItemsPerChunk: int64(info.gpu_items_per_chunk), MaxChunkBytes: int64(info.max_chunk_bytes),
		GPUChunkBytes: int64(info.gpu_chunk_bytes), MemoryBudgetBytes: int64(info.memory_budget_bytes),
		StagingBytes: int64(info.staging_bytes), ChunkCount: int64(info.chunk_count),
		TotalBytes: float64(info.total_bytes),
	}
	d := newC[C.plx_plan_device_t](&m)
	for i := 0; i < plan.DeviceCount; i++ {
		*d = C.plx_plan_device_t{struct_size: sizeOf[C.plx_plan_device_t]()}
		if err := call("plx_plan_device_get", func() C.plx_status_t {
			return C.plx_plan_device_get(p, C.int32_t(i), d)
		}); err != nil {
			plan.Close()
			return nil, err
		}
		plan.Devices = append(plan.Devices, PlanDevice{
			DeviceIndex: int(d.device_index), Share: float64(d.share), ChunkBytes: int64(d.chunk_bytes),
			RowsPerChunk: int64(d.rows_per_chunk), ItemsPerChunk: int64(d.items_per_chunk),
			MemoryBudgetBytes: int64(d.memory_budget_bytes),
		})
	}
	return plan, nil
}

// DeviceAt reads the plan's device index again from the library
// (plx_plan_device_get); Devices holds them all already.
func (plan *Plan) DeviceAt(index int) (PlanDevice, error) {
	const op = "plx_plan_device_get"
	p, err := plan.h.acquire(op)
	if err != nil {
		return PlanDevice{}, err
	}
	defer plan.h.release()
	var m cmem
	defer m.free()
	d := newC[C.plx_plan_device_t](&m)
	d.struct_size = sizeOf[C.plx_plan_device_t]()
	if err := call(op, func() C.plx_status_t {
		return C.plx_plan_device_get((*C.plx_plan_t)(p), C.int32_t(index), d)
	}); err != nil {
		return PlanDevice{}, err
	}
	return PlanDevice{DeviceIndex: int(d.device_index), Share: float64(d.share), ChunkBytes: int64(d.chunk_bytes),
		RowsPerChunk: int64(d.rows_per_chunk), ItemsPerChunk: int64(d.items_per_chunk),
		MemoryBudgetBytes: int64(d.memory_budget_bytes)}, nil
}

// DescribeJSON is the plan as JSON (plx_plan_describe_json): its numbers,
// "devices", "budgets", "workload" and "reasons".
func (plan *Plan) DescribeJSON() (string, error) {
	const op = "plx_plan_describe_json"
	p, err := plan.h.acquire(op)
	if err != nil {
		return "", err
	}
	defer plan.h.release()
	return jsonOut(op, func(buffer *C.char, size C.size_t, required *C.size_t) C.plx_status_t {
		return C.plx_plan_describe_json((*C.plx_plan_t)(p), buffer, size, required)
	})
}

// Reasons is one human sentence per planning decision.
func (plan *Plan) Reasons() ([]string, error) {
	text, err := plan.DescribeJSON()
	if err != nil {
		return nil, err
	}
	var doc struct {
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, &Error{Status: StatusInternal, Op: "Plan.Reasons", Message: err.Error()}
	}
	return doc.Reasons, nil
}

// Close destroys the plan (plx_plan_destroy) once no run uses it; its numbers
// stay readable. Idempotent; returns nil.
func (plan *Plan) Close() error {
	plan.h.close()
	return nil
}

// Closed says whether Close was called.
func (plan *Plan) Closed() bool { return plan.h.isClosed() }
