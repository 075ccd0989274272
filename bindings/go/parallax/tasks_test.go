package parallax

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fast(o *RunOptions) *RunOptions {
	if o == nil {
		o = &RunOptions{}
	}
	o.BackoffBase, o.BackoffCap, o.JitterSeed = time.Millisecond, 2*time.Millisecond, 7
	return o
}

func TestTasksReportByIndex(t *testing.T) {
	rt := tiny(t)
	out := make([]int64, 50)
	tasks := make([]Task, 50)
	for i := range tasks {
		tasks[i] = Task{Fn: func(ctx *TaskContext) error {
			time.Sleep(time.Duration(50-ctx.Index) * 20 * time.Microsecond) // finish out of order
			out[ctx.Index] = ctx.Index * ctx.Index
			return nil
		}, EstimatedBytes: 1 << 20}
	}
	results := must[TaskResults](t)(rt.RunTasks(tasks, nil))
	for i, r := range results.Tasks {
		if !r.OK() || r.Attempts != 1 || r.Message != "" || r.Err != nil || out[i] != int64(i*i) {
			t.Fatalf("task %d: %+v (%d)", i, r, out[i])
		}
	}
	if results.Report.Chunks != 50 || results.Report.Failed != 0 {
		t.Fatalf("%+v", results.Report)
	}
	empty := must[TaskResults](t)(rt.RunTasks(nil, nil))
	if len(empty.Tasks) != 0 {
		t.Fatalf("%+v", empty)
	}
}

func TestOutOfMemoryTasksAreRetried(t *testing.T) {
	rt := tiny(t)
	var attempts [3]int32
	tasks := []Task{
		{Fn: func(ctx *TaskContext) error {
			atomic.AddInt32(&attempts[0], 1)
			if ctx.Attempt < 3 {
				return fmt.Errorf("allocating: %w", ErrOutOfMemory)
			}
			return nil
		}},
		{Fn: func(ctx *TaskContext) error {
			atomic.AddInt32(&attempts[1], 1)
			if ctx.Attempt == 1 {
				ctx.ReportedBytes = ctx.EstimatedBytes * 4
				return errors.New("needed more")
			}
			if ctx.EstimatedBytes != 4<<20 {
				return fmt.Errorf("estimate %d on attempt %d", ctx.EstimatedBytes, ctx.Attempt)
			}
			return nil
		}, EstimatedBytes: 1 << 20},
		{Fn: func(ctx *TaskContext) error { atomic.AddInt32(&attempts[2], 1); return nil }},
	}
	results := must[TaskResults](t)(rt.RunTasks(tasks, fast(&RunOptions{MaxAttempts: 4})))
	if results.Tasks[0].Attempts != 3 || results.Tasks[1].Attempts != 2 || results.Tasks[2].Attempts != 1 ||
		attempts != [3]int32{3, 2, 1} || results.Report.Retries != 3 {
		t.Fatalf("%+v %v", results, attempts)
	}
}

func TestFailedTasksEndWithTheirMessages(t *testing.T) {
	rt := tiny(t)
	broken := errors.New("disk on fire")
	tasks := []Task{
		{Fn: func(*TaskContext) error { return nil }},
		{Fn: func(*TaskContext) error { return broken }, Name: "reader"},
		{Fn: func(ctx *TaskContext) error { ctx.Message = "custom why"; return errors.New("x") }},
		{Fn: func(*TaskContext) error { panic("task boom") }},
		{Fn: func(*TaskContext) error { return ErrOutOfMemory }},
		{Fn: func(*TaskContext) error { return &Error{Status: StatusIO, Message: "no file"} }},
		{Fn: func(ctx *TaskContext) error { return errors.New(strings.Repeat("é", 300)) }},
	}
	results, err := rt.RunTasks(tasks, fast(&RunOptions{MaxAttempts: 2}))
	e := requireStatus(t, err, ErrTaskFailed)
	if e.Cause != broken || len(e.Results) != len(tasks) || e.Report == nil {
		t.Fatalf("%v: cause %v", err, e.Cause)
	}
	r := results.Tasks
	if !r[0].OK() || r[1].Status != StatusTaskFailed || r[1].Message != "disk on fire" || r[1].Err != broken {
		t.Fatalf("%+v %+v", r[0], r[1])
	}
	if r[2].Message != "custom why" || r[3].Status != StatusTaskFailed || !strings.Contains(r[3].Message, "task boom") {
		t.Fatalf("%+v %+v", r[2], r[3])
	}
	var p *PanicError
	if !errors.As(r[3].Err, &p) {
		t.Fatalf("%+v", r[3])
	}
	if r[4].Status != StatusOutOfMemory || r[4].Attempts != 2 || r[5].Status != StatusIO || r[5].Attempts != 1 {
		t.Fatalf("%+v %+v", r[4], r[5])
	}
	if len(r[6].Message) > 255 || !strings.HasPrefix(r[6].Message, "éé") || strings.ContainsRune(r[6].Message, '\uFFFD') {
		t.Fatalf("message of %d bytes: %q", len(r[6].Message), r[6].Message)
	}
}

func TestFaultInjectionAndFailFast(t *testing.T) {
	rt := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) { o.FaultInjection = "task=2@1:out_of_memory;task=4:io" })
	tasks := make([]Task, 8)
	for i := range tasks {
		tasks[i] = Task{Fn: func(*TaskContext) error { return nil }}
	}
	results, err := rt.RunTasks(tasks, fast(&RunOptions{Workers: 1}))
	requireStatus(t, err, ErrTaskFailed)
	if results.Tasks[2].Attempts != 2 || !results.Tasks[2].OK() || results.Tasks[4].Status != StatusIO {
		t.Fatalf("%+v", results.Tasks)
	}
	results, err = rt.RunTasks(tasks, fast(&RunOptions{Workers: 1, FailFast: true}))
	requireStatus(t, err, ErrTaskFailed)
	if results.Tasks[7].Status != StatusCancelled {
		t.Fatalf("fail fast: %+v", results.Tasks[7])
	}
	chunky := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) { o.FaultInjection = "chunk=3:task_failed" })
	_, err = chunky.ParallelFor(0, 100, func(int64, int64, int) error { return nil }, &RunOptions{Grain: 10})
	requireStatus(t, err, ErrTaskFailed, "[30, 40)")
}
