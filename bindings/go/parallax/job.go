package parallax

// #include "shim.h"
import "C"

import (
	"math"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Job is a run started without waiting (plx_job_t): ParallelForAsync or
// SubmitTasks. Wait for its outcome, Poll it, Cancel it, and Close it (which
// cancels it if it still runs and waits for it). A Job dropped while it runs
// is not stopped: it runs to its end (closing the runtime cancels it), then a
// finalizer frees it and its callbacks.
type Job struct {
	h       *handle
	r       *run
	rt      *Runtime
	results *C.plx_task_result_t // tasks only

	mu      sync.Mutex
	settled bool
	err     error
	report  RunReport
	tasks   TaskResults
}

// ParallelForAsync is ParallelFor without waiting (plx_parallel_for_async):
// the run goes on a thread of its own that joins the runtime's threads. Its
// plan and token stay in use until it ends.
func (rt *Runtime) ParallelForAsync(begin, end int64, fn RangeFunc, options *RunOptions) (*Job, error) {
	const op = "plx_parallel_for_async"
	if fn == nil {
		return nil, invalid(op, "fn is nil")
	}
	p, err := rt.use(op)
	if err != nil {
		return nil, err
	}
	defer rt.h.release()
	r, err := newRun(op, options)
	if err != nil {
		return nil, err
	}
	plan, err := r.plan(options)
	if err != nil {
		r.finish()
		return nil, err
	}
	r.body = fn
	return rt.startJob(r, nil, func(out **C.plx_job_t) C.plx_status_t {
		return C.plxgo_parallel_for_async(p, plan, C.int64_t(begin), C.int64_t(end), C.uintptr_t(r.handle),
			r.options, out)
	})
}

// SubmitTasks is RunTasks without waiting (plx_tasks_submit); the Job's
// TaskResults gives the results once it has ended.
func (rt *Runtime) SubmitTasks(tasks []Task, options *RunOptions) (*Job, error) {
	const op = "plx_tasks_submit"
	p, err := rt.use(op)
	if err != nil {
		return nil, err
	}
	defer rt.h.release()
	r, ctasks, cresults, err := newTaskRun(op, tasks, options)
	if err != nil {
		return nil, err
	}
	return rt.startJob(r, cresults, func(out **C.plx_job_t) C.plx_status_t {
		return C.plx_tasks_submit(p, ctasks, C.int64_t(len(tasks)), r.options, cresults, out)
	})
}

func (rt *Runtime) startJob(r *run, results *C.plx_task_result_t, start func(**C.plx_job_t) C.plx_status_t) (*Job, error) {
	// Registered before it starts: its callbacks may run at once.
	rt.mu.Lock()
	rt.jobs[r] = struct{}{}
	rt.mu.Unlock()
	out := newC[*C.plx_job_t](&r.m)
	if err := call(r.op, func() C.plx_status_t { return start(out) }); err != nil {
		rt.forget(r)
		r.finish()
		return nil, err
	}
	job := &Job{r: r, rt: rt, results: results}
	job.h = newHandle("job", unsafe.Pointer(*out), func(p unsafe.Pointer) {
		offThread(func() { C.plx_job_destroy((*C.plx_job_t)(p)) })
	})
	runtime.SetFinalizer(job, func(job *Job) {
		go func() { // never wait in a finalizer
			job.Wait(-1)
			job.h.close()
		}()
	})
	return job, nil
}

func (rt *runtimeCore) forget(r *run) {
	rt.mu.Lock()
	delete(rt.jobs, r)
	rt.mu.Unlock()
}

// Wait waits up to timeout for the job to end (plx_job_wait; a negative
// timeout waits as long as it takes) and returns what the synchronous call
// would have returned as an error (nil on success); then Report and
// TaskResults hold the outcome, and every later Wait returns the same. When
// the job has not ended in time it returns ErrTimeout and the job goes on.
// An unbounded Wait from one of the job's own callbacks is refused
// (ErrInvalidArgument); from a callback of another run of the same runtime it
// runs the job right there if it has not started.
func (j *Job) Wait(timeout time.Duration) error {
	const op = "plx_job_wait"
	if err, done := j.outcome(); done {
		return err
	}
	ms := int64(-1)
	if timeout >= 0 {
		ms = int64((timeout + time.Millisecond - 1) / time.Millisecond)
		if ms > math.MaxInt64/2 {
			ms = -1
		}
	} else if j.r.threads.current() {
		return invalid(op, "waiting without a timeout from one of the job's own callbacks would never return; "+
			"give a timeout, or wait elsewhere")
	}
	p, err := j.h.acquire(op)
	if err != nil {
		return err
	}
	defer j.h.release()
	err = call(op, func() C.plx_status_t { return C.plx_job_wait((*C.plx_job_t)(p), C.int64_t(ms)) })
	if e, ok := err.(*Error); ok && e.Status == StatusTimeout {
		return err
	}
	return j.settle(err)
}

// outcome is the settled outcome, if any.
func (j *Job) outcome() (error, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err, j.settled
}

// settle records the outcome of a job that has ended and frees its run.
func (j *Job) settle(err error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.settled {
		return j.err
	}
	if j.results != nil {
		j.tasks, err = j.r.taskOutcome(err, j.results)
		j.report = j.tasks.Report
	} else {
		var report *RunReport
		report, err = j.r.outcome(err)
		j.report = deref(report)
	}
	j.settled, j.err = true, err
	j.rt.forget(j.r)
	j.r.finish()
	return err
}

// Done says whether the job has ended (plx_job_poll).
func (j *Job) Done() (bool, error) {
	const op = "plx_job_poll"
	if _, done := j.outcome(); done {
		return true, nil
	}
	p, err := j.h.acquire(op)
	if err != nil {
		return false, err
	}
	var m cmem
	done := newC[C.int](&m)
	err = call(op, func() C.plx_status_t { return C.plx_job_poll((*C.plx_job_t)(p), done) })
	ended := *done != 0
	m.free()
	j.h.release()
	if err != nil {
		return false, err
	}
	if ended {
		j.Wait(0)
	}
	return ended, nil
}

// Cancel asks the job to stop (plx_job_cancel): it then ends with
// ErrCancelled, unless it already ended.
func (j *Job) Cancel() error {
	const op = "plx_job_cancel"
	if _, done := j.outcome(); done {
		return nil
	}
	p, err := j.h.acquire(op)
	if err != nil {
		return err
	}
	defer j.h.release()
	return call(op, func() C.plx_status_t { return C.plx_job_cancel((*C.plx_job_t)(p)) })
}

// Report is the run's report once the job has ended (zero before, and when
// the run did not start).
func (j *Job) Report() RunReport {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.report
}

// TaskResults are the results of a SubmitTasks job once it has ended.
func (j *Job) TaskResults() TaskResults {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.tasks
}

// Close cancels the job if it still runs, waits for it to end, and frees it
// (plx_job_destroy). Wait still gives the outcome afterwards. Idempotent;
// refused (ErrInvalidArgument) from one of the job's own callbacks.
func (j *Job) Close() error {
	if j.h.isClosed() {
		return nil
	}
	if _, done := j.outcome(); !done {
		if j.r.threads.current() {
			return invalid("Job.Close", "called from one of the job's own callbacks, which would wait for "+
				"itself; call Cancel there instead")
		}
		j.Cancel()
		j.Wait(-1)
	}
	j.h.close()
	return nil
}
