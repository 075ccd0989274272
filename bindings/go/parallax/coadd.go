package parallax

// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// CoaddMapping is a plx_coadd_mapping_t: how output pixels map to an input's.
type CoaddMapping int32

const (
	MappingAffine        CoaddMapping = C.PLX_MAPPING_AFFINE     // xi = m0 x + m1 y + m2, yi = m3 x + m4 y + m5
	MappingHomography    CoaddMapping = C.PLX_MAPPING_HOMOGRAPHY // 3 x 3, row-major
	MappingWCS           CoaddMapping = C.PLX_MAPPING_WCS        // FITS headers, by wcslib
	MappingCoordinateMap CoaddMapping = C.PLX_MAPPING_COORDINATE_MAP
)

// Interpolation is a plx_interpolation_t.
type Interpolation int32

const (
	InterpNearest  Interpolation = C.PLX_INTERP_NEAREST
	InterpBilinear Interpolation = C.PLX_INTERP_BILINEAR
	InterpBicubic  Interpolation = C.PLX_INTERP_BICUBIC
	InterpLanczos3 Interpolation = C.PLX_INTERP_LANCZOS3
)

// CoaddCombine is a plx_coadd_combine_t.
type CoaddCombine int32

const (
	CoaddMean   CoaddCombine = C.PLX_COADD_MEAN
	CoaddSum    CoaddCombine = C.PLX_COADD_SUM
	CoaddMin    CoaddCombine = C.PLX_COADD_MIN
	CoaddMax    CoaddCombine = C.PLX_COADD_MAX
	CoaddMedian CoaddCombine = C.PLX_COADD_MEDIAN
	CoaddFirst  CoaddCombine = C.PLX_COADD_FIRST
	CoaddLast   CoaddCombine = C.PLX_COADD_LAST
)

// CoordinateMapFunc writes the input pixel coordinates (xIn[k], yIn[k]) of the
// output pixels (xOut[k], yOut[k]) of input input; NaN where there is no
// counterpart. Called concurrently; a non-nil error (or a panic) fails the
// co-addition with ErrTaskFailed.
type CoordinateMapFunc func(input int64, xOut, yOut, xIn, yIn []float64) error

// CoaddTileFunc receives each finished output tile, rows [row0, row0+rows) of
// all columns (views valid during the call), one call at a time, in no
// particular order. A non-nil error (or a panic) fails the co-addition.
type CoaddTileFunc func(row0, rows int64, image, footprint []float32) error

// CoaddInput is one input image (plx_coadd_input_t).
type CoaddInput struct {
	Data      []float32 // Height x Width, RowStride floats per row; read in place
	Height    int64
	Width     int64
	RowStride int64     // 0 = Width
	Weights   []float32 // per-pixel weights in Data's layout, or nil
	// Weight is the input's scalar weight; 0 = 1 (an input weighing nothing is
	// better left out).
	Weight     float64
	Background float64 // subtracted from every value
	Mapping    CoaddMapping
	// Matrix is the AFFINE (6) or HOMOGRAPHY (9) matrix; nil = identity.
	Matrix    []float64
	WCSHeader string // MappingWCS: the FITS header, 80-character cards
	Map       CoordinateMapFunc
}

// CoaddOptions are the options of Coadd (plx_coadd_desc_t). Interpolation's
// zero is NEAREST, not the default: start from DefaultCoaddOptions; nil means
// those defaults.
type CoaddOptions struct {
	Interpolation   Interpolation
	Combine         CoaddCombine
	Device          DevicePreference
	OutputWCSHeader string // the output grid's FITS header: required with WCS inputs
	// Tile receives the output tile by tile instead of CoaddResult.Image, so
	// the output may be larger than memory.
	Tile CoaddTileFunc
	Run  *RunOptions
}

