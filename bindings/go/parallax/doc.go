// Package parallax is the Go binding of libparallax, an embeddable parallel
// runtime for scientific image processing with a stable C ABI.
//
// A Runtime reads the machine this process may really use (or a machine
// profile) and plans workloads for it; it runs Go functions over ranges, as
// deterministic reductions and as tasks with memory admission control, with
// progress reports and cancellation, synchronously or as Jobs; it builds
// OpenCL kernels and runs them over rows of Go slices of any size or on device
// Buffers; and it ships the built-in kernels Stack (image stacking with
// outlier rejection) and Coadd (mosaic co-addition).
//
//	rt, err := parallax.NewRuntime(nil)
//	if err != nil { ... }
//	defer rt.Close()
//	report, err := rt.ParallelFor(0, n, func(begin, end int64, worker int) error {
//		for i := begin; i < end; i++ { out[i] = f(in[i]) }
//		return nil
//	}, nil)
//
// Errors are *Error values carrying the library's status and its message
// (read on the OS thread of the failing call); errors.Is matches them against
// the sentinels ErrInvalidArgument, ErrOutOfMemory, ... Handles (Runtime,
// Plan, CancelToken, Job, Kernel, Buffer) are freed by Close and, at the
// latest, by a finalizer. Slices are passed to the library without copies;
// they must not be changed by other goroutines during a call.
//
// Callbacks (loop bodies, reductions, tasks, progress, row providers, CPU
// fallbacks, stack providers, coordinate maps, tiles, the log function) run
// on the library's threads, concurrently. A callback returns a non-nil error
// to fail (or, for progress, to cancel) its run; a panic in a callback is
// recovered there — it never unwinds through C — and fails the run the same
// way, with a *PanicError as the cause of the returned *Error.
//
// The library's major version is checked when the package loads: a
// libparallax whose major version differs from the header this package was
// compiled against is refused, and every constructor then returns an *Error
// with status PLX_ERR_VERSION explaining it (see CheckLibrary).
package parallax
