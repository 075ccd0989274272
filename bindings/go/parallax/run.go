package parallax

// #include "shim.h"
import "C"

import (
	"errors"
	"math"
	"runtime"
	"runtime/cgo"
	"runtime/debug"
	"sort"
	"sync"
	"time"
	"unsafe"
)

// Progress of a run, as passed to RunOptions.Progress (plx_progress_t).
type Progress struct {
	Done      int64 // items (loops) or tasks finished
	Total     int64 // items or tasks in the run
	BytesDone int64
	Elapsed   time.Duration // since the run started
	ETA       time.Duration // estimated time left; negative until something is done
}

// ProgressFunc receives progress at most every RunOptions.ProgressInterval and
// once at the end, from any thread but never twice at once for one run. A
// non-nil error (or a panic) cancels the run, which ends with ErrCancelled
// whose Cause is that error.
type ProgressFunc func(Progress) error

// RunReport is what a run did (plx_run_report_t).
type RunReport struct {
	Workers           int   // logical workers of the run
	Threads           int   // threads of the runtime's arena
	Chunks            int64 // chunks run (loops) or task attempts (tasks)
	Retries           int64 // task attempts after a first failure
	PeakConcurrency   int
	Failed            int   // failed chunks or tasks
	FailedBegin       int64 // first failing range of a loop; -1 when none
	FailedEnd         int64
	CallbackCode      int // what the callback returned there; 0 when none
	PeakAdmittedBytes int64
	Wall              time.Duration
	FallbackChunks    int64         // kernel runs: chunks redone by the CPU fallback
	ChunkSplits       int           // kernel runs: device chunks halved after running out of memory
	DeviceKernel      time.Duration // kernel runs: time the devices' kernels ran (profiled), without transfers
}

// RunOptions are the options of every run (plx_run_options_t); nil = defaults.
// A zero field takes the library's default (plx_run_options_init).
type RunOptions struct {
	Name    string // for logs and messages; "" = the function's name
	Plan    *Plan  // supplies workers and chunk sizes
	Workers int32  // logical workers; 0 = the plan's, else the usable CPUs
	Grain   int64  // items per chunk; 0 = the plan's, else about 8 chunks per worker
	// Progress is called during the run; nil = none.
	Progress ProgressFunc
	// ProgressInterval is the least time between progress calls; 0 = 200 ms
	// (a positive value under 1 ms means no minimum).
	ProgressInterval time.Duration
	Cancel           *CancelToken // checked between chunks and tasks
	BytesPerItem     int64        // for Progress.BytesDone; 0 = the plan's

	// Tasks only (RunTasks, SubmitTasks):
	MaxAttempts int32 // attempts per task; 0 = 3
	FailFast    bool  // start no task after one failed for good
	// BackoffBase and BackoffCap bound the wait before a retry; 0 = 50 ms and
	// 5 s; a negative BackoffBase means no wait.
	BackoffBase       time.Duration
	BackoffCap        time.Duration
	GrowAfter         int32 // successes in a row before a halved limit grows; 0 = 4
	MemoryBudgetBytes int64 // what task estimates may add up to; 0 = the plan's or runtime's
	JitterSeed        uint64
}

// failure is what one callback call returned or panicked with.
type failure struct {
	key   int64
	err   error
	which string
}

// run is the state of one run shared with its callbacks through a cgo.Handle:
// the C options and report (in C memory), the borrowed plan and token, the Go
// callbacks and what they returned.
type run struct {
	op      string
	m       cmem
	options *C.plx_run_options_t
	report  *C.plx_run_report_t
	handle  cgo.Handle
	slots   []cgo.Handle // more user_data handles of the run (row providers)
	threads callbackThreads
	held    []*handle
	keep    []any // Go memory the C structs point into, kept reachable

	mu          sync.Mutex
	failures    map[int64]failure
	progressErr error

	progress ProgressFunc
	body     func(begin, end int64, worker int) error
	reduce   func(begin, end int64, worker int, partial unsafe.Pointer) error
	combine  func(accumulated, partial unsafe.Pointer) error
	tasks    []Task
	taskErrs map[int64]error
	rows     *rowsRun
	stack    *stackRun
	coadd    *coaddRun
}

