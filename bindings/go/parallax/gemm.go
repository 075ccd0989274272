package parallax

// #include "shim.h"
import "C"

import (
	"math"
	"runtime"
	"unsafe"
)

// Float is the element type of Gemm's matrices: float32 (PLX_PRECISION_F32)
// or float64 (PLX_PRECISION_F64).
type Float interface{ ~float32 | ~float64 }

// Precision is a plx_precision_t: the element type of the matrices.
type Precision int32

const (
	PrecisionF32 Precision = C.PLX_PRECISION_F32
	PrecisionF64 Precision = C.PLX_PRECISION_F64
)

// MatrixLayout is a plx_matrix_layout_t: how A, B and C are stored.
type MatrixLayout int32

const (
	RowMajor MatrixLayout = C.PLX_ROW_MAJOR // element (i, j) at i x ld + j
	ColMajor MatrixLayout = C.PLX_COL_MAJOR // element (i, j) at i + j x ld (BLAS, Fortran)
)

// GemmOptions are the options of Gemm and GemmBatchedStrided
// (plx_gemm_desc_t). Alpha 0 is meaningful (C = beta C), so start from
// DefaultGemmOptions (alpha 1, beta 0, row-major); nil means those.
type GemmOptions struct {
	Layout MatrixLayout // of A, B and C
	TransA bool         // op(A) = A transposed
	TransB bool         // op(B) = B transposed
	Alpha  float64      // scales op(A) op(B); NaN propagates
	Beta   float64      // scales C; 0: C is not read (NaN there does not propagate)
	// LDA, LDB and LDC are the leading dimensions in elements: the distance
	// between stored rows (row-major) or columns (column-major). 0 = packed
	// (the stored row or column length).
	LDA, LDB, LDC int64
	// Device: PreferAuto (a GPU only when it is estimated to win), PreferCPU
	// or PreferGPU (ErrNoDevice without a usable device).
	Device DevicePreference
	Run    *RunOptions // workers of the CPU path, memory budget, name; nil = defaults
}

// DefaultGemmOptions are the library's defaults (plx_gemm_desc_init):
// row-major, no transposes, alpha 1, beta 0, device AUTO.
func DefaultGemmOptions() GemmOptions {
	var m cmem
	defer m.free()
	d := newC[C.plx_gemm_desc_t](&m)
	C.plx_gemm_desc_init(d, sizeOf[C.plx_gemm_desc_t]())
	return GemmOptions{
		Layout: MatrixLayout(d.layout), TransA: d.trans_a == C.PLX_TRANS, TransB: d.trans_b == C.PLX_TRANS,
		Alpha: float64(d.alpha), Beta: float64(d.beta), Device: DevicePreference(d.device),
	}
}

// GemmInfo is what a Gemm call did (plx_gemm_result_t).
type GemmInfo struct {
	DeviceIndex int     // the OpenCL device that multiplied, or -1 for the CPU
	Workers     int     // CPU threads of the CPU path; 0 on a device
	Tiles       int64   // device: tiles of C (x k tiles) run
	Splits      int     // device: times tiles were halved after running out of memory
	Fallback    bool    // a device failed and the CPU path did (the rest of) the work
	Seconds     float64 // wall time of the call
	GFLOPS      float64 // 2 m n k x batch / seconds / 1e9
	Path        string  // "openblas", "blocked", "clblast" or "scale"
	Report      *RunReport
}

// Gemm computes C = alpha op(A) op(B) + beta C (plx_gemm), as BLAS xGEMM
// does: op(A) is m x k, op(B) is k x n, C is m x n, read and written in place
// (no copies). Single-precision products are accumulated in single precision.
// The slices must hold their matrices (checked); A and B may be nil when
// k = 0 or alpha = 0, and all three when m or n is 0.
func Gemm[T Float](rt *Runtime, m, n, k int64, a, b, c []T, options *GemmOptions) (GemmInfo, error) {
	return gemm(rt, "plx_gemm", 1, m, n, k, a, 0, b, 0, c, 0, options)
}

// GemmBatchedStrided runs batch products of the same shape and options
// (plx_gemm_batched_strided): product i reads A at a[i*strideA:], B at
// b[i*strideB:] and writes C at c[i*strideC:]. A stride of 0 for A or B
// reuses one matrix for every product; the C matrices must not overlap.
func GemmBatchedStrided[T Float](rt *Runtime, batch, m, n, k int64, a []T, strideA int64, b []T, strideB int64,
	c []T, strideC int64, options *GemmOptions) (GemmInfo, error) {
	return gemm(rt, "plx_gemm_batched_strided", batch, m, n, k, a, strideA, b, strideB, c, strideC, options)
}

