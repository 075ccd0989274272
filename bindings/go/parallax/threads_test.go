package parallax

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var profiles = []string{"container-64c-quota2-2g", "laptop-8c-16g", "server-128c-2numa-512g-4gpu", "tiny-2c-4g",
	"workstation-32c-128g-1gpu"}

var bigWorkload = Workload{Items: 13000, BytesPerItem: 24883200, Rows: 1080, BytesPerRow: 23040, Kind: WorkloadMixed,
	Layout: LayoutRowsAcrossItems, WorkingSetFactor: 2}

type fingerprint struct {
	caps    Caps
	info    PlanInfo
	devices []PlanDevice
	reasons []string
}

func fingerprintOf(t testing.TB, path string) (fingerprint, error) {
	rt, err := NewRuntime(&RuntimeOptions{MachineProfile: path})
	if err != nil {
		return fingerprint{}, err
	}
	defer rt.Close()
	caps, err := rt.Caps()
	if err != nil {
		return fingerprint{}, err
	}
	plan, err := rt.Plan(bigWorkload)
	if err != nil {
		return fingerprint{}, err
	}
	defer plan.Close()
	reasons, err := plan.Reasons()
	return fingerprint{caps, plan.PlanInfo, plan.Devices, reasons}, err
}

func TestGoroutinesCreateRuntimesAndPlans(t *testing.T) {
	expected := map[string]fingerprint{}
	for _, name := range profiles {
		path := profile(t, name)
		expected[path] = must[fingerprint](t)(fingerprintOf(t, path))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				path := profile(t, profiles[(g+i)%len(profiles)])
				got, err := fingerprintOf(t, path)
				if err == nil && !reflect.DeepEqual(got, expected[path]) {
					err = fmt.Errorf("%s: %+v, want %+v", path, got.info, expected[path].info)
				}
				if err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// One runtime shared by goroutines: plans, loops, sums, tasks and stacks at
// once, each with the right result.
func TestOneRuntimeSharedByGoroutines(t *testing.T) {
	rt := newRuntime(t, "laptop-8c-16g")
	frames := cube(6, 5, 16, 16)
	o := DefaultStackOptions()
	o.Reject = RejectSigmaClip
	want := must[*StackResult](t)(rt.Stack(StackInput{Frames: frames, Height: 16, Width: 16}, &o))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := sharedWork(rt, g, frames, &o, want); err != nil {
					errs <- fmt.Errorf("goroutine %d, round %d: %w", g, i, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func sharedWork(rt *Runtime, g int, frames [][]float32, o *StackOptions, want *StackResult) error {
	plan, err := rt.Plan(Workload{Items: int64(1000 + g), BytesPerItem: 1 << 20})
	if err != nil {
		return err
	}
	defer plan.Close()
	if plan.CPUWorkers != 16 {
		return fmt.Errorf("plan workers %d", plan.CPUWorkers)
	}
	var items int64
	if _, err := rt.ParallelFor(0, 5000, func(b, e int64, _ int) error {
		atomic.AddInt64(&items, e-b)
		return nil
	}, &RunOptions{Plan: plan, Grain: 100}); err != nil || items != 5000 {
		return fmt.Errorf("parallel_for: %d items, %v", items, err)
	}
	sum, err := ParallelSum(rt, 0, 10000, func(b, e int64, _ int) (int64, error) {
		s := int64(0)
		for i := b; i < e; i++ {
			s += i * int64(g)
		}
		return s, nil
	}, &RunOptions{Workers: 3})
	if err != nil || sum != int64(g)*9999*10000/2 {
		return fmt.Errorf("sum %d, %v", sum, err)
	}
	results, err := rt.RunTasks([]Task{{Fn: func(*TaskContext) error { return nil }},
		{Fn: func(*TaskContext) error { return nil }}}, nil)
	if err != nil || !results.Tasks[1].OK() {
		return fmt.Errorf("tasks: %v", err)
	}
	got, err := rt.Stack(StackInput{Frames: frames, Height: 16, Width: 16}, o)
	if err != nil {
		return err
	}
	for i := range got.Image {
		if math.Float32bits(got.Image[i]) != math.Float32bits(want.Image[i]) || got.Count[i] != want.Count[i] {
			return fmt.Errorf("stack pixel %d: %v, want %v", i, got.Image[i], want.Image[i])
		}
	}
	return nil
}

// Errors carry the message of their own call, whatever fails on other goroutines.
func TestErrorMessagesStayWithTheirCall(t *testing.T) {
	rt := newRuntime(t, "laptop-8c-16g")
	var stop atomic.Bool
	var wg sync.WaitGroup
	var items, factors, oks int64
	fail := func(w Workload, field, not string, count *int64) {
		defer wg.Done()
		for !stop.Load() {
			_, err := rt.Plan(w)
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Message, field) || strings.Contains(e.Message, not) {
				t.Errorf("%+v: %v", w, err)
				return
			}
			atomic.AddInt64(count, 1)
		}
	}
	wg.Add(3)
	go fail(Workload{Items: 0, BytesPerItem: 1000}, "workload.items", "working_set_factor", &items)
	go fail(Workload{Items: 10, BytesPerItem: 1000, WorkingSetFactor: math.NaN()}, "working_set_factor",
		"workload.items", &factors)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			plan, err := rt.Plan(Workload{Items: 10, BytesPerItem: 1000})
			if err != nil || plan.CPUWorkers != 16 {
				t.Errorf("%v", err)
				return
			}
			plan.Close()
			atomic.AddInt64(&oks, 1)
		}
	}()
	// Until every goroutine has done its share (they may start late on a busy machine).
	deadline := time.Now().Add(30 * time.Second)
	for (atomic.LoadInt64(&items) < 300 || atomic.LoadInt64(&factors) < 100 || atomic.LoadInt64(&oks) < 100) &&
		!t.Failed() && time.Now().Before(deadline) {
		_, err := rt.Plan(Workload{Items: 0, BytesPerItem: 1000})
		requireStatus(t, err, ErrInvalidArgument, "workload.items")
	}
	stop.Store(true)
	wg.Wait()
	if items < 300 || factors < 100 || oks < 100 {
		t.Fatalf("items %d factors %d oks %d", items, factors, oks)
	}
}

// Calls in flight when Close runs finish normally; every later call gets a clean error.
func TestCloseWhileOtherGoroutinesCall(t *testing.T) {
	rt, err := NewRuntime(&RuntimeOptions{MachineProfile: profile(t, "laptop-8c-16g")})
	check(t, err)
	var wg sync.WaitGroup
	var started sync.WaitGroup
	outcomes := make([][]string, 4)
	for g := range outcomes {
		wg.Add(1)
		started.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				if i == 10 {
					started.Done()
				}
				plan, err := rt.Plan(Workload{Items: 10, BytesPerItem: 1000})
				if err != nil {
					outcomes[g] = append(outcomes[g], err.Error())
					return
				}
				outcomes[g] = append(outcomes[g], fmt.Sprint(plan.CPUWorkers))
				plan.Close()
			}
		}(g)
	}
	started.Wait()
	check(t, rt.Close())
	wg.Wait()
	for g, o := range outcomes {
		last := o[len(o)-1]
		if !strings.Contains(last, "runtime is closed") {
			t.Fatalf("goroutine %d ended with %q", g, last)
		}
		for _, v := range o[:len(o)-1] {
			if v != "16" {
				t.Fatalf("goroutine %d: %q", g, v)
			}
		}
	}
}

func TestConcurrentJobsOnOneRuntime(t *testing.T) {
	rt := tiny(t)
	var jobs []*Job
	counts := make([]int64, 6)
	for j := range counts {
		j := j
		jobs = append(jobs, must[*Job](t)(rt.ParallelForAsync(0, 1000, func(b, e int64, _ int) error {
			atomic.AddInt64(&counts[j], e-b)
			return nil
		}, &RunOptions{Grain: 10})))
	}
	for j, job := range jobs {
		check(t, job.Wait(-1))
		check(t, job.Close())
		if counts[j] != 1000 {
			t.Fatalf("job %d: %d items", j, counts[j])
		}
	}
}
