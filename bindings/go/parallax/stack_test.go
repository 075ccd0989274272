package parallax

import (
	"errors"
	"math"
	"math/rand"
	"sort"
	"testing"
)

// cube is n frames of h x w pixels around 100, with NaNs, infinities and outliers.
func cube(seed int64, n, h, w int) [][]float32 {
	rng := rand.New(rand.NewSource(seed))
	frames := make([][]float32, n)
	for f := range frames {
		frames[f] = make([]float32, h*w)
		for i := range frames[f] {
			v := 100 + rng.NormFloat64()*5
			switch r := rng.Float64(); {
			case r < 0.03:
				v = math.NaN()
			case r < 0.04:
				v = 1e4 // a cosmic ray
			case r < 0.045:
				v = math.Inf(1)
			case r < 0.05:
				v = -300
			}
			frames[f][i] = float32(v)
		}
	}
	return frames
}

// samples are the values of pixel i of every frame, in double.
func samples(frames [][]float32, i int) []float64 {
	s := make([]float64, len(frames))
	for f := range frames {
		s[f] = float64(frames[f][i])
	}
	return s
}

func finite(s []float64) []float64 {
	var out []float64
	for _, v := range s {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// sigmaClip is astropy's sigma_clip(cenfunc='median', stdfunc='std') on one
// pixel: the kept finite samples, and how many were rejected below and above
// (infinities included).
func sigmaClip(s []float64, low, high float64, maxIters int) (kept []float64, below, above int) {
	f := finite(s)
	for _, v := range s {
		if math.IsInf(v, -1) {
			below++
		} else if math.IsInf(v, 1) {
			above++
		}
	}
	if len(f) < 3 {
		return f, below, above
	}
	survivors := f
	var lo, hi float64
	for iter := 0; iter < maxIters; iter++ {
		c, m := median(survivors), mean(survivors)
		variance := 0.0
		for _, v := range survivors {
			variance += (v - m) * (v - m)
		}
		std := math.Sqrt(variance / float64(len(survivors)))
		lo, hi = c-low*std, c+high*std
		var next []float64
		for _, v := range survivors {
			if v >= lo && v <= hi {
				next = append(next, v)
			}
		}
		changed := len(next) != len(survivors)
		survivors = next
		if !changed {
			break
		}
	}
	for _, v := range f {
		switch {
		case v < lo:
			below++
		case v > hi:
			above++
		default:
			kept = append(kept, v)
		}
	}
	return kept, below, above
}

func closeTo(got float32, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(float64(got))
	}
	return math.Abs(float64(got)-want) <= 1e-6*math.Max(1, math.Abs(want))
}

func TestStackCombinesEqualPlainCode(t *testing.T) {
	rt := tiny(t)
	const n, h, w = 9, 7, 11
	frames := cube(1, n, h, w)
	in := StackInput{Frames: frames, Height: h, Width: w}
	reduce := map[StackCombine]func([]float64) float64{
		CombineMean: mean, CombineMedian: median,
		CombineSum: func(v []float64) float64 {
			s := 0.0
			for _, x := range v {
				s += x
			}
			return s
		},
		CombineMin: func(v []float64) float64 {
			m := math.Inf(1)
			for _, x := range v {
				m = math.Min(m, x)
			}
			return m
		},
		CombineMax: func(v []float64) float64 {
			m := math.Inf(-1)
			for _, x := range v {
				m = math.Max(m, x)
			}
			return m
		},
	}
	for combine, fn := range reduce {
		o := DefaultStackOptions()
		o.Combine = combine
		r := must[*StackResult](t)(rt.Stack(in, &o))
		for i := 0; i < h*w; i++ {
			f := finite(samples(frames, i))
			want := math.NaN()
			if len(f) > 0 {
				want = fn(f)
			}
			if int(r.Count[i]) != len(f) || !closeTo(r.Image[i], want) {
				t.Fatalf("combine %d pixel %d: %v (count %d), want %v (count %d)", combine, i, r.Image[i],
					r.Count[i], want, len(f))
			}
		}
		if r.Samples != n*h*w || r.Kept+r.Rejected+r.Missing != r.Samples || len(r.SIMDTarget) == 0 || r.Workers < 1 {
			t.Fatalf("%+v", r)
		}
	}
}

func TestStackSigmaClipEqualsAstropysRule(t *testing.T) {
	rt := tiny(t)
	const n, h, w = 15, 6, 9
	frames := cube(2, n, h, w)
	o := DefaultStackOptions()
	o.Reject, o.SigmaLow, o.SigmaHigh, o.RejectionMaps = RejectSigmaClip, 2.5, 2, true
	r := must[*StackResult](t)(rt.Stack(StackInput{Frames: frames, Height: h, Width: w}, &o))
	clipped := 0
	for i := 0; i < h*w; i++ {
		kept, below, above := sigmaClip(samples(frames, i), 2.5, 2, 5)
		if int(r.Count[i]) != len(kept) || int(r.RejectedLow[i]) != below || int(r.RejectedHigh[i]) != above ||
			!closeTo(r.Image[i], mean(kept)) {
			t.Fatalf("pixel %d: %v count %d low %d high %d; want %v %d %d %d", i, r.Image[i], r.Count[i],
				r.RejectedLow[i], r.RejectedHigh[i], mean(kept), len(kept), below, above)
		}
		clipped += below + above
	}
	if clipped == 0 || r.Rejected != int64(clipped) {
		t.Fatalf("rejected %d, counted %d", r.Rejected, clipped)
	}
}

func TestStackWeightsChannelsProviderAndStats(t *testing.T) {
	rt := tiny(t)
	const n, h, w, c = 4, 5, 6, 2
	rng := rand.New(rand.NewSource(3))
	frames := make([][]float32, n)
	for f := range frames {
		frames[f] = make([]float32, c*h*w)
		for i := range frames[f] {
			frames[f][i] = float32(rng.Intn(1000)) / 8
		}
	}
	in := StackInput{Frames: frames, Height: h, Width: w, Channels: c}
	o := DefaultStackOptions()
	o.Combine, o.Weights, o.FrameWeights, o.FrameStatistics = CombineWeightedMean, WeightsGiven, []float64{1, 2, 3, 4}, true
	r := must[*StackResult](t)(rt.Stack(in, &o))
	for i := 0; i < c*h*w; i++ {
		num, den := 0.0, 0.0
		for f := 0; f < n; f++ {
			num += o.FrameWeights[f] * float64(frames[f][i])
			den += o.FrameWeights[f]
		}
		if !closeTo(r.Image[i], num/den) || r.Count[i] != n {
			t.Fatalf("pixel %d: %v, want %v", i, r.Image[i], num/den)
		}
	}
	if len(r.FrameWeight) != n*c || r.FrameWeight[2*c] != 3 || r.FrameScale[0] != 1 || r.FrameOffset[0] != 0 ||
		len(r.FrameRejected) != n {
		t.Fatalf("frame statistics %v %v %v", r.FrameWeight, r.FrameScale, r.FrameOffset)
	}
	// A provider giving the same pixels gives the same bits.
	provided := must[*StackResult](t)(rt.Stack(StackInput{Count: n, Height: h, Width: w, Channels: c,
		Provider: func(frame, row0, rows, col0, cols int64, channel int, dst []float32, stride int64) error {
			for r := int64(0); r < rows; r++ {
				src := frames[frame][int64(channel)*h*w+(row0+r)*w+col0:]
				copy(dst[r*stride:r*stride+cols], src[:cols])
			}
			return nil
		}}, &o))
	for i := range r.Image {
		if math.Float32bits(provided.Image[i]) != math.Float32bits(r.Image[i]) {
			t.Fatalf("pixel %d: provider %v, frames %v", i, provided.Image[i], r.Image[i])
		}
	}
	// Strided frames: every other column of wider rows, read in place.
	wide := make([][]float32, n)
	for f := range wide {
		wide[f] = make([]float32, c*h*(w+3))
		for ch := 0; ch < c; ch++ {
			for y := 0; y < h; y++ {
				copy(wide[f][(ch*h+y)*(w+3):], frames[f][(ch*h+y)*w:(ch*h+y)*w+w])
			}
		}
	}
	strided := must[*StackResult](t)(rt.Stack(StackInput{Frames: wide, Height: h, Width: w, Channels: c,
		RowStride: w + 3}, &o))
	for i := range r.Image {
		if strided.Image[i] != r.Image[i] {
			t.Fatalf("pixel %d: strided %v, contiguous %v", i, strided.Image[i], r.Image[i])
		}
	}
}

func TestStackPlanProgressCancelAndFailures(t *testing.T) {
	rt := tiny(t)
	frames := cube(4, 6, 64, 32)
	in := StackInput{Frames: frames, Height: 64, Width: 32}
	plan := must[*Plan](t)(rt.StackPlan(in, nil))
	defer plan.Close()
	if plan.CPUWorkers < 1 || plan.Name != "stack" {
		t.Fatalf("%+v", plan.PlanInfo)
	}
	var last Progress
	o := DefaultStackOptions()
	o.Run = &RunOptions{ProgressInterval: 1, Progress: func(p Progress) error { last = p; return nil }}
	r := must[*StackResult](t)(rt.Stack(in, &o))
	if last.Done != last.Total || last.Total < 64 || r.Report == nil || r.Report.Workers < 1 {
		t.Fatalf("progress %+v report %+v", last, r.Report)
	}
	token := must[*CancelToken](t)(NewCancelToken())
	defer token.Close()
	token.Cancel()
	o.Run = &RunOptions{Cancel: token}
	_, err := rt.Stack(in, &o)
	requireStatus(t, err, ErrCancelled)

	broken := errors.New("frame unreadable")
	_, err = rt.Stack(StackInput{Count: 3, Height: 4, Width: 4,
		Provider: func(frame, _, _, _, _ int64, _ int, _ []float32, _ int64) error {
			if frame == 1 {
				return broken
			}
			return nil
		}}, nil)
	if !errors.Is(err, ErrTaskFailed) || !errors.Is(err, broken) {
		t.Fatalf("%v", err)
	}
	_, err = rt.Stack(StackInput{Count: 3, Height: 4, Width: 4,
		Provider: func(int64, int64, int64, int64, int64, int, []float32, int64) error { panic("provider boom") }}, nil)
	var p *PanicError
	if !errors.Is(err, ErrTaskFailed) || !errors.As(err, &p) {
		t.Fatalf("%v", err)
	}
}

func TestStackBadInput(t *testing.T) {
	rt := tiny(t)
	frames := cube(5, 3, 4, 5)
	_, err := rt.Stack(StackInput{Frames: frames, Height: 4, Width: 6}, nil)
	requireStatus(t, err, ErrInvalidArgument, "Frames[0] has 20 floats", "needs 24")
	_, err = rt.Stack(StackInput{Frames: nil, Height: 4, Width: 5}, nil)
	requireStatus(t, err, ErrInvalidArgument, "frames")
	o := DefaultStackOptions()
	o.Reject, o.SigmaLow = RejectSigmaClip, -1
	_, err = rt.Stack(StackInput{Frames: frames, Height: 4, Width: 5}, &o)
	requireStatus(t, err, ErrInvalidArgument, "sigma_low")
	o = DefaultStackOptions()
	o.Weights, o.FrameWeights = WeightsGiven, []float64{1, 2}
	_, err = rt.Stack(StackInput{Frames: frames, Height: 4, Width: 5}, &o)
	requireStatus(t, err, ErrInvalidArgument, "FrameWeights has 2 weights for 3 frames")
	o = DefaultStackOptions()
	o.Combine, o.Weights, o.FrameWeights = CombineWeightedMean, WeightsGiven, []float64{1, math.NaN(), 1}
	_, err = rt.Stack(StackInput{Frames: frames, Height: 4, Width: 5}, &o)
	requireStatus(t, err, ErrInvalidArgument, "frame_weights")
	o = DefaultStackOptions()
	o.Device = PreferGPU
	_, err = rt.Stack(StackInput{Frames: frames, Height: 4, Width: 5}, &o)
	requireStatus(t, err, ErrNoDevice)
	_, err = rt.Stack(StackInput{Frames: frames, Provider: func(int64, int64, int64, int64, int64, int, []float32, int64) error {
		return nil
	}, Height: 4, Width: 5}, nil)
	requireStatus(t, err, ErrInvalidArgument, "not both")
}

func TestOutputsTooLargeToAllocateAreRefused(t *testing.T) {
	rt := tiny(t)
	_, err := rt.Stack(StackInput{Count: 2, Height: 1 << 31, Width: 1 << 31,
		Provider: func(int64, int64, int64, int64, int64, int, []float32, int64) error { return nil }}, nil)
	requireStatus(t, err, ErrOutOfMemory, "stacked image")
	_, err = rt.Coadd([]CoaddInput{{Data: make([]float32, 4), Height: 2, Width: 2}}, 1<<40, 1<<40, nil)
	requireStatus(t, err, ErrOutOfMemory, "output image")
}
