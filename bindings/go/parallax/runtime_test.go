package parallax

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

func TestCapsOfThisMachine(t *testing.T) {
	rt, err := NewRuntime(nil)
	check(t, err)
	defer rt.Close()
	caps := must[Caps](t)(rt.Caps())
	expected := caps.CPUAffinity
	if caps.CPUQuota > 0 {
		expected = int(math.Min(float64(caps.CPUAffinity), math.Ceil(caps.CPUQuota)))
	}
	if caps.CPUUsable != expected || caps.CPULogical < caps.CPUAffinity || caps.NUMANodes < 1 || caps.FromProfile {
		t.Fatalf("%+v", caps)
	}
	if len(caps.Devices) != caps.DeviceCount {
		t.Fatalf("%d devices for a count of %d", len(caps.Devices), caps.DeviceCount)
	}
	if !(0 < caps.MemoryBudgetBytes && caps.MemoryBudgetBytes < caps.MemoryAvailableBytes &&
		caps.MemoryAvailableBytes <= caps.MemoryTotalBytes) {
		t.Fatalf("memory %+v", caps)
	}
	var doc struct {
		CPU struct {
			Logical, Usable int
		}
		Memory struct {
			BudgetBytes int64 `json:"budget_bytes"`
		}
		Options struct {
			RAMFraction float64 `json:"ram_fraction"`
		}
		ParallaxVersion string `json:"parallax_version"`
	}
	check(t, json.Unmarshal([]byte(must[string](t)(rt.DescribeJSON())), &doc))
	if doc.CPU.Logical != caps.CPULogical || doc.CPU.Usable != caps.CPUUsable || doc.Options.RAMFraction != 0.75 ||
		doc.ParallaxVersion != VersionString() {
		t.Fatalf("describe %+v", doc)
	}
}

func TestContainerProfileCaps(t *testing.T) {
	caps := must[Caps](t)(newRuntime(t, "container-64c-quota2-2g").Caps())
	if caps.CPULogical != 128 || caps.CPUPhysical != 64 || caps.CPUUsable != 2 || caps.CPUQuota != 2 {
		t.Fatalf("%+v", caps)
	}
	if caps.MemoryLimitBytes != 2<<30 || caps.MemoryBudgetBytes != int64(0.75*2*(1<<30)) {
		t.Fatalf("%+v", caps)
	}
	if caps.CgroupVersion != 2 || caps.NUMANodes != 2 || caps.CacheL3Bytes != 50331648 || !caps.FromProfile ||
		len(caps.Devices) != 0 {
		t.Fatalf("%+v", caps)
	}
	laptop := must[Caps](t)(newRuntime(t, "laptop-8c-16g", func(o *RuntimeOptions) { o.RAMFraction = 0.5 }).Caps())
	if laptop.MemoryBudgetBytes != 12884901888/2 || laptop.MemoryLimitBytes != Unlimited || laptop.CPUQuota != 0 {
		t.Fatalf("%+v", laptop)
	}
}

func TestProfileAsTextAndDevicesPolicyTypesFilter(t *testing.T) {
	path := profile(t, "workstation-32c-128g-1gpu")
	text, err := os.ReadFile(path)
	check(t, err)
	fromText, err := NewRuntime(&RuntimeOptions{MachineProfile: string(text)})
	check(t, err)
	defer fromText.Close()
	caps := must[Caps](t)(fromText.Caps())
	if caps.CPUUsable != 64 || len(caps.Devices) != 1 {
		t.Fatalf("%+v", caps)
	}
	gpu := caps.Devices[0]
	if gpu.Name != "NVIDIA GeForce RTX 4090" || gpu.Vendor != "NVIDIA Corporation" || gpu.Type != DeviceTypeGPU ||
		gpu.ComputeUnits != 128 || gpu.GlobalMemoryBytes != 24<<30 || !gpu.FP64 || gpu.UnifiedMemory ||
		!gpu.Usable || !gpu.Simulated {
		t.Fatalf("%+v", gpu)
	}
	if again := must[DeviceInfo](t)(fromText.Device(0)); again != gpu {
		t.Fatalf("Device(0) = %+v", again)
	}
	_, err = fromText.Device(1)
	requireStatus(t, err, ErrInvalidArgument, "index")
	for _, o := range []RuntimeOptions{{DeviceTypes: DeviceTypeCPU}, {DeviceFilter: "amd"}, {DevicePolicy: DeviceCPUOnly}} {
		o.MachineProfile = path
		rt, err := NewRuntime(&o)
		check(t, err)
		if d := must[DeviceInfo](t)(rt.Device(0)); d.Usable {
			t.Fatalf("%+v: usable", o)
		}
		rt.Close()
	}
}

