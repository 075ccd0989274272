package parallax

import (
	"errors"
	"math"
	"math/rand"
	"testing"
)

// at is element (i, j) of a matrix stored with layout and ld.
func gemmAt(layout MatrixLayout, ld, i, j int64) int64 {
	if layout == RowMajor {
		return i*ld + j
	}
	return i + j*ld
}

// naiveGemm is C = alpha op(A) op(B) + beta C in float64, plain loops; beta 0
// does not read C.
func naiveGemm[T Float](layout MatrixLayout, transA, transB bool, m, n, k int64, alpha float64, a []T, lda int64,
	b []T, ldb int64, beta float64, c []T, ldc int64) {
	for i := int64(0); i < m; i++ {
		for j := int64(0); j < n; j++ {
			sum := 0.0
			for p := int64(0); p < k; p++ {
				var x, y T
				if transA {
					x = a[gemmAt(layout, lda, p, i)]
				} else {
					x = a[gemmAt(layout, lda, i, p)]
				}
				if transB {
					y = b[gemmAt(layout, ldb, j, p)]
				} else {
					y = b[gemmAt(layout, ldb, p, j)]
				}
				sum += float64(x) * float64(y)
			}
			v := alpha * sum
			if beta != 0 {
				v += beta * float64(c[gemmAt(layout, ldc, i, j)])
			}
			c[gemmAt(layout, ldc, i, j)] = T(v)
		}
	}
}

func gemmRandom[T Float](rng *rand.Rand, n int64) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(rng.Float64()*2 - 1)
	}
	return s
}

func gemmClose[T Float](t *testing.T, what string, got, want []T, tolerance float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) != math.IsNaN(w) || math.Abs(g-w) > tolerance*(1+math.Abs(w)) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, g, w)
		}
	}
}

func cpuGemm() *GemmOptions {
	o := DefaultGemmOptions()
	o.Device = PreferCPU
	return &o
}

func TestGemmDefaults(t *testing.T) {
	o := DefaultGemmOptions()
	if o.Alpha != 1 || o.Beta != 0 || o.Layout != RowMajor || o.TransA || o.TransB || o.Device != PreferAuto {
		t.Fatalf("defaults %+v", o)
	}
	to := DefaultGemmTuneOptions()
	if to.Precision != PrecisionF32 || to.Kernels != TuneXgemm|TuneXgemmDirect || to.Size != 1024 ||
		to.Fraction != 1.0/64 {
		t.Fatalf("tune defaults %+v", to)
	}
}

func testGemmAgainstNaive[T Float](t *testing.T, tolerance float64) {
	rt := tiny(t)
	rng := rand.New(rand.NewSource(7))
	const m, n, k = 37, 23, 19
	for _, layout := range []MatrixLayout{RowMajor, ColMajor} {
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				for _, padded := range []bool{false, true} {
					o := cpuGemm()
					o.Layout, o.TransA, o.TransB, o.Alpha, o.Beta = layout, transA, transB, 1.5, -0.5
					aRows, aCols := int64(m), int64(k)
					if transA {
						aRows, aCols = k, m
					}
					bRows, bCols := int64(k), int64(n)
					if transB {
						bRows, bCols = n, k
					}
					stored := func(rows, cols int64) (int64, int64) { // ld, elements
						if layout == RowMajor {
							if padded {
								return cols + 3, rows * (cols + 3)
							}
							return cols, rows * cols
						}
						if padded {
							return rows + 3, cols * (rows + 3)
						}
						return rows, rows * cols
					}
					lda, na := stored(aRows, aCols)
					ldb, nb := stored(bRows, bCols)
					ldc, nc := stored(m, n)
					if padded {
						o.LDA, o.LDB, o.LDC = lda, ldb, ldc
					}
					a, b := gemmRandom[T](rng, na), gemmRandom[T](rng, nb)
					c := gemmRandom[T](rng, nc)
					want := append([]T(nil), c...)
					naiveGemm(layout, transA, transB, m, n, k, o.Alpha, a, lda, b, ldb, o.Beta, want, ldc)
					info, err := Gemm(rt, m, n, k, a, b, c, o)
					if err != nil {
						t.Fatalf("layout %d transA %v transB %v padded %v: %v", layout, transA, transB, padded, err)
					}
					gemmClose(t, "C", c, want, tolerance)
					if info.DeviceIndex != -1 || info.Path == "" || info.Workers < 1 {
						t.Fatalf("info %+v", info)
					}
				}
			}
		}
	}
}

func TestGemmFloat32(t *testing.T) { testGemmAgainstNaive[float32](t, 1e-5) }
func TestGemmFloat64(t *testing.T) { testGemmAgainstNaive[float64](t, 1e-13) }