// matrixExtent is the elements a slice must hold for batch matrices of rows x
// cols stored with ld, stride apart, or -1 when the library refuses the
// arguments itself (or the extent overflows: the library refuses that too).
func matrixExtent(layout MatrixLayout, rows, cols, ld, batch, stride int64) int64 {
	if rows < 0 || cols < 0 || batch < 0 || stride < 0 || ld < 0 {
		return -1
	}
	if rows == 0 || cols == 0 || batch == 0 {
		return 0
	}
	length, count := cols, rows // row-major: rows of cols
	if layout == ColMajor {
		length, count = rows, cols
	}
	if ld == 0 {
		ld = length
	}
	if ld < length {
		return -1
	}
	if count-1 > (math.MaxInt64-length)/ld {
		return -1
	}
	extent := (count-1)*ld + length
	if batch > 1 && stride > 0 {
		if batch-1 > (math.MaxInt64-extent)/stride {
			return -1
		}
		extent += (batch - 1) * stride
	}
	return extent
}

// leading is the leading dimension passed to the library: ld, or the packed
// one for 0.
func leading(layout MatrixLayout, rows, cols, ld int64) int64 {
	if ld != 0 {
		return ld
	}
	length := cols
	if layout == ColMajor {
		length = rows
	}
	if length < 1 {
		return 1
	}
	return length
}

