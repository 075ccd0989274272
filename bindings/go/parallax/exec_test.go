package parallax

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestParallelForVisitsEveryItemOnce(t *testing.T) {
	rt := tiny(t)
	const n = 100003
	seen := make([]int32, n)
	var workers sync.Map
	report := must[RunReport](t)(rt.ParallelFor(0, n, func(begin, end int64, worker int) error {
		workers.Store(worker, true)
		for i := begin; i < end; i++ {
			atomic.AddInt32(&seen[i], 1)
		}
		return nil
	}, &RunOptions{Workers: 3, Grain: 1000}))
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("item %d visited %d times", i, c)
		}
	}
	workers.Range(func(k, _ any) bool {
		if w := k.(int); w < 0 || w >= 3 {
			t.Fatalf("worker %d", w)
		}
		return true
	})
	if report.Workers != 3 || report.Chunks != 101 || report.Failed != 0 || report.FailedBegin != -1 {
		t.Fatalf("%+v", report)
	}
	// Empty range; a range starting elsewhere.
	if r := must[RunReport](t)(rt.ParallelFor(5, 5, func(int64, int64, int) error { return nil }, nil)); r.Chunks != 0 {
		t.Fatalf("%+v", r)
	}
	var total int64
	must[RunReport](t)(rt.ParallelFor(-50, 50, func(b, e int64, _ int) error {
		atomic.AddInt64(&total, e-b)
		return nil
	}, nil))
	if total != 100 {
		t.Fatalf("total %d", total)
	}
}

func TestParallelForWithAPlan(t *testing.T) {
	rt := tiny(t)
	plan := must[*Plan](t)(rt.Plan(Workload{Items: 1000, BytesPerItem: 1 << 20}))
	report := must[RunReport](t)(rt.ParallelFor(0, 1000, func(int64, int64, int) error { return nil },
		&RunOptions{Plan: plan, Name: "planned"}))
	if report.Workers != plan.CPUWorkers || report.Chunks != plan.ChunkCount {
		t.Fatalf("report %+v, plan %+v", report, plan.PlanInfo)
	}
}

func TestACallbackErrorFailsTheLoopWithTheLibraryMessage(t *testing.T) {
	rt := tiny(t)
	boom := errors.New("boom")
	_, err := rt.ParallelFor(0, 100, func(begin, end int64, _ int) error {
		if begin <= 42 && 42 < end {
			return boom
		}
		return nil
	}, &RunOptions{Grain: 10, Workers: 1})
	e := requireStatus(t, err, ErrTaskFailed, "[40, 50)")
	if !errors.Is(err, boom) || e.Cause != boom || e.Report == nil || e.Report.FailedBegin != 40 ||
		e.Report.FailedEnd != 50 {
		t.Fatalf("%v cause %v report %+v", err, e.Cause, e.Report)
	}
	_, err = rt.ParallelFor(0, 100, func(begin, end int64, _ int) error {
		if begin == 20 {
			return Code(7)
		}
		return nil
	}, &RunOptions{Grain: 10, Workers: 1})
	e = requireStatus(t, err, ErrTaskFailed)
	if e.Report.CallbackCode != 7 {
		t.Fatalf("callback code %d", e.Report.CallbackCode)
	}
}

func TestAPanicInACallbackBecomesATaskFailure(t *testing.T) {
	rt := tiny(t)
	for _, workers := range []int32{1, 2} {
		_, err := rt.ParallelFor(0, 1000, func(begin, end int64, _ int) error {
			if begin <= 500 && 500 < end {
				panic(fmt.Sprintf("kaboom at %d", begin))
			}
			return nil
		}, &RunOptions{Grain: 100, Workers: workers})
		requireStatus(t, err, ErrTaskFailed, "[500, 600)")
		var p *PanicError
		if !errors.As(err, &p) || p.Value != "kaboom at 500" || !strings.Contains(string(p.Stack), "exec_test.go") {
			t.Fatalf("%v: %#v", err, p)
		}
	}
	// A panic with an error value unwraps to it.
	sentinel := errors.New("inner")
	_, err := rt.ParallelFor(0, 10, func(int64, int64, int) error { panic(sentinel) }, nil)
	if !errors.Is(err, sentinel) || !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("%v", err)
	}
	// The runtime goes on working.
	must[RunReport](t)(rt.ParallelFor(0, 10, func(int64, int64, int) error { return nil }, nil))
}

