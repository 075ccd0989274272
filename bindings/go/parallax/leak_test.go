package parallax

import (
	"testing"
)

const cycles = 10000

// measureGrowth runs warm cycles, then cycles more, and gives the RSS growth
// over the latter. Over the bound, it measures a second batch and gives the
// smaller growth: a leak grows RSS in every batch, while the allocators'
// warm-up (glibc's arenas for the OS threads cgo calls land on: more of them
// on a loaded machine) happens once; one batch alone grew 4.6 MB once under
// load.
func measureGrowth(t *testing.T, cycle func(i int)) int64 {
	for i := 0; i < 500; i++ {
		cycle(i)
	}
	batch := func() int64 {
		collect()
		before := rssBytes(t)
		for i := 0; i < cycles; i++ {
			cycle(i)
		}
		collect()
		growth := rssBytes(t) - before
		t.Logf("RSS grew %d bytes over %d cycles", growth, cycles)
		return growth
	}
	growth := batch()
	if growth > cycles*400 {
		growth = min64(growth, batch())
	}
	return growth
}

// A leaked runtime with its plan, log handle and token costs kilobytes: 10,000
// leaked cycles would grow RSS by tens of MiB. The bound allows 400 bytes a
// cycle (for the Go heap's own growth).
func TestTenThousandCreateCloseCyclesDoNotGrowRSS(t *testing.T) {
	path := profile(t, "laptop-8c-16g")
	lines := 0
	growth := measureGrowth(t, func(i int) {
		rt, err := NewRuntime(&RuntimeOptions{MachineProfile: path, Log: func(LogLevel, string) { lines++ }})
		check(t, err)
		plan, err := rt.Plan(Workload{Items: 100, BytesPerItem: 1 << 20})
		check(t, err)
		token, err := NewCancelToken()
		check(t, err)
		if plan.CPUWorkers != 16 {
			t.Fatalf("plan workers %d", plan.CPUWorkers)
		}
		check(t, token.Close())
		check(t, plan.Close())
		check(t, rt.Close())
	})
	if growth > cycles*400 || lines < cycles {
		t.Fatalf("RSS grew %d bytes over %d cycles (%d log lines)", growth, cycles, lines)
	}
}

func TestFinalizersReleaseWhatWasNotClosed(t *testing.T) {
	path := profile(t, "laptop-8c-16g")
	growth := measureGrowth(t, func(i int) {
		rt, err := NewRuntime(&RuntimeOptions{MachineProfile: path})
		check(t, err)
		_, err = rt.Plan(Workload{Items: 100, BytesPerItem: 1 << 20})
		check(t, err)
		_, err = NewCancelToken()
		check(t, err)
		if i%100 == 99 {
			collect() // let the finalizers' goroutines catch up
		}
	})
	if growth > cycles*400 {
		t.Fatalf("RSS grew %d bytes over %d unclosed cycles", growth, cycles)
	}
}

func TestRunsReleaseTheirCallbacksAndMemory(t *testing.T) {
	rt := tiny(t)
	growth := measureGrowth(t, func(i int) {
		_, err := rt.ParallelFor(0, 64, func(int64, int64, int) error { return nil }, &RunOptions{Grain: 16, Name: "leak"})
		check(t, err)
		if i%10 == 0 {
			_, err = rt.RunTasks([]Task{{Fn: func(*TaskContext) error { return nil }, Name: "t"}}, nil)
			check(t, err)
		}
	})
	if growth > cycles*400 {
		t.Fatalf("RSS grew %d bytes over %d runs", growth, cycles)
	}
}
