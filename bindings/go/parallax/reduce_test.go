package parallax

import (
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// pairwise combines partials as the library does: a fixed tree over the chunks in order.
func pairwise[T any](partials []T, add func(a, b T) T) T {
	for step := 1; step < len(partials); step *= 2 {
		for i := 0; i+step < len(partials); i += 2 * step {
			partials[i] = add(partials[i], partials[i+step])
		}
	}
	return partials[0]
}

func TestSumsEqualPlainCodeBitForBit(t *testing.T) {
	rt := tiny(t)
	rng := rand.New(rand.NewSource(1234))
	data := make([]float64, 20000)
	for i := range data {
		data[i] = (rng.Float64()*2 - 1) * math.Pow(10, float64(rng.Intn(17)-8))
	}
	chunkSum := func(begin, end int64, _ int) (float64, error) {
		s := 0.0
		for _, v := range data[begin:end] {
			s += v
		}
		return s, nil
	}
	grain := int64((len(data) + 4095) / 4096) // the default grain
	var partials []float64
	for b := int64(0); b < int64(len(data)); b += grain {
		s, _ := chunkSum(b, min64(b+grain, int64(len(data))), 0)
		partials = append(partials, s)
	}
	expected := pairwise(partials, func(a, b float64) float64 { return a + b })
	for _, workers := range []int32{1, 2, 3, 8} {
		got := must[float64](t)(ParallelSum(rt, 0, int64(len(data)), chunkSum, &RunOptions{Workers: workers}))
		if math.Float64bits(got) != math.Float64bits(expected) {
			t.Fatalf("%d workers: %v, want %v", workers, got, expected)
		}
	}
	f32 := must[float32](t)(ParallelSum(rt, 0, 1000, func(b, e int64, _ int) (float32, error) {
		return float32(e-b) * 0.5, nil
	}, &RunOptions{Grain: 7}))
	i64 := must[int64](t)(ParallelSum(rt, 0, 1000000, func(b, e int64, _ int) (int64, error) {
		s := int64(0)
		for i := b; i < e; i++ {
			s += i
		}
		return s, nil
	}, nil))
	if f32 != 500 || i64 != 999999*1000000/2 {
		t.Fatalf("float32 %v, int64 %v", f32, i64)
	}
	wrap := must[int64](t)(ParallelSum(rt, 0, 2, func(int64, int64, int) (int64, error) { return 1 << 62, nil },
		&RunOptions{Grain: 1}))
	empty := must[float64](t)(ParallelSum(rt, 3, 3, chunkSum, nil))
	if wrap != math.MinInt64 || empty != 0 {
		t.Fatalf("wrap %d empty %v", wrap, empty)
	}
}

func TestCustomReductionKeepsTheChunkOrder(t *testing.T) {
	rt := tiny(t)
	for _, workers := range []int32{1, 2, 5} {
		got := must[string](t)(ParallelReduce(rt, 0, 26, "", func(b, e int64, _ int) (string, error) {
			var s strings.Builder
			for i := b; i < e; i++ {
				s.WriteByte(byte('a' + i))
			}
			return s.String(), nil
		}, func(a, b string) (string, error) { return a + b, nil }, &RunOptions{Workers: workers, Grain: 3}))
		if got != "abcdefghijklmnopqrstuvwxyz" {
			t.Fatalf("%d workers: %q", workers, got)
		}
	}
	type stats struct{ n, min, max int64 }
	s := must[stats](t)(ParallelReduce(rt, 0, 10000, stats{min: math.MaxInt64, max: math.MinInt64},
		func(b, e int64, _ int) (stats, error) { return stats{e - b, b, e - 1}, nil },
		func(a, b stats) (stats, error) {
			if b.min < a.min {
				a.min = b.min
			}
			if b.max > a.max {
				a.max = b.max
			}
			return stats{a.n + b.n, a.min, a.max}, nil
		}, nil))
	if s != (stats{10000, 0, 9999}) {
		t.Fatalf("%+v", s)
	}
	identity := must[[]int](t)(ParallelReduce(rt, 4, 4, []int{42}, func(int64, int64, int) ([]int, error) {
		return nil, nil
	}, func(a, b []int) ([]int, error) { return append(a, b...), nil }, nil))
	if len(identity) != 1 || identity[0] != 42 {
		t.Fatalf("empty range: %v", identity)
	}
}

func TestReductionFailures(t *testing.T) {
	rt := tiny(t)
	bad := errors.New("bad chunk")
	_, err := ParallelSum(rt, 0, 100, func(b, e int64, _ int) (float64, error) {
		if b == 50 {
			return 0, bad
		}
		return 1, nil
	}, &RunOptions{Grain: 10})
	requireStatus(t, err, ErrTaskFailed, "[50, 60)")
	if !errors.Is(err, bad) {
		t.Fatalf("%v", err)
	}
	_, err = ParallelReduce(rt, 0, 100, 0, func(int64, int64, int) (int, error) { return 1, nil },
		func(a, b int) (int, error) { panic("combine boom") }, &RunOptions{Grain: 10})
	var p *PanicError
	if !errors.Is(err, ErrTaskFailed) || !errors.As(err, &p) || p.Value != "combine boom" {
		t.Fatalf("%v", err)
	}
	_, err = ParallelSum(rt, 0, 1<<30, func(int64, int64, int) (float64, error) { return 0, nil }, &RunOptions{Grain: 1})
	requireStatus(t, err, ErrInvalidArgument, "grain")
}
