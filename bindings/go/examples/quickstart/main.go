// Quick start: stack a few frames, co-add two tiles, and hand Parallax a loop.
package main

import (
	"fmt"
	"log"
	"math"
	"sync/atomic"

	"parallax.dev/parallax"
)

func main() {
	rt, err := parallax.NewRuntime(&parallax.RuntimeOptions{RAMFraction: 0.5})
	if err != nil {
		log.Fatal(err) // e.g. a libparallax of another major version: errors.Is(err, parallax.ErrVersion)
	}
	defer rt.Close()

	// Stack 12 frames of 4 x 6 pixels with a 3-sigma clip; frame 2 has a cosmic ray.
	const h, w = 4, 6
	frames := make([][]float32, 12)
	for f := range frames {
		frames[f] = make([]float32, h*w)
		for i := range frames[f] {
			frames[f][i] = 100 + float32(f%2)
		}
	}
	frames[2][7] = 5000
	opts := parallax.DefaultStackOptions()
	opts.Reject, opts.SigmaLow, opts.SigmaHigh = parallax.RejectSigmaClip, 3, 3
	stacked, err := rt.Stack(parallax.StackInput{Frames: frames, Height: h, Width: w}, &opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stack: pixel 7 = %.2f from %d of %d frames (%d rejected)\n",
		stacked.Image[7], stacked.Count[7], len(frames), stacked.Rejected)

	// Co-add two 3 x 4 tiles onto a 3 x 6 grid; the second sits 2 columns right.
	left, right := make([]float32, 12), make([]float32, 12)
	for i := range left {
		left[i], right[i] = 10, 20
	}
	mosaic, err := rt.Coadd([]parallax.CoaddInput{
		{Data: left, Height: 3, Width: 4},
		{Data: right, Height: 3, Width: 4, Matrix: []float64{1, 0, -2, 0, 1, 0}}, // input x = output x - 2
	}, 3, 6, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("coadd: row 0 = %v, footprint %v\n", mosaic.Image[:6], mosaic.Footprint[:6])

	// A loop over a million items in chunks, on all usable CPUs.
	data := make([]float64, 1_000_000)
	var chunks int64
	report, err := rt.ParallelFor(0, int64(len(data)), func(begin, end int64, worker int) error {
		for i := begin; i < end; i++ {
			data[i] = math.Sqrt(float64(i))
		}
		atomic.AddInt64(&chunks, 1)
		return nil
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("parallel_for: %d chunks on %d workers, data[999999] = %.3f\n", chunks, report.Workers, data[999999])
}
