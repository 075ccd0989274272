package parallax

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallelForAsync(t *testing.T) {
	rt := tiny(t)
	var items int64
	job := must[*Job](t)(rt.ParallelForAsync(0, 1000, func(b, e int64, _ int) error {
		atomic.AddInt64(&items, e-b)
		return nil
	}, &RunOptions{Grain: 10}))
	check(t, job.Wait(-1))
	check(t, job.Wait(-1)) // the same outcome again
	if done := must[bool](t)(job.Done()); !done || items != 1000 || job.Report().Chunks != 100 {
		t.Fatalf("done %v items %d report %+v", done, items, job.Report())
	}
	check(t, job.Close())
	check(t, job.Close())
	check(t, job.Wait(0)) // the outcome outlives the handle
}

func TestJobTimeoutPollCancel(t *testing.T) {
	rt := tiny(t)
	release := make(chan struct{})
	job := must[*Job](t)(rt.ParallelForAsync(0, 100, func(int64, int64, int) error {
		<-release
		return nil
	}, &RunOptions{Grain: 1, Workers: 1}))
	requireStatus(t, job.Wait(10*time.Millisecond), ErrTimeout)
	if done := must[bool](t)(job.Done()); done {
		t.Fatal("done while blocked")
	}
	check(t, job.Cancel())
	close(release)
	requireStatus(t, job.Wait(-1), ErrCancelled)
	check(t, job.Close())

	boom := errors.New("async boom")
	failing := must[*Job](t)(rt.ParallelForAsync(0, 10, func(int64, int64, int) error { return boom }, nil))
	err := failing.Wait(-1)
	if !errors.Is(err, ErrTaskFailed) || !errors.Is(err, boom) {
		t.Fatalf("%v", err)
	}
	failing.Close()
}

func TestSubmitTasks(t *testing.T) {
	rt := tiny(t)
	job := must[*Job](t)(rt.SubmitTasks([]Task{
		{Fn: func(*TaskContext) error { return nil }},
		{Fn: func(*TaskContext) error { panic("bad task") }},
	}, nil))
	err := job.Wait(5 * time.Second)
	requireStatus(t, err, ErrTaskFailed)
	results := job.TaskResults()
	if len(results.Tasks) != 2 || !results.Tasks[0].OK() || results.Tasks[1].Status != StatusTaskFailed {
		t.Fatalf("%+v", results)
	}
	check(t, job.Close())
}

func TestClosingAJobCancelsIt(t *testing.T) {
	rt := tiny(t)
	var chunks int64
	job := must[*Job](t)(rt.ParallelForAsync(0, 100000, func(int64, int64, int) error {
		atomic.AddInt64(&chunks, 1)
		time.Sleep(100 * time.Microsecond)
		return nil
	}, &RunOptions{Grain: 1, Workers: 1}))
	time.Sleep(5 * time.Millisecond)
	check(t, job.Close())
	requireStatus(t, job.Wait(-1), ErrCancelled)
	if chunks >= 100000 {
		t.Fatal("not cancelled")
	}
}

func TestWaitingForAJobFromItsOwnCallbackIsRefused(t *testing.T) {
	rt := tiny(t)
	var job *Job
	ready := make(chan struct{})
	refused := make(chan [3]error, 1)
	job = must[*Job](t)(rt.ParallelForAsync(0, 1, func(int64, int64, int) error {
		<-ready
		refused <- [3]error{job.Wait(-1), job.Close(), rt.Close()}
		return nil
	}, nil))
	close(ready)
	errs := <-refused
	requireStatus(t, errs[0], ErrInvalidArgument, "own callbacks")
	requireStatus(t, errs[1], ErrInvalidArgument, "own callbacks")
	requireStatus(t, errs[2], ErrInvalidArgument, "jobs")
	check(t, job.Wait(-1))
	check(t, job.Close())
}

func TestClosingTheRuntimeCancelsItsJobs(t *testing.T) {
	rt, err := NewRuntime(&RuntimeOptions{MachineProfile: profile(t, "tiny-2c-4g")})
	check(t, err)
	job := must[*Job](t)(rt.ParallelForAsync(0, 100000, func(int64, int64, int) error {
		time.Sleep(50 * time.Microsecond)
		return nil
	}, &RunOptions{Grain: 1, Workers: 1}))
	check(t, rt.Close())
	requireStatus(t, job.Wait(-1), ErrCancelled)
	check(t, job.Close())
}

func TestADroppedJobRunsToItsEndAndIsFreed(t *testing.T) {
	rt := tiny(t)
	var items int64
	func() {
		_, err := rt.ParallelForAsync(0, 1000, func(b, e int64, _ int) error {
			atomic.AddInt64(&items, e-b)
			return nil
		}, &RunOptions{Grain: 10})
		check(t, err)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		collect()
		rt.mu.Lock()
		live := len(rt.jobs)
		rt.mu.Unlock()
		if live == 0 && atomic.LoadInt64(&items) == 1000 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d live jobs, %d items", live, items)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