func TestBadRunArguments(t *testing.T) {
	rt := tiny(t)
	nop := func(int64, int64, int) error { return nil }
	_, err := rt.ParallelFor(10, 0, nop, nil)
	requireStatus(t, err, ErrInvalidArgument, "begin")
	_, err = rt.ParallelFor(0, 10, nil, nil)
	requireStatus(t, err, ErrInvalidArgument, "fn")
	_, err = rt.ParallelFor(0, 10, nop, &RunOptions{Workers: -1})
	requireStatus(t, err, ErrInvalidArgument, "workers")
	_, err = rt.ParallelFor(0, 10, nop, &RunOptions{ProgressInterval: -time.Second})
	requireStatus(t, err, ErrInvalidArgument, "progress_interval_ms")
	_, err = rt.RunTasks([]Task{{Fn: func(*TaskContext) error { return nil }}}, &RunOptions{MaxAttempts: 2000})
	requireStatus(t, err, ErrInvalidArgument, "max_attempts")
	_, err = rt.RunTasks([]Task{{}}, nil)
	requireStatus(t, err, ErrInvalidArgument, "tasks[0].Fn")
}

func TestProgressReportsAndCancels(t *testing.T) {
	rt := tiny(t)
	var mu sync.Mutex
	var seen []Progress
	must[RunReport](t)(rt.ParallelFor(0, 1000, func(int64, int64, int) error {
		time.Sleep(200 * time.Microsecond)
		return nil
	}, &RunOptions{Grain: 10, BytesPerItem: 4, ProgressInterval: time.Microsecond, Progress: func(p Progress) error {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
		return nil
	}}))
	last := seen[len(seen)-1]
	if len(seen) < 2 || last.Done != 1000 || last.Total != 1000 || last.BytesDone != 4000 || last.Elapsed <= 0 {
		t.Fatalf("%d calls, last %+v", len(seen), last)
	}
	if seen[0].ETA >= 0 && seen[0].Done == 0 {
		t.Fatalf("ETA before anything was done: %+v", seen[0])
	}

	stop := errors.New("enough")
	var chunks int64
	_, err := rt.ParallelFor(0, 1000, func(int64, int64, int) error {
		atomic.AddInt64(&chunks, 1)
		time.Sleep(time.Millisecond)
		return nil
	}, &RunOptions{Grain: 1, Workers: 1, ProgressInterval: time.Microsecond, Progress: func(p Progress) error {
		if p.Done >= 5 {
			return stop
		}
		return nil
	}})
	e := requireStatus(t, err, ErrCancelled)
	if e.Cause != stop || chunks >= 1000 {
		t.Fatalf("cause %v after %d chunks", e.Cause, chunks)
	}
	_, err = rt.ParallelFor(0, 100, func(int64, int64, int) error { return nil },
		&RunOptions{Grain: 1, ProgressInterval: time.Microsecond, Progress: func(Progress) error { panic("progress boom") }})
	var p *PanicError
	if !errors.Is(err, ErrCancelled) || !errors.As(err, &p) || p.Value != "progress boom" {
		t.Fatalf("%v", err)
	}
}

func TestCancelTokenStopsRuns(t *testing.T) {
	rt := tiny(t)
	token := must[*CancelToken](t)(NewCancelToken())
	defer token.Close()
	if token.Cancelled() {
		t.Fatal("a new token is not cancelled")
	}
	var chunks int64
	_, err := rt.ParallelFor(0, 1000, func(int64, int64, int) error {
		if atomic.AddInt64(&chunks, 1) == 10 {
			token.Cancel()
		}
		return nil
	}, &RunOptions{Grain: 1, Workers: 1, Cancel: token})
	requireStatus(t, err, ErrCancelled)
	if !token.Cancelled() || chunks >= 1000 {
		t.Fatalf("cancelled %v after %d chunks", token.Cancelled(), chunks)
	}
	// A cancelled token stops the next run before it starts.
	_, err = rt.RunTasks([]Task{{Fn: func(*TaskContext) error { return nil }}}, &RunOptions{Cancel: token})
	requireStatus(t, err, ErrCancelled)
}

// The callbacks that run on the library's own threads (not the calling one)
// panic: every one is contained, the loop fails, and the process lives on.
func TestAPanicOnALibraryThreadIsContained(t *testing.T) {
	rt := tiny(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	caller := syscall.Gettid()
	var foreign int64
	_, err := rt.ParallelFor(0, 200, func(int64, int64, int) error {
		time.Sleep(200 * time.Microsecond)
		if syscall.Gettid() != caller {
			atomic.AddInt64(&foreign, 1)
			panic("from a library thread")
		}
		return nil
	}, &RunOptions{Grain: 1, Workers: 2})
	if atomic.LoadInt64(&foreign) == 0 {
		t.Skip("no chunk ran on a library thread")
	}
	var p *PanicError
	if !errors.Is(err, ErrTaskFailed) || !errors.As(err, &p) || p.Value != "from a library thread" {
		t.Fatalf("%v", err)
	}
}