// DefaultCoaddOptions are the library's defaults (plx_coadd_desc_init):
// BILINEAR, MEAN, device AUTO.
func DefaultCoaddOptions() CoaddOptions {
	var m cmem
	defer m.free()
	d := newC[C.plx_coadd_desc_t](&m)
	C.plx_coadd_desc_init(d, sizeOf[C.plx_coadd_desc_t]())
	return CoaddOptions{Interpolation: Interpolation(d.interpolation), Combine: CoaddCombine(d.combine),
		Device: DevicePreference(d.device)}
}

// CoaddResult is what Coadd made (plx_coadd_result_t).
type CoaddResult struct {
	Image       []float32 // height x width; nil with a Tile function
	Footprint   []float32 // sum of the weights per pixel; nil with a Tile function
	Covered     int64     // output pixels with a non-zero footprint
	Samples     int64     // (input, output pixel) pairs interpolated
	TileRows    int64
	Tiles       int64
	DeviceIndex int // the device that resampled most rows, or -1 for the CPU
	Workers     int
	NativeWCS   int // WCS inputs mapped natively (TAN, TAN-SIP)
	GridWCS     int // WCS inputs mapped through wcslib on a grid
	Seconds     float64
	Report      *RunReport
}

type coaddRun struct {
	inputs []CoaddInput
	tileFn CoaddTileFunc
	width  int64
}

func (c *coaddRun) mapCoordinates(r *run, input, n int64, xOut, yOut, xIn, yIn unsafe.Pointer) C.int {
	fn := c.inputs[input].Map
	slice := func(p unsafe.Pointer) []float64 {
		if p == nil || n <= 0 {
			return []float64{}
		}
		return unsafe.Slice((*float64)(p), n)
	}
	if err := r.guard(func() error { return fn(input, slice(xOut), slice(yOut), slice(xIn), slice(yIn)) }); err != nil {
		r.record(input, fmt.Sprintf("the coordinate map of inputs[%d]", input), err)
		return returnCode(err)
	}
	return 0
}

func (c *coaddRun) tile(r *run, row0, rows int64, image, footprint unsafe.Pointer) C.int {
	n := rows * c.width
	slice := func(p unsafe.Pointer) []float32 {
		if p == nil || n <= 0 {
			return []float32{}
		}
		return unsafe.Slice((*float32)(p), n)
	}
	if err := r.guard(func() error { return c.tileFn(row0, rows, slice(image), slice(footprint)) }); err != nil {
		r.record(row0, "the tile function", err)
		return returnCode(err)
	}
	return 0
}

