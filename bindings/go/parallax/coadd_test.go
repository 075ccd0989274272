package parallax

import (
	"errors"
	"math"
	"math/rand"
	"sync"
	"testing"
)

func image(seed int64, h, w int) []float32 {
	rng := rand.New(rand.NewSource(seed))
	data := make([]float32, h*w)
	for i := range data {
		data[i] = float32(rng.Intn(10000)) / 16
	}
	return data
}

// shifted is the affine mapping of an input placed at (dx, dy) on the output.
func shifted(dx, dy float64) []float64 { return []float64{1, 0, -dx, 0, 1, -dy} }

func TestCoaddTwoTilesEqualPlainCode(t *testing.T) {
	rt := tiny(t)
	const H, W, h, w = 30, 50, 20, 30
	a, b := image(1, h, w), image(2, h, w)
	// a at (0, 0), b at (20, 10): they overlap on rows 10..19, columns 20..29.
	inputs := []CoaddInput{
		{Data: a, Height: h, Width: w, Matrix: shifted(0, 0)},
		{Data: b, Height: h, Width: w, Matrix: shifted(20, 10), Weight: 3},
	}
	r := must[*CoaddResult](t)(rt.Coadd(inputs, H, W, nil))
	covered := 0
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			num, den := 0.0, 0.0
			if y < h && x < w {
				num, den = num+float64(a[y*w+x]), den+1
			}
			if y >= 10 && x >= 20 && y-10 < h && x-20 < w {
				num, den = num+3*float64(b[(y-10)*w+x-20]), den+3
			}
			want := float32(math.NaN())
			if den > 0 {
				want = float32(num / den)
				covered++
			}
			got := r.Image[y*W+x]
			if !(got == want || math.IsNaN(float64(got)) && math.IsNaN(float64(want))) || r.Footprint[y*W+x] != float32(den) {
				t.Fatalf("(%d, %d): %v footprint %v, want %v footprint %v", x, y, got, r.Footprint[y*W+x], want, den)
			}
		}
	}
	if r.Covered != int64(covered) || r.Samples == 0 || r.DeviceIndex != -1 || r.Report == nil {
		t.Fatalf("%+v", r)
	}
}

func TestCoaddCombinesAndBackgrounds(t *testing.T) {
	rt := tiny(t)
	constant := func(v float32) []float32 {
		d := make([]float32, 16)
		for i := range d {
			d[i] = v
		}
		return d
	}
	inputs := []CoaddInput{{Data: constant(1), Height: 4, Width: 4}, {Data: constant(5), Height: 4, Width: 4},
		{Data: constant(3.5), Height: 4, Width: 4, Background: 0.5}}
	want := map[CoaddCombine]float32{CoaddMean: 3, CoaddSum: 9, CoaddMin: 1, CoaddMax: 5, CoaddMedian: 3,
		CoaddFirst: 1, CoaddLast: 3}
	for combine, v := range want {
		o := DefaultCoaddOptions()
		o.Combine = combine
		r := must[*CoaddResult](t)(rt.Coadd(inputs, 4, 4, &o))
		for i, got := range r.Image {
			if got != v || r.Footprint[i] != 3 {
				t.Fatalf("combine %d pixel %d: %v footprint %v, want %v", combine, i, got, r.Footprint[i], v)
			}
		}
	}
	// NEAREST through an identity homography is the input itself.
	a := image(3, 9, 13)
	o := DefaultCoaddOptions()
	o.Interpolation = InterpNearest
	r := must[*CoaddResult](t)(rt.Coadd([]CoaddInput{{Data: a, Height: 9, Width: 13, Mapping: MappingHomography,
		Matrix: []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}}}, 9, 13, &o))
	for i := range a {
		if r.Image[i] != a[i] {
			t.Fatalf("pixel %d: %v, want %v", i, r.Image[i], a[i])
		}
	}
}

