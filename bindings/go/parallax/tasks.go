package parallax

// #include "shim.h"
import "C"

import (
	"errors"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Task is one task of RunTasks or SubmitTasks (plx_task_t).
type Task struct {
	// Fn runs the task. It returns nil on success; an error for which
	// errors.Is(err, ErrOutOfMemory) is an out-of-memory failure, retried after
	// a backoff with the concurrency halved; an *Error of another status ends
	// the task with that status; any other error (or a panic) fails it with
	// PLX_ERR_TASK_FAILED. The error's text becomes the task's message unless
	// Fn set ctx.Message.
	Fn func(ctx *TaskContext) error
	// EstimatedBytes is the task's peak memory: it starts only when that fits
	// what is left of the budget; 0 = negligible.
	EstimatedBytes int64
	Name           string // for messages; "" = "task <index>"
}

// TaskContext is what a task sees of its run (plx_task_context_t); valid
// during the call only.
type TaskContext struct {
	Index          int64 // the task's index
	Attempt        int   // 1 for the first run
	Worker         int   // logical worker, in [0, workers)
	EstimatedBytes int64 // the current estimate of its peak memory
	// ReportedBytes is the task's real peak when the estimate proved too small:
	// a failed attempt reporting more than its estimate is retried like an
	// out-of-memory failure, with this as the new estimate.
	ReportedBytes int64
	// Message says why the task failed (at most 255 bytes are kept).
	Message string
}

// TaskResult is how one task ended (plx_task_result_t).
type TaskResult struct {
	Status   Status // StatusOK, the task's last status, or StatusCancelled when it never started
	Attempts int
	Message  string // "" on success
	Err      error  // what Fn returned (or a *PanicError) on its last attempt; nil on success
}

// OK says whether the task succeeded.
func (r TaskResult) OK() bool { return r.Status == StatusOK }

// TaskResults are the results of a task run, in task order, with its report.
type TaskResults struct {
	Tasks  []TaskResult
	Report RunReport
}

// RunTasks runs independent tasks with memory admission control and retries
// (plx_tasks_run) and returns every task's result in task order, whatever
// order they finished in. When some task failed for good the error is
// ErrTaskFailed (ErrCancelled when the token or progress cancelled the run)
// and the results are returned too; the error's Cause is the first failed
// task's error. RunOptions sets attempts, backoff, budget and workers.
func (rt *Runtime) RunTasks(tasks []Task, options *RunOptions) (TaskResults, error) {
	const op = "plx_tasks_run"
	p, err := rt.use(op)
	if err != nil {
		return TaskResults{}, err
	}
	defer rt.h.release()
	r, ctasks, cresults, err := newTaskRun(op, tasks, options)
	if err != nil {
		return TaskResults{}, err
	}
	defer r.finish()
	err = call(op, func() C.plx_status_t {
		return C.plx_tasks_run(p, ctasks, C.int64_t(len(tasks)), r.options, cresults)
	})
	return r.taskOutcome(err, cresults)
}

func newTaskRun(op string, tasks []Task, options *RunOptions) (*run, *C.plx_task_t, *C.plx_task_result_t, error) {
	for i, t := range tasks {
		if t.Fn == nil {
			return nil, nil, nil, invalid(op, "tasks[%d].Fn is nil", i)
		}
	}
	r, err := newRun(op, options)
	if err != nil {
		return nil, nil, nil, err
	}
	r.tasks = tasks
	r.taskErrs = map[int64]error{}
	n := len(tasks)
	if n == 0 {
		n = 1 // the library wants arrays even for no task
	}
	ctasks := newCArray[C.plx_task_t](&r.m, n)
	cresults := newCArray[C.plx_task_result_t](&r.m, n)
	for i := range ctasks {
		ctasks[i].struct_size = sizeOf[C.plx_task_t]()
		cresults[i].struct_size = sizeOf[C.plx_task_result_t]()
	}
	for i, t := range tasks {
		C.plxgo_set_task(&ctasks[i], C.uintptr_t(r.handle))
		ctasks[i].estimated_bytes = C.int64_t(t.EstimatedBytes)
		ctasks[i].name = r.m.optString(t.Name)
	}
	return r, &ctasks[0], &cresults[0], nil
}

// taskOutcome reads the results of a task run that has ended.
func (r *run) taskOutcome(err error, cresults *C.plx_task_result_t) (TaskResults, error) {
	report, err := r.outcome(err)
	if e, ok := err.(*Error); ok && e.Status != StatusTaskFailed && e.Status != StatusCancelled {
		return TaskResults{}, err // refused before the run
	}
	results := TaskResults{Report: deref(report), Tasks: make([]TaskResult, len(r.tasks))}
	c := unsafe.Slice(cresults, len(r.tasks))
	r.mu.Lock()
	var first error
	for i := range results.Tasks {
		res := TaskResult{Status: Status(c[i].status), Attempts: int(c[i].attempts), Message: goString(c[i].message[:])}
		if !res.OK() {
			res.Err = r.taskErrs[int64(i)]
			if first == nil && res.Err != nil && res.Status != StatusCancelled {
				first = res.Err
			}
		}
		results.Tasks[i] = res
	}
	r.mu.Unlock()
	if e, ok := err.(*Error); ok {
		e.Results = results.Tasks
		if e.Cause == nil {
			e.Cause = first
		}
	}
	return results, err
}

// taskStatus is the status a task's error ends it with.
func taskStatus(err error) C.plx_status_t {
	if isOutOfMemory(err) {
		return C.PLX_ERR_OUT_OF_MEMORY
	}
	var e *Error
	if errors.As(err, &e) && e.Status != StatusOK {
		return C.plx_status_t(e.Status)
	}
	return C.PLX_ERR_TASK_FAILED
}

// setMessage writes at most 255 bytes of text, cut on a character boundary,
// into a task's message (NULs would end it early: they are escaped).
func setMessage(dst []C.char, text string) {
	text = strings.ReplaceAll(text, "\x00", `\0`)
	max := len(dst) - 1
	if len(text) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	for i := 0; i < len(text); i++ {
		dst[i] = C.char(text[i])
	}
	dst[len(text)] = 0
}
