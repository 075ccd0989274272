package parallax

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestOneSentinelPerStatus(t *testing.T) {
	sentinels := []*Error{ErrInvalidArgument, ErrOutOfMemory, ErrDevice, ErrNoDevice, ErrCancelled, ErrTaskFailed,
		ErrUnsupported, ErrVersion, ErrIO, ErrInternal, ErrBufferTooSmall, ErrTimeout}
	for i, sentinel := range sentinels {
		if sentinel.Status != Status(i+1) {
			t.Fatalf("sentinel %d has status %v", i, sentinel.Status)
		}
		err := fmt.Errorf("wrapped: %w", &Error{Status: Status(i + 1), Message: "why", Op: "plx_x"})
		for j, other := range sentinels {
			if errors.Is(err, other) != (i == j) {
				t.Fatalf("errors.Is(%v, %v) = %v", err, other.Status, !(i == j))
			}
		}
	}
	e := &Error{Status: StatusInvalidArgument, Message: "plx_plan_create: items must be >= 1", Op: "plx_plan_create"}
	if e.Error() != "parallax: PLX_ERR_INVALID_ARGUMENT: plx_plan_create: items must be >= 1" {
		t.Fatalf("Error() = %q", e.Error())
	}
	unknown := &Error{Status: 1234, Message: "new"}
	if !strings.Contains(unknown.Error(), "PLX_ERR_UNKNOWN") || errors.Is(unknown, ErrInternal) {
		t.Fatalf("unknown status: %v", unknown)
	}
}

func TestBadWorkloadsCarryTheLibraryMessage(t *testing.T) {
	rt := tiny(t)
	cases := []struct {
		w     Workload
		field string
	}{
		{Workload{Items: 0}, "items"},
		{Workload{Items: -5}, "items"},
		{Workload{WorkingSetFactor: math.NaN()}, "working_set_factor"},
		{Workload{WorkingSetFactor: 0.5}, "working_set_factor"},
		{Workload{BytesPerItem: -1}, "bytes_per_item"},
		{Workload{Rows: 100, BytesPerRow: 1 << 20}, "bytes_per_row"},
		{Workload{Layout: LayoutRowsAcrossItems}, "rows"},
		{Workload{Kind: 99}, "kind"},
		{Workload{Layout: 7}, "layout"},
		{Workload{PreferredDevice: 9}, "preferred_device"},
		{Workload{MaxWorkers: -1}, "max_workers"},
	}
	for _, c := range cases {
		w := c.w
		if w.Items == 0 && c.field != "items" {
			w.Items = 10
		}
		if w.BytesPerItem == 0 {
			w.BytesPerItem = 1000
		}
		_, err := rt.Plan(w)
		e := requireStatus(t, err, ErrInvalidArgument, c.field)
		if e.Op != "plx_plan_create" || !strings.HasPrefix(e.Error(), "parallax: PLX_ERR_INVALID_ARGUMENT") {
			t.Fatalf("%+v: %v", c.w, e)
		}
	}
	// A failure leaves a usable runtime.
	if must[*Plan](t)(rt.Plan(Workload{Items: 10, BytesPerItem: 1000})).CPUWorkers != 2 {
		t.Fatal("tiny plans 2 workers")
	}
}

func TestBadRuntimeOptionsCarryTheLibraryMessage(t *testing.T) {
	cases := []struct {
		o     RuntimeOptions
		field string
	}{
		{RuntimeOptions{RAMFraction: 1.5}, "ram_fraction"},
		{RuntimeOptions{RAMFraction: math.NaN()}, "ram_fraction"},
		{RuntimeOptions{VRAMFraction: -0.1}, "vram_fraction"},
		{RuntimeOptions{MaxCPUWorkers: -1}, "max_cpu_workers"},
		{RuntimeOptions{DevicePolicy: 9}, "device_policy"},
		{RuntimeOptions{DeviceTypes: 64}, "device_types"},
		{RuntimeOptions{Sysroot: "/nonexistent-root"}, "sysroot"},
		{RuntimeOptions{LogLevel: 9, Log: func(LogLevel, string) {}}, "log_level"},
		{RuntimeOptions{FaultInjection: "task=x:out_of_memory"}, "fault injection rule"},
		{RuntimeOptions{FaultInjection: "chunk=1@2:io"}, "attempts apply to tasks only"},
		{RuntimeOptions{FaultInjection: "task=1:no_such_status"}, "unknown status"},
		{RuntimeOptions{DeviceReplicas: 17}, "device_replicas"},
	}
	for _, c := range cases {
		o := c.o
		o.MachineProfile = profile(t, "tiny-2c-4g")
		rt, err := NewRuntime(&o)
		if rt != nil {
			t.Fatalf("%+v: a runtime", c.o)
		}
		requireStatus(t, err, ErrInvalidArgument, c.field)
	}
}

