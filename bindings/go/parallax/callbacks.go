package parallax

// The trampolines the library calls: each finds its run through the
// cgo.Handle in user_data, runs the Go function under run.guard (so that a
// panic becomes a failure return, never an unwind through C), and records
// what failed for the call that started the run. This file's preamble may only
// declare (cgo's rule for files with //export).

// #include <parallax.h>
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

func runOf(userData unsafe.Pointer) *run {
	return cgo.Handle(uintptr(userData)).Value().(*run)
}

//export plxgoLog
func plxgoLog(userData unsafe.Pointer, level C.plx_log_level_t, message *C.char) {
	defer func() {
		if v := recover(); v != nil {
			reportPanic("log function", v)
		}
	}()
	bridge := cgo.Handle(uintptr(userData)).Value().(*logBridge)
	tid := bridge.threads.enter()
	defer bridge.threads.leave(tid)
	bridge.fn(LogLevel(level), C.GoString(message))
}

//export plxgoProgress
func plxgoProgress(progress *C.plx_progress_t, userData unsafe.Pointer) C.int {
	r := runOf(userData)
	p := Progress{Done: int64(progress.done), Total: int64(progress.total), BytesDone: int64(progress.bytes_done),
		Elapsed: seconds(float64(progress.elapsed_s)), ETA: -1}
	if progress.eta_s >= 0 {
		p.ETA = seconds(float64(progress.eta_s))
	}
	if err := r.guard(func() error { return r.progress(p) }); err != nil {
		r.mu.Lock()
		if r.progressErr == nil {
			r.progressErr = err
		}
		r.mu.Unlock()
		return 1
	}
	return 0
}

//export plxgoRange
func plxgoRange(begin, end C.int64_t, worker C.int32_t, userData unsafe.Pointer) C.int {
	r := runOf(userData)
	err := r.guard(func() error { return r.body(int64(begin), int64(end), int(worker)) })
	if err != nil {
		r.record(int64(begin), "fn", err)
		return returnCode(err)
	}
	return 0
}

//export plxgoReduceRange
func plxgoReduceRange(begin, end C.int64_t, worker C.int32_t, partial, userData unsafe.Pointer) C.int {
	r := runOf(userData)
	err := r.guard(func() error { return r.reduce(int64(begin), int64(end), int(worker), partial) })
	if err != nil {
		r.record(int64(begin), "fn", err)
		return returnCode(err)
	}
	return 0
}

//export plxgoCombine
func plxgoCombine(accumulated, partial, userData unsafe.Pointer) C.int {
	r := runOf(userData)
	if err := r.guard(func() error { return r.combine(accumulated, partial) }); err != nil {
		r.record(-1, "combine", err)
		return -1
	}
	return 0
}

//export plxgoTask
func plxgoTask(context *C.plx_task_context_t, userData unsafe.Pointer) C.plx_status_t {
	r := runOf(userData)
	index := int64(context.index)
	ctx := &TaskContext{Index: index, Attempt: int(context.attempt), Worker: int(context.worker),
		EstimatedBytes: int64(context.estimated_bytes)}
	err := r.guard(func() error { return r.tasks[index].Fn(ctx) })
	context.reported_bytes = C.int64_t(ctx.ReportedBytes)
	r.mu.Lock()
	if err == nil {
		delete(r.taskErrs, index)
	} else {
		r.taskErrs[index] = err
	}
	r.mu.Unlock()
	if err == nil {
		if ctx.Message != "" {
			setMessage(context.message[:], ctx.Message)
		}
		return C.PLX_OK
	}
	message := ctx.Message
	if message == "" {
		message = err.Error()
	}
	setMessage(context.message[:], message)
	return taskStatus(err)
}

//export plxgoRowsProvider
func plxgoRowsProvider(firstRow, rows C.int64_t, dst, userData unsafe.Pointer) C.int {
	slot := cgo.Handle(uintptr(userData)).Value().(*rowsProviderSlot)
	return slot.provide(int64(firstRow), int64(rows), dst)
}

//export plxgoRowsCPU
func plxgoRowsCPU(firstRow, rows C.int64_t, inputs, outputs *unsafe.Pointer, userData unsafe.Pointer) C.int {
	r := runOf(userData)
	return r.rows.cpu(r, int64(firstRow), int64(rows), inputs, outputs)
}

//export plxgoStackProvider
func plxgoStackProvider(userData unsafe.Pointer, frame, row0, rows, col0, cols C.int64_t, channel C.int32_t,
	dst *C.float, dstStride C.int64_t) C.int {
	r := runOf(userData)
	return r.stack.provide(r, int64(frame), int64(row0), int64(rows), int64(col0), int64(cols), int(channel),
		unsafe.Pointer(dst), int64(dstStride))
}

//export plxgoCoordinateMap
func plxgoCoordinateMap(userData unsafe.Pointer, input, n C.int64_t, xOut, yOut, xIn, yIn *C.double) C.int {
	r := runOf(userData)
	return r.coadd.mapCoordinates(r, int64(input), int64(n), unsafe.Pointer(xOut), unsafe.Pointer(yOut),
		unsafe.Pointer(xIn), unsafe.Pointer(yIn))
}

//export plxgoCoaddTile
func plxgoCoaddTile(userData unsafe.Pointer, row0, rows C.int64_t, image, footprint *C.float) C.int {
	r := runOf(userData)
	return r.coadd.tile(r, int64(row0), int64(rows), unsafe.Pointer(image), unsafe.Pointer(footprint))
}