func TestPlansOnProfiles(t *testing.T) {
	const frame = 24883200 // 3840 x 2160 x 3 bytes
	plan := must[*Plan](t)(newRuntime(t, "container-64c-quota2-2g").Plan(Workload{Items: 13000, BytesPerItem: frame}))
	defer plan.Close()
	if plan.CPUWorkers != 2 || !plan.Streaming || plan.UseGPU || plan.ItemsPerChunk != 32 || plan.ChunkCount != 407 ||
		plan.MaxChunkBytes != 805306368 || plan.MemoryBudgetBytes != 1610612736 || plan.TotalBytes != 13000.0*frame ||
		len(plan.Devices) != 0 || plan.Name != "workload" {
		t.Fatalf("%+v", plan.PlanInfo)
	}
	ws := newRuntime(t, "workstation-32c-128g-1gpu")
	mixed := must[*Plan](t)(ws.Plan(Workload{Name: "stack", Kind: WorkloadMixed, Layout: LayoutRowsAcrossItems,
		Items: 13000, BytesPerItem: frame, Rows: 1080, BytesPerRow: 23040, WorkingSetFactor: 3}))
	defer mixed.Close()
	if !mixed.UseGPU || mixed.DeviceCount != 1 || mixed.GPURowsPerChunk != 5 || mixed.CPUWorkers != 63 ||
		mixed.MaxChunkBytes != 495458011 || mixed.Name != "stack" {
		t.Fatalf("%+v", mixed.PlanInfo)
	}
	d := mixed.Devices[0]
	if d.Share != 1 || d.DeviceIndex != 0 || d.RowsPerChunk != 5 || d.MemoryBudgetBytes != 12<<30 {
		t.Fatalf("%+v", d)
	}
	if again := must[PlanDevice](t)(mixed.DeviceAt(0)); again != d {
		t.Fatalf("DeviceAt(0) = %+v", again)
	}
	_, err := mixed.DeviceAt(1)
	requireStatus(t, err, ErrInvalidArgument)
	reasons := must[[]string](t)(mixed.Reasons())
	found := false
	for _, r := range reasons {
		found = found || strings.Contains(r, "Device 0")
	}
	if len(reasons) < 3 || !found {
		t.Fatalf("reasons %q", reasons)
	}
	cpu := must[*Plan](t)(ws.Plan(Workload{Items: 13000, BytesPerItem: frame, Kind: WorkloadMixed, PreferredDevice: PreferCPU}))
	if cpu.UseGPU || cpu.CPUWorkers != 64 {
		t.Fatalf("%+v", cpu.PlanInfo)
	}
	capped := newRuntime(t, "laptop-8c-16g", func(o *RuntimeOptions) { o.MaxCPUWorkers = 6 })
	if must[*Plan](t)(capped.Plan(Workload{Items: 100, BytesPerItem: 1 << 20})).CPUWorkers != 6 ||
		must[*Plan](t)(capped.Plan(Workload{Items: 100, BytesPerItem: 1 << 20, MaxWorkers: 3})).CPUWorkers != 3 {
		t.Fatal("MaxCPUWorkers and MaxWorkers cap the workers")
	}
}