func TestProfileErrors(t *testing.T) {
	_, err := NewRuntime(&RuntimeOptions{MachineProfile: "/nonexistent.json"})
	requireStatus(t, err, ErrIO, "/nonexistent.json")
	_, err = NewRuntime(&RuntimeOptions{MachineProfile: `{"cpu": {"logical": "eight"}, "memory": {"total_bytes": 1}}`})
	requireStatus(t, err, ErrInvalidArgument, "line", "/cpu/logical")
}

func TestNotEvenOneWorkerFits(t *testing.T) {
	_, err := tiny(t).Plan(Workload{Items: 10, BytesPerItem: 1 << 20, PerWorkerBytes: 3 << 30})
	requireStatus(t, err, ErrOutOfMemory, "per_worker_bytes")
}

func TestRequiredDeviceMissing(t *testing.T) {
	_, err := NewRuntime(&RuntimeOptions{DevicePolicy: DeviceGPURequired, DeviceFilter: "no-such-device",
		MachineProfile: profile(t, "tiny-2c-4g")})
	requireStatus(t, err, ErrNoDevice, "no-such-device")
}

func TestClosedHandlesRefuseCallsAndCloseIsIdempotent(t *testing.T) {
	rt := tiny(t)
	plan := must[*Plan](t)(rt.Plan(Workload{Items: 100, BytesPerItem: 1 << 20}))
	token := must[*CancelToken](t)(NewCancelToken())
	check(t, rt.Close())
	check(t, rt.Close())
	if !rt.Closed() {
		t.Fatal("not closed")
	}
	_, err := rt.Caps()
	requireStatus(t, err, ErrInvalidArgument, "runtime is closed")
	_, err = rt.DescribeJSON()
	requireStatus(t, err, ErrInvalidArgument, "closed")
	_, err = rt.Plan(Workload{Items: 1})
	requireStatus(t, err, ErrInvalidArgument, "closed")
	_, err = rt.ParallelFor(0, 1, func(int64, int64, int) error { return nil }, nil)
	requireStatus(t, err, ErrInvalidArgument, "closed")
	// Plans outlive their runtime.
	text := must[string](t)(plan.DescribeJSON())
	check(t, plan.Close())
	check(t, plan.Close())
	_, err = plan.DescribeJSON()
	requireStatus(t, err, ErrInvalidArgument, "plan is closed")
	if plan.CPUWorkers != 2 || !strings.Contains(text, "reasons") {
		t.Fatal("the numbers stay readable")
	}
	check(t, token.Close())
	token.Cancel()
	if token.Cancelled() {
		t.Fatal("a closed token reads as not cancelled")
	}
	rt2 := tiny(t)
	_, err = rt2.ParallelFor(0, 1, func(int64, int64, int) error { return nil }, &RunOptions{Cancel: token})
	requireStatus(t, err, ErrInvalidArgument, "cancel token is closed")
	_, err = rt2.ParallelFor(0, 1, func(int64, int64, int) error { return nil }, &RunOptions{Plan: plan})
	requireStatus(t, err, ErrInvalidArgument, "plan is closed")
}

func TestSmallNamesAndStates(t *testing.T) {
	for level, name := range map[LogLevel]string{LogOff: "OFF", LogError: "ERROR", LogWarn: "WARN", LogInfo: "INFO",
		LogDebug: "DEBUG", 9: "LogLevel(9)"} {
		if level.String() != name {
			t.Fatalf("%d: %q", level, level.String())
		}
	}
	if Code(7).Error() != "callback failed with code 7" || returnCode(Code(0)) != -1 || returnCode(Code(3)) != 3 ||
		returnCode(errors.New("x")) != -1 {
		t.Fatal("codes")
	}
	p := &PanicError{Value: 42}
	if p.Error() != "panic in a parallax callback: 42" || p.Unwrap() != nil {
		t.Fatal(p.Error())
	}
	plan := must[*Plan](t)(tiny(t).Plan(Workload{Items: 1, BytesPerItem: 1}))
	if plan.Closed() || plan.Close() != nil || !plan.Closed() {
		t.Fatal("Plan.Closed")
	}
}