func gemm[T Float](rt *Runtime, op string, batch, m, n, k int64, a []T, strideA int64, b []T, strideB int64, c []T,
	strideC int64, options *GemmOptions) (GemmInfo, error) {
	o := options
	if o == nil {
		defaults := DefaultGemmOptions()
		o = &defaults
	}
	p, err := rt.use(op)
	if err != nil {
		return GemmInfo{}, err
	}
	defer rt.h.release()
	r, err := newRun(op, o.Run)
	if err != nil {
		return GemmInfo{}, err
	}
	defer r.finish()
	d := newC[C.plx_gemm_desc_t](&r.m)
	if err := call("plx_gemm_desc_init", func() C.plx_status_t {
		return C.plx_gemm_desc_init(d, sizeOf[C.plx_gemm_desc_t]())
	}); err != nil {
		return GemmInfo{}, err
	}
	var zero T
	if unsafe.Sizeof(zero) == 8 {
		d.precision = C.PLX_PRECISION_F64
	} else {
		d.precision = C.PLX_PRECISION_F32
	}
	d.layout = C.int32_t(o.Layout)
	d.trans_a, d.trans_b = C.PLX_NO_TRANS, C.PLX_NO_TRANS
	if o.TransA {
		d.trans_a = C.PLX_TRANS
	}
	if o.TransB {
		d.trans_b = C.PLX_TRANS
	}
	d.m, d.n, d.k = C.int64_t(m), C.int64_t(n), C.int64_t(k)
	d.alpha, d.beta = C.double(o.Alpha), C.double(o.Beta)
	d.device = C.int32_t(o.Device)
	d.run_options = r.options

	// Stored shapes: A is m x k (k x m transposed), B is k x n (n x k).
	aRows, aCols := m, k
	if o.TransA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if o.TransB {
		bRows, bCols = n, k
	}
	d.lda = C.int64_t(leading(o.Layout, aRows, aCols, o.LDA))
	d.ldb = C.int64_t(leading(o.Layout, bRows, bCols, o.LDB))
	d.ldc = C.int64_t(leading(o.Layout, m, n, o.LDC))
	products := m > 0 && n > 0 && batch > 0
	readsAB := products && k > 0 && o.Alpha != 0
	// A matrix that is used must fit its slice (the library cannot check);
	// an empty slice is passed as NULL, which the library refuses by name.
	for _, mat := range []struct {
		name           string
		s              []T
		rows, cols, ld int64
		stride         int64
		used           bool
		field          unsafe.Pointer
	}{
		{"A", a, aRows, aCols, o.LDA, strideA, readsAB, unsafe.Pointer(&d.a)},
		{"B", b, bRows, bCols, o.LDB, strideB, readsAB, unsafe.Pointer(&d.b)},
		{"C", c, m, n, o.LDC, strideC, products, unsafe.Pointer(&d.c)},
	} {
		if len(mat.s) == 0 {
			continue
		}
		if mat.used {
			need := matrixExtent(o.Layout, mat.rows, mat.cols, mat.ld, batch, mat.stride)
			if need > int64(len(mat.s)) {
				return GemmInfo{}, invalid(op, "%s has %d elements; %d matrices of %d x %d (leading dimension %d, "+
					"stride %d) need %d", mat.name, len(mat.s), batch, mat.rows, mat.cols,
					leading(o.Layout, mat.rows, mat.cols, mat.ld), mat.stride, need)
			}
		}
		setAddr(mat.field, unsafe.Pointer(&mat.s[0]))
	}
	r.keep = append(r.keep, a, b, c)
	res := newC[C.plx_gemm_result_t](&r.m)
	res.struct_size = sizeOf[C.plx_gemm_result_t]()
	if op == "plx_gemm" {
		err = call(op, func() C.plx_status_t { return C.plx_gemm(p, d, res) })
	} else {
		err = call(op, func() C.plx_status_t {
			return C.plx_gemm_batched_strided(p, d, C.int64_t(batch), C.int64_t(strideA), C.int64_t(strideB),
				C.int64_t(strideC), res)
		})
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	report, err := r.outcome(err)
	if err != nil {
		return GemmInfo{}, err
	}
	return GemmInfo{
		DeviceIndex: int(res.device_index), Workers: int(res.workers), Tiles: int64(res.tiles),
		Splits: int(res.splits), Fallback: res.fallback != 0, Seconds: float64(res.seconds),
		GFLOPS: float64(res.gflops), Path: goString(res.path[:]), Report: report,
	}, nil
}

// GemmTuneKernels is a mask of plx_gemm_tune_kernels_t: which CLBlast kernels GemmTune tunes.
type GemmTuneKernels int32

const (
	TuneXgemm       GemmTuneKernels = C.PLX_TUNE_XGEMM        // the tiled kernel of large products
	TuneXgemmDirect GemmTuneKernels = C.PLX_TUNE_XGEMM_DIRECT // the single-kernel path of small products
	TuneHelpers     GemmTuneKernels = C.PLX_TUNE_HELPERS      // copy, pad and transpose kernels
)

// GemmTuneOptions are the options of GemmTune (plx_gemm_tune_options_t);
// start from DefaultGemmTuneOptions; nil means those.
type GemmTuneOptions struct {
	Precision Precision
	Kernels   GemmTuneKernels
	Size      int64   // m = n = k of the problem tuned on, 64 .. 8192
	Fraction  float64 // share of each kernel's search space tried, in (0, 1]
}

// DefaultGemmTuneOptions are the library's defaults (plx_gemm_tune_options_init):
// F32, Xgemm and XgemmDirect, size 1024, fraction 1/64.
func DefaultGemmTuneOptions() GemmTuneOptions {
	var m cmem
	defer m.free()
	o := newC[C.plx_gemm_tune_options_t](&m)
	C.plx_gemm_tune_options_init(o, sizeOf[C.plx_gemm_tune_options_t]())
	return GemmTuneOptions{Precision: Precision(o.precision), Kernels: GemmTuneKernels(o.kernels),
		Size: int64(o.size), Fraction: float64(o.fraction)}
}

// GemmTuneResult is what GemmTune did (plx_gemm_tune_result_t).
type GemmTuneResult struct {
	KernelsTuned  int     // CLBlast kernels whose parameters were stored
	Seconds       float64 // wall time of the tuning
	DefaultGFLOPS float64 // a Size^3 product with CLBlast's parameters
	TunedGFLOPS   float64 // the same with the tuned ones (DefaultGFLOPS when not faster)
	CPUGFLOPS     float64 // the same on the CPU path
	UploadGBps    float64 // host-to-device rate of the matrices
	Path          string  // the file the parameters were stored in
}

// GemmTune runs CLBlast's tuners for device deviceIndex and stores the best
// parameters in the cache directory (plx_gemm_tune); later runtimes apply
// them, and Gemm's AUTO device choice reads the measured rates. Minutes to
// hours; not to be called while other runs use the device.
func (rt *Runtime) GemmTune(deviceIndex int32, options *GemmTuneOptions) (GemmTuneResult, error) {
	const op = "plx_gemm_tune"
	o := options
	if o == nil {
		defaults := DefaultGemmTuneOptions()
		o = &defaults
	}
	p, err := rt.use(op)
	if err != nil {
		return GemmTuneResult{}, err
	}
	defer rt.h.release()
	var m cmem
	defer m.free()
	co := newC[C.plx_gemm_tune_options_t](&m)
	if err := call("plx_gemm_tune_options_init", func() C.plx_status_t {
		return C.plx_gemm_tune_options_init(co, sizeOf[C.plx_gemm_tune_options_t]())
	}); err != nil {
		return GemmTuneResult{}, err
	}
	co.precision, co.kernels = C.int32_t(o.Precision), C.int32_t(o.Kernels)
	co.size, co.fraction = C.int64_t(o.Size), C.double(o.Fraction)
	res := newC[C.plx_gemm_tune_result_t](&m)
	res.struct_size = sizeOf[C.plx_gemm_tune_result_t]()
	err = call(op, func() C.plx_status_t { return C.plx_gemm_tune(p, C.int32_t(deviceIndex), co, res) })
	if err != nil {
		return GemmTuneResult{}, err
	}
	return GemmTuneResult{
		KernelsTuned: int(res.kernels_tuned), Seconds: float64(res.seconds),
		DefaultGFLOPS: float64(res.default_gflops), TunedGFLOPS: float64(res.tuned_gflops),
		CPUGFLOPS: float64(res.cpu_gflops), UploadGBps: float64(res.upload_gbps), Path: goString(res.path[:]),
	}, nil
}