// newRun prepares the C options of a run of library function op.
func newRun(op string, o *RunOptions) (*run, error) {
	r := &run{op: op, failures: map[int64]failure{}}
	r.options = newC[C.plx_run_options_t](&r.m)
	if err := call("plx_run_options_init", func() C.plx_status_t {
		return C.plx_run_options_init(r.options, sizeOf[C.plx_run_options_t]())
	}); err != nil {
		r.m.free()
		return nil, err
	}
	r.report = newC[C.plx_run_report_t](&r.m)
	r.report.struct_size = sizeOf[C.plx_run_report_t]()
	r.options.report = r.report
	r.handle = cgo.NewHandle(r)
	if o == nil {
		return r, nil
	}
	c := r.options
	c.name = r.m.optString(o.Name)
	c.workers = C.int32_t(o.Workers)
	c.grain = C.int64_t(o.Grain)
	c.bytes_per_item = C.int64_t(o.BytesPerItem)
	if o.ProgressInterval > 0 {
		c.progress_interval_ms = C.int32_t(min64(int64(o.ProgressInterval/time.Millisecond), math.MaxInt32))
	} else if o.ProgressInterval < 0 {
		c.progress_interval_ms = -1 // refused by the library, with its message
	}
	if o.Progress != nil {
		r.progress = o.Progress
		C.plxgo_set_progress(c, C.uintptr_t(r.handle))
	}
	if o.MaxAttempts != 0 {
		c.max_attempts = C.int32_t(o.MaxAttempts)
	}
	if o.FailFast {
		c.fail_fast = 1
	}
	if o.BackoffBase < 0 {
		c.backoff_base_s = 0
	} else if o.BackoffBase > 0 {
		c.backoff_base_s = C.double(o.BackoffBase.Seconds())
	}
	if o.BackoffCap != 0 {
		c.backoff_cap_s = C.double(o.BackoffCap.Seconds())
	}
	if o.GrowAfter != 0 {
		c.grow_after = C.int32_t(o.GrowAfter)
	}
	c.memory_budget_bytes = C.int64_t(o.MemoryBudgetBytes)
	c.jitter_seed = C.uint64_t(o.JitterSeed)
	if o.Cancel != nil {
		p, err := r.hold(o.Cancel.h, op+": cancel")
		if err != nil {
			r.finish()
			return nil, err
		}
		c.cancel = (*C.plx_cancel_token_t)(p)
	}
	return r, nil
}

// plan borrows the run's plan until finish (nil without one).
func (r *run) plan(o *RunOptions) (*C.plx_plan_t, error) {
	if o == nil || o.Plan == nil {
		return nil, nil
	}
	p, err := r.hold(o.Plan.h, r.op+": plan")
	return (*C.plx_plan_t)(p), err
}

func (r *run) hold(h *handle, op string) (unsafe.Pointer, error) {
	p, err := h.acquire(op)
	if err == nil {
		r.held = append(r.held, h)
	}
	return p, err
}

// finish gives back what the run borrowed and frees its C memory: the run
// has ended, and the library no longer calls back or reads them.
func (r *run) finish() {
	for _, h := range r.held {
		h.release()
	}
	r.held = nil
	if r.handle != 0 {
		r.handle.Delete()
		r.handle = 0
	}
	for _, slot := range r.slots {
		slot.Delete()
	}
	r.slots = nil
	r.m.free()
	r.keep = nil
}

// record keeps the first error of each callback key (a range's begin, a row...).
func (r *run) record(key int64, which string, err error) {
	r.mu.Lock()
	if _, seen := r.failures[key]; !seen {
		r.failures[key] = failure{key: key, err: err, which: which}
	}
	r.mu.Unlock()
}

// guard runs fn as a callback: on the callback-thread registry, with a panic
// turned into a *PanicError. It never lets anything unwind into C.
func (r *run) guard(fn func() error) (err error) {
	tid := r.threads.enter()
	defer r.threads.leave(tid)
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
	}()
	return fn()
}

func (r *run) readReport() *RunReport {
	c := r.report
	if c.workers <= 0 { // never written: the call failed before the run started
		return nil
	}
	return &RunReport{
		Workers: int(c.workers), Threads: int(c.threads), Chunks: int64(c.chunks), Retries: int64(c.retries),
		PeakConcurrency: int(c.peak_concurrency), Failed: int(c.failed), FailedBegin: int64(c.failed_begin),
		FailedEnd: int64(c.failed_end), CallbackCode: int(c.callback_code),
		PeakAdmittedBytes: int64(c.peak_admitted_bytes), Wall: seconds(float64(c.wall_s)),
		FallbackChunks: int64(c.fallback_chunks), ChunkSplits: int(c.chunk_splits),
		DeviceKernel: seconds(float64(c.device_kernel_s)),
	}
}