// Coadd resamples the inputs onto a height x width output grid and combines
// them (plx_coadd), as reproject's reproject_and_coadd with reproject_interp
// does; output tiles are planned within the runtime's memory budget.
func (rt *Runtime) Coadd(inputs []CoaddInput, height, width int64, options *CoaddOptions) (*CoaddResult, error) {
	const op = "plx_coadd"
	o := options
	if o == nil {
		defaults := DefaultCoaddOptions()
		o = &defaults
	}
	p, err := rt.use(op)
	if err != nil {
		return nil, err
	}
	defer rt.h.release()
	r, err := newRun(op, o.Run)
	if err != nil {
		return nil, err
	}
	defer r.finish()
	r.coadd = &coaddRun{inputs: inputs, tileFn: o.Tile, width: width}

	cinputs := newCArray[C.plx_coadd_input_t](&r.m, len(inputs)+1)
	for i := range inputs {
		in := &inputs[i]
		c := &cinputs[i]
		if err := call("plx_coadd_input_init", func() C.plx_status_t {
			return C.plx_coadd_input_init(c, sizeOf[C.plx_coadd_input_t]())
		}); err != nil {
			return nil, err
		}
		stride := in.RowStride
		if stride == 0 {
			stride = in.Width
		}
		if in.Height >= 1 && in.Width >= 1 && stride >= in.Width {
			need := (in.Height-1)*stride + in.Width
			if int64(len(in.Data)) < need {
				return nil, invalid(op, "inputs[%d].Data has %d floats; %d x %d with row stride %d needs %d",
					i, len(in.Data), in.Height, in.Width, stride, need)
			}
			if in.Weights != nil && int64(len(in.Weights)) < need {
				return nil, invalid(op, "inputs[%d].Weights has %d floats; the layout of Data needs %d",
					i, len(in.Weights), need)
			}
		}
		if len(in.Data) > 0 {
			setAddr(unsafe.Pointer(&c.data), unsafe.Pointer(&in.Data[0]))
		}
		if len(in.Weights) > 0 {
			setAddr(unsafe.Pointer(&c.weights), unsafe.Pointer(&in.Weights[0]))
		}
		c.height, c.width, c.row_stride = C.int64_t(in.Height), C.int64_t(in.Width), C.int64_t(in.RowStride)
		if in.Weight != 0 {
			c.weight = C.double(in.Weight)
		}
		c.background = C.double(in.Background)
		c.mapping = C.int32_t(in.Mapping)
		if in.Matrix != nil {
			if len(in.Matrix) != 6 && len(in.Matrix) != 9 {
				return nil, invalid(op, "inputs[%d].Matrix has %d values: give 6 (affine) or 9 (homography)",
					i, len(in.Matrix))
			}
			for k, v := range in.Matrix {
				c.matrix[k] = C.double(v)
			}
		}
		c.wcs_header = r.m.optString(in.WCSHeader)
		if in.Map != nil {
			C.plxgo_set_coordinate_map(c, C.uintptr_t(r.handle))
		}
	}
	r.keep = append(r.keep, inputs)

	d := newC[C.plx_coadd_desc_t](&r.m)
	if err := call("plx_coadd_desc_init", func() C.plx_status_t {
		return C.plx_coadd_desc_init(d, sizeOf[C.plx_coadd_desc_t]())
	}); err != nil {
		return nil, err
	}
	if len(inputs) > 0 {
		d.inputs = &cinputs[0]
	}
	d.count, d.height, d.width = C.int64_t(len(inputs)), C.int64_t(height), C.int64_t(width)
	d.output_wcs_header = r.m.optString(o.OutputWCSHeader)
	d.interpolation, d.combine, d.device = C.int32_t(o.Interpolation), C.int32_t(o.Combine), C.int32_t(o.Device)
	if o.Tile != nil {
		C.plxgo_set_coadd_tile(d, C.uintptr_t(r.handle))
	}
	d.run_options = r.options

	res := newC[C.plx_coadd_result_t](&r.m)
	if err := call("plx_coadd_result_init", func() C.plx_status_t {
		return C.plx_coadd_result_init(res, sizeOf[C.plx_coadd_result_t]())
	}); err != nil {
		return nil, err
	}
	out := &CoaddResult{}
	pixels, err := outputSize(op, "output image", height, width)
	if err != nil {
		return nil, err
	}
	if o.Tile == nil && pixels > 0 {
		out.Image, out.Footprint = make([]float32, pixels), make([]float32, pixels)
		setAddr(unsafe.Pointer(&res.image), unsafe.Pointer(&out.Image[0]))
		setAddr(unsafe.Pointer(&res.footprint), unsafe.Pointer(&out.Footprint[0]))
	}
	err = call(op, func() C.plx_status_t { return C.plx_coadd(p, d, res) })
	runtime.KeepAlive(inputs)
	runtime.KeepAlive(out)
	report, err := r.outcome(err)
	if err != nil {
		return nil, err
	}
	out.Covered, out.Samples = int64(res.covered), int64(res.samples)
	out.TileRows, out.Tiles = int64(res.tile_rows), int64(res.tiles)
	out.DeviceIndex, out.Workers = int(res.device_index), int(res.workers)
	out.NativeWCS, out.GridWCS = int(res.native_wcs), int(res.grid_wcs)
	out.Seconds = float64(res.seconds)
	out.Report = report
	return out, nil
}