func TestCoordinateMapAndTilesGiveTheSameBits(t *testing.T) {
	rt := tiny(t)
	const H, W, h, w = 40, 40, 25, 30
	a := image(4, h, w)
	m := []float64{0.9, -0.2, 3.3, 0.15, 1.05, -2.7} // rotation, scale and a non-integer shift
	o := DefaultCoaddOptions()
	byMatrix := must[*CoaddResult](t)(rt.Coadd([]CoaddInput{{Data: a, Height: h, Width: w, Matrix: m}}, H, W, &o))
	var calls int64
	var mu sync.Mutex
	byMap := must[*CoaddResult](t)(rt.Coadd([]CoaddInput{{Data: a, Height: h, Width: w, Mapping: MappingCoordinateMap,
		Map: func(input int64, xo, yo, xi, yi []float64) error {
			mu.Lock()
			calls++
			mu.Unlock()
			for k := range xo {
				xi[k] = m[0]*xo[k] + m[1]*yo[k] + m[2]
				yi[k] = m[3]*xo[k] + m[4]*yo[k] + m[5]
			}
			return nil
		}}}, H, W, &o))
	same := func(x, y []float32) bool {
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
		return true
	}
	if calls == 0 || !same(byMatrix.Image, byMap.Image) || !same(byMatrix.Footprint, byMap.Footprint) {
		t.Fatalf("%d map calls; images equal %v", calls, same(byMatrix.Image, byMap.Image))
	}
	image := make([]float32, H*W)
	footprint := make([]float32, H*W)
	rows := int64(0)
	o.Tile = func(row0, n int64, img, fp []float32) error {
		copy(image[row0*W:], img)
		copy(footprint[row0*W:], fp)
		rows += n
		return nil
	}
	o.Run = &RunOptions{MemoryBudgetBytes: 0}
	tiled := must[*CoaddResult](t)(rt.Coadd([]CoaddInput{{Data: a, Height: h, Width: w, Matrix: m}}, H, W, &o))
	if tiled.Image != nil || rows != H || !same(image, byMatrix.Image) || !same(footprint, byMatrix.Footprint) {
		t.Fatalf("tiled: %d rows; same %v", rows, same(image, byMatrix.Image))
	}
}

func TestCoaddFailures(t *testing.T) {
	rt := tiny(t)
	a := image(5, 8, 8)
	broken := errors.New("no coordinates")
	_, err := rt.Coadd([]CoaddInput{{Data: a, Height: 8, Width: 8, Mapping: MappingCoordinateMap,
		Map: func(int64, []float64, []float64, []float64, []float64) error { return broken }}}, 8, 8, nil)
	if !errors.Is(err, ErrTaskFailed) || !errors.Is(err, broken) {
		t.Fatalf("%v", err)
	}
	o := DefaultCoaddOptions()
	o.Tile = func(int64, int64, []float32, []float32) error { panic("tile boom") }
	_, err = rt.Coadd([]CoaddInput{{Data: a, Height: 8, Width: 8}}, 8, 8, &o)
	var p *PanicError
	if !errors.Is(err, ErrTaskFailed) || !errors.As(err, &p) || p.Value != "tile boom" {
		t.Fatalf("%v", err)
	}
	_, err = rt.Coadd([]CoaddInput{{Data: a[:60], Height: 8, Width: 8}}, 8, 8, nil)
	requireStatus(t, err, ErrInvalidArgument, "inputs[0].Data has 60 floats")
	_, err = rt.Coadd([]CoaddInput{{Data: a, Height: 8, Width: 8, Matrix: []float64{1, 2, 3}}}, 8, 8, nil)
	requireStatus(t, err, ErrInvalidArgument, "Matrix has 3 values")
	_, err = rt.Coadd(nil, 8, 8, nil)
	requireStatus(t, err, ErrInvalidArgument, "count")
	_, err = rt.Coadd([]CoaddInput{{Data: a, Height: 8, Width: 8, Mapping: MappingWCS}}, 8, 8, nil)
	requireStatus(t, err, ErrInvalidArgument, "wcs")
	_, err = rt.Coadd([]CoaddInput{{Data: a, Height: 8, Width: 8, Background: math.Inf(1)}}, 8, 8, nil)
	requireStatus(t, err, ErrInvalidArgument, "background")
	o = DefaultCoaddOptions()
	o.Device = PreferGPU
	_, err = rt.Coadd([]CoaddInput{{Data: a, Height: 8, Width: 8}}, 8, 8, &o)
	requireStatus(t, err, ErrNoDevice)
}