func TestGemmBetaZeroIgnoresNaN(t *testing.T) {
	rt := tiny(t)
	rng := rand.New(rand.NewSource(3))
	const m, n, k = 8, 9, 10
	a, b := gemmRandom[float64](rng, m*k), gemmRandom[float64](rng, k*n)
	c := make([]float64, m*n)
	for i := range c {
		c[i] = math.NaN()
	}
	want := make([]float64, m*n)
	naiveGemm(RowMajor, false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	if _, err := Gemm(rt, m, n, k, a, b, c, cpuGemm()); err != nil {
		t.Fatal(err)
	}
	gemmClose(t, "C", c, want, 1e-13)

	// alpha 0: C = beta C without reading A or B (nil), path "scale".
	o := cpuGemm()
	o.Alpha, o.Beta = 0, 2
	info, err := Gemm[float64](rt, m, n, k, nil, nil, c, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i] *= 2
	}
	gemmClose(t, "C", c, want, 1e-13)
	if info.Path != "scale" {
		t.Fatalf("path %q, want scale", info.Path)
	}
	// beta != 0 propagates a NaN in C.
	c[0] = math.NaN()
	o.Alpha, o.Beta = 1, 1
	if _, err := Gemm(rt, m, n, k, a, b, c, o); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(c[0]) || math.IsNaN(c[1]) {
		t.Fatalf("c[0] = %v, c[1] = %v", c[0], c[1])
	}
}

func TestGemmErrors(t *testing.T) {
	rt := tiny(t)
	a, b, c := make([]float32, 6), make([]float32, 6), make([]float32, 4)
	// The library's own refusals, with its messages naming the field.
	_, err := Gemm(rt, -1, 2, 3, a, b, c, cpuGemm())
	requireStatus(t, err, ErrInvalidArgument)
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	o := cpuGemm()
	o.LDA = 1 // row-major 2 x 3: a stored row is 3 long
	_, err = Gemm(rt, 2, 2, 3, a, b, c, o)
	requireStatus(t, err, ErrInvalidArgument, "lda")
	_, err = Gemm(rt, 2, 2, 3, nil, b, c, cpuGemm())
	e := requireStatus(t, err, ErrInvalidArgument)
	if e.Op != "plx_gemm" || e.Message == "" {
		t.Fatalf("error %+v", e)
	}
	o = cpuGemm()
	o.Layout = 7
	_, err = Gemm(rt, 2, 2, 3, a, b, c, o)
	requireStatus(t, err, ErrInvalidArgument, "layout")
	// The binding's: a slice too short for its matrix.
	_, err = Gemm(rt, 2, 2, 3, a[:5], b, c, cpuGemm())
	requireStatus(t, err, ErrInvalidArgument, "A has 5 elements")
	_, err = GemmBatchedStrided(rt, 2, 2, 2, 3, a, 6, b, 0, c, 4, cpuGemm())
	requireStatus(t, err, ErrInvalidArgument, "A has 6 elements")
	_, err = GemmBatchedStrided(rt, -1, 2, 2, 3, a, 0, b, 0, c, 4, cpuGemm())
	requireStatus(t, err, ErrInvalidArgument)
	// A GPU on a CPU-only runtime.
	o = cpuGemm()
	o.Device = PreferGPU
	_, err = Gemm(rt, 2, 2, 3, a, b, c, o)
	requireStatus(t, err, ErrNoDevice)
	// Tuning: no such device, bad options.
	_, err = rt.GemmTune(99, nil)
	requireStatus(t, err, ErrInvalidArgument)
	to := DefaultGemmTuneOptions()
	to.Size = 1
	_, err = rt.GemmTune(0, &to)
	if err == nil {
		t.Fatal("GemmTune with size 1 succeeded")
	}
	// Closed runtime.
	closed := newRuntime(t, "tiny-2c-4g")
	closed.Close()
	_, err = Gemm(closed, 2, 2, 3, a, b, c, nil)
	requireStatus(t, err, ErrInvalidArgument, "closed")
}

func TestGemmBatchedStrided(t *testing.T) {
	rt := tiny(t)
	rng := rand.New(rand.NewSource(11))
	const batch, m, n, k = 5, 6, 7, 8
	for _, sharedB := range []bool{false, true} {
		a := gemmRandom[float32](rng, batch*m*k)
		strideB := int64(k * n)
		b := gemmRandom[float32](rng, batch*k*n)
		if sharedB {
			strideB = 0
			b = b[:k*n]
		}
		strideC := int64(m*n + 2) // gaps between the C matrices stay untouched
		c := make([]float32, batch*strideC)
		for i := range c {
			c[i] = float32(math.NaN())
		}
		want := append([]float32(nil), c...)
		for i := int64(0); i < batch; i++ {
			naiveGemm(RowMajor, false, false, m, n, k, 1, a[i*m*k:], k, b[i*strideB:], n, 0, want[i*strideC:], n)
		}
		o := cpuGemm()
		info, err := GemmBatchedStrided(rt, batch, m, n, k, a, m*k, b, strideB, c, strideC, o)
		if err != nil {
			t.Fatal(err)
		}
		gemmClose(t, "C", c, want, 1e-5)
		if info.DeviceIndex != -1 {
			t.Fatalf("info %+v", info)
		}
	}
	// batch 0 does nothing.
	if _, err := GemmBatchedStrided[float64](rt, 0, 2, 2, 2, nil, 0, nil, 0, nil, 0, cpuGemm()); err != nil {
		t.Fatal(err)
	}
	// Overlapping C matrices are refused by the library.
	a, b, c := make([]float64, 4), make([]float64, 4), make([]float64, 8)
	_, err := GemmBatchedStrided(rt, 2, 2, 2, 2, a, 0, b, 0, c, 1, cpuGemm())
	requireStatus(t, err, ErrInvalidArgument)
}