// outcome completes a run's error: the report, and as its Cause the error of
// the callback that failed first (the failing range the report names, else the
// lowest key), or the progress function's.
func (r *run) outcome(err error) (*RunReport, error) {
	report := r.readReport()
	if err == nil {
		return report, nil
	}
	e, ok := err.(*Error)
	if !ok {
		return report, err
	}
	e.Report = report
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) > 0 {
		keys := make([]int64, 0, len(r.failures))
		for k := range r.failures {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		first := r.failures[keys[0]]
		if report != nil && report.FailedBegin >= 0 {
			if f, ok := r.failures[report.FailedBegin]; ok {
				first = f
			}
		}
		e.Cause = first.err
	} else if r.progressErr != nil {
		e.Cause = r.progressErr
	}
	return report, e
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// ---- Loops ---------------------------------------------------------------

// RangeFunc is a loop body: it processes items [begin, end) as logical worker
// worker (in [0, workers), stable for the run, e.g. to index per-worker
// scratch). It is called concurrently from several threads. A non-nil error
// (or a panic) stops the loop: chunks already started finish, and the call
// returns ErrTaskFailed naming the range, with the error as Cause.
type RangeFunc func(begin, end int64, worker int) error

// ParallelFor runs fn over [begin, end) in chunks on the runtime's threads and
// the calling one (plx_parallel_for), and returns the run's report.
func (rt *Runtime) ParallelFor(begin, end int64, fn RangeFunc, options *RunOptions) (RunReport, error) {
	const op = "plx_parallel_for"
	if fn == nil {
		return RunReport{}, invalid(op, "fn is nil")
	}
	p, err := rt.use(op)
	if err != nil {
		return RunReport{}, err
	}
	defer rt.h.release()
	r, err := newRun(op, options)
	if err != nil {
		return RunReport{}, err
	}
	defer r.finish()
	plan, err := r.plan(options)
	if err != nil {
		return RunReport{}, err
	}
	r.body = fn
	err = call(op, func() C.plx_status_t {
		return C.plxgo_parallel_for(p, plan, C.int64_t(begin), C.int64_t(end), C.uintptr_t(r.handle), r.options)
	})
	report, err := r.outcome(err)
	return deref(report), err
}

func deref(r *RunReport) RunReport {
	if r == nil {
		return RunReport{}
	}
	return *r
}

// ---- Reductions ----------------------------------------------------------

// Summable are the element types of the library's built-in sums.
type Summable interface {
	float64 | float32 | int64
}

// ParallelSum reduces [begin, end) deterministically (plx_parallel_reduce with
// a built-in sum: PLX_REDUCE_SUM_DOUBLE, _FLOAT or _INT64 by T): fn returns the
// partial sum of a chunk, and the partials are added in a fixed pairwise tree
// over the chunks in index order, so the result is bit-identical for any
// workers and any run. RunOptions.Grain sets the chunk size (0 =
// ceil(n/4096)); the plan supplies the workers only. Errors as ParallelFor.
func ParallelSum[T Summable](rt *Runtime, begin, end int64, fn func(begin, end int64, worker int) (T, error),
	options *RunOptions) (T, error) {
	var zero T
	var op C.int32_t
	switch any(zero).(type) {
	case float64:
		op = C.PLX_REDUCE_SUM_DOUBLE
	case float32:
		op = C.PLX_REDUCE_SUM_FLOAT
	default:
		op = C.PLX_REDUCE_SUM_INT64
	}
	if fn == nil {
		return zero, invalid("plx_parallel_reduce", "fn is nil")
	}
	var result T
	err := rt.reduce(begin, end, op, 0, func(begin, end int64, worker int, partial unsafe.Pointer) error {
		v, err := fn(begin, end, worker)
		if err == nil {
			*(*T)(partial) = v
		}
		return err
	}, nil, func(p unsafe.Pointer) { result = *(*T)(p) }, options)
	return result, err
}

// ParallelReduce is a custom deterministic reduction (plx_parallel_reduce with
// PLX_REDUCE_CUSTOM): fn returns the partial result of a chunk and combine(a,
// b) the combination of two partials, called on the calling thread in a fixed
// pairwise tree over the chunks in index order — for chunks p0..p3,
// ((p0+p1)+(p2+p3)) — so a non-commutative combine keeps the chunk order.
// identity is the result of an empty range. Errors as ParallelFor; an error
// or panic in combine fails the run the same way.
func ParallelReduce[T any](rt *Runtime, begin, end int64, identity T,
	fn func(begin, end int64, worker int) (T, error), combine func(a, b T) (T, error),
	options *RunOptions) (T, error) {
	if fn == nil || combine == nil {
		return identity, invalid("plx_parallel_reduce", "fn and combine must not be nil")
	}
	// Partials are Go values in a table; the C partial (8 bytes) holds a value's
	// key. Key 0 is the identity, which the library copies into every partial.
	var mu sync.Mutex
	values := map[uint64]T{0: identity}
	var next uint64
	store := func(v T) uint64 {
		mu.Lock()
		defer mu.Unlock()
		next++
		values[next] = v
		return next
	}
	get := func(k uint64) T {
		mu.Lock()
		defer mu.Unlock()
		return values[k]
	}
	result := identity
	err := rt.reduce(begin, end, C.PLX_REDUCE_CUSTOM, 8, func(begin, end int64, worker int, partial unsafe.Pointer) error {
		v, err := fn(begin, end, worker)
		if err == nil {
			*(*uint64)(partial) = store(v)
		}
		return err
	}, func(accumulated, partial unsafe.Pointer) error {
		into, take := (*uint64)(accumulated), *(*uint64)(partial)
		v, err := combine(get(*into), get(take))
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if *into == 0 { // never the identity's slot: it would change the empty result
			next++
			*into = next
		}
		values[*into] = v
		if take != 0 {
			delete(values, take)
		}
		return nil
	}, func(p unsafe.Pointer) { result = get(*(*uint64)(p)) }, options)
	return result, err
}

func (rt *Runtime) reduce(begin, end int64, op C.int32_t, valueSize C.size_t,
	body func(begin, end int64, worker int, partial unsafe.Pointer) error,
	combine func(accumulated, partial unsafe.Pointer) error, read func(unsafe.Pointer),
	options *RunOptions) error {
	const name = "plx_parallel_reduce"
	p, err := rt.use(name)
	if err != nil {
		return err
	}
	defer rt.h.release()
	r, err := newRun(name, options)
	if err != nil {
		return err
	}
	defer r.finish()
	plan, err := r.plan(options)
	if err != nil {
		return err
	}
	desc := newC[C.plx_reduce_desc_t](&r.m)
	if err := call("plx_reduce_desc_init", func() C.plx_status_t {
		return C.plx_reduce_desc_init(desc, sizeOf[C.plx_reduce_desc_t]())
	}); err != nil {
		return err
	}
	desc.op = op
	desc.value_size = valueSize
	if options != nil {
		desc.grain = C.int64_t(options.Grain)
		r.options.grain = 0 // the reduction's grain is the descriptor's
	}
	custom := 0
	if combine != nil {
		custom = 1
	}
	C.plxgo_set_reduce(desc, C.uintptr_t(r.handle), C.int(custom))
	r.reduce, r.combine = body, combine
	result := r.m.alloc(8)
	err = call(name, func() C.plx_status_t {
		return C.plx_parallel_reduce(p, plan, C.int64_t(begin), C.int64_t(end), desc, result, r.options)
	})
	if _, err = r.outcome(err); err != nil {
		return err
	}
	read(result)
	return nil
}

// ---- Cancel tokens -------------------------------------------------------

// CancelToken stops the runs given it (plx_cancel_token_t), within one chunk
// or task. Close it when done; a finalizer closes it otherwise.
type CancelToken struct{ h *handle }

// NewCancelToken creates a token, not cancelled (plx_cancel_token_create).
func NewCancelToken() (*CancelToken, error) {
	if loadError != nil {
		return nil, loadError
	}
	var out *C.plx_cancel_token_t
	if err := call("plx_cancel_token_create", func() C.plx_status_t {
		var m cmem
		defer m.free()
		p := newC[*C.plx_cancel_token_t](&m)
		s := C.plx_cancel_token_create(p)
		out = *p
		return s
	}); err != nil {
		return nil, err
	}
	t := &CancelToken{h: newHandle("cancel token", unsafe.Pointer(out), func(p unsafe.Pointer) {
		C.plx_cancel_token_destroy((*C.plx_cancel_token_t)(p))
	})}
	runtime.SetFinalizer(t, func(t *CancelToken) { t.h.close() })
	return t, nil
}

// Cancel cancels every run given the token (plx_cancel_token_cancel). A closed
// token is left alone.
func (t *CancelToken) Cancel() {
	p, err := t.h.acquire("CancelToken.Cancel")
	if err != nil {
		return
	}
	defer t.h.release()
	C.plx_cancel_token_cancel((*C.plx_cancel_token_t)(p))
}

// Cancelled says whether Cancel was called (plx_cancel_token_is_cancelled);
// false for a closed token.
func (t *CancelToken) Cancelled() bool {
	p, err := t.h.acquire("CancelToken.Cancelled")
	if err != nil {
		return false
	}
	defer t.h.release()
	return C.plx_cancel_token_is_cancelled((*C.plx_cancel_token_t)(p)) == 1
}

// Close destroys the token (plx_cancel_token_destroy) once no run uses it.
// Idempotent; returns nil.
func (t *CancelToken) Close() error {
	t.h.close()
	return nil
}

// ---- Errors from callbacks -------------------------------------------------

func newPanicError(v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// isOutOfMemory says whether a task's error asks for a retry with less memory.
func isOutOfMemory(err error) bool { return errors.Is(err, ErrOutOfMemory) }
