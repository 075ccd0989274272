package parallax

// #include "shim.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// StackCombine is a plx_stack_combine_t: how a pixel's surviving samples combine.
type StackCombine int32

const (
	CombineMean         StackCombine = C.PLX_COMBINE_MEAN
	CombineWeightedMean StackCombine = C.PLX_COMBINE_WEIGHTED_MEAN
	CombineSum          StackCombine = C.PLX_COMBINE_SUM
	CombineMedian       StackCombine = C.PLX_COMBINE_MEDIAN
	CombineMin          StackCombine = C.PLX_COMBINE_MIN
	CombineMax          StackCombine = C.PLX_COMBINE_MAX
)

// StackReject is a plx_stack_reject_t: how outliers are rejected.
type StackReject int32

const (
	RejectNone                StackReject = C.PLX_REJECT_NONE
	RejectSigmaClip           StackReject = C.PLX_REJECT_SIGMA_CLIP
	RejectWinsorizedSigmaClip StackReject = C.PLX_REJECT_WINSORIZED_SIGMA_CLIP
	RejectPercentile          StackReject = C.PLX_REJECT_PERCENTILE
	RejectMinMax              StackReject = C.PLX_REJECT_MINMAX
)

// StackCentre is a plx_stack_centre_t: the centre of sigma clipping.
type StackCentre int32

const (
	CentreMedian StackCentre = C.PLX_CENTRE_MEDIAN
	CentreMean   StackCentre = C.PLX_CENTRE_MEAN
)

// StackWeights is a plx_stack_weights_t: where WEIGHTED_MEAN's weights come from.
type StackWeights int32

const (
	WeightsNone          StackWeights = C.PLX_WEIGHTS_NONE
	WeightsGiven         StackWeights = C.PLX_WEIGHTS_GIVEN
	WeightsNoiseVariance StackWeights = C.PLX_WEIGHTS_NOISE_VARIANCE
)

// StackNormalize is a plx_stack_normalize_t: per-frame normalization.
type StackNormalize int32

const (
	NormalizeNone           StackNormalize = C.PLX_NORMALIZE_NONE
	NormalizeAdditive       StackNormalize = C.PLX_NORMALIZE_ADDITIVE
	NormalizeMultiplicative StackNormalize = C.PLX_NORMALIZE_MULTIPLICATIVE
	NormalizeLinearFit      StackNormalize = C.PLX_NORMALIZE_LINEAR_FIT
)

// StackProviderFunc writes pixels [row0, row0+rows) x [col0, col0+cols) of
// channel channel of frame frame into dst, row after row, dstStride floats
// apart. Called concurrently, possibly more than once for the same pixels: it
// must give the same pixels every time. A non-nil error (or a panic) fails the
// stack with ErrTaskFailed.
type StackProviderFunc func(frame, row0, rows, col0, cols int64, channel int, dst []float32, dstStride int64) error

// StackInput are the frames of a stack: N registered frames of Height x Width
// pixels in Channels planar channels, as Go slices read in place, or made on
// demand by a Provider.
type StackInput struct {
	// Frames are the N frames, each from channel 0, row 0; read without copying.
	Frames [][]float32
	// Provider makes pixels on demand instead of Frames, for Count frames.
	Provider StackProviderFunc
	Count    int64 // N with a Provider
	Height   int64
	Width    int64
	Channels int32 // 1 .. 64; 0 = 1
	// RowStride is floats from a row to the next (0 = Width); ChannelStride
	// floats from a channel plane to the next (0 = Height x RowStride).
	RowStride     int64
	ChannelStride int64
}

// StackOptions are the options of Stack (plx_stack_desc_t). Several zeros
// are meaningful (sigma 0, NLow 0, percentile 0), so start from
// DefaultStackOptions, which has the library's defaults; nil means those.
type StackOptions struct {
	Combine         StackCombine
	Reject          StackReject
	Centre          StackCentre
	SigmaLow        float64 // >= 0
	SigmaHigh       float64 // >= 0
	MaxIters        int32   // >= 1, or -1 = until nothing changes
	NLow            int32   // MINMAX: lowest samples rejected
	NHigh           int32   // MINMAX: highest samples rejected
	Weights         StackWeights
	PercentileLow   float64 // PERCENTILE, in [0, 100]
	PercentileHigh  float64
	FrameWeights    []float64 // WeightsGiven: N finite weights >= 0
	Normalize       StackNormalize
	Device          DevicePreference
	ReferenceFrame  int64 // normalization reference, in [0, N)
	RejectionMaps   bool  // fill StackResult.RejectedLow and RejectedHigh
	FrameStatistics bool  // fill StackResult.FrameRejected, FrameScale, FrameOffset, FrameWeight
	Run             *RunOptions
}

// DefaultStackOptions are the library's defaults (plx_stack_desc_init): MEAN,
// no rejection, sigma 3/3, 5 iterations, percentiles 10/90.
func DefaultStackOptions() StackOptions {
	var m cmem
	defer m.free()
	d := newC[C.plx_stack_desc_t](&m)
	C.plx_stack_desc_init(d, sizeOf[C.plx_stack_desc_t]())
	return StackOptions{
		Combine: StackCombine(d.combine), Reject: StackReject(d.reject), Centre: StackCentre(d.centre),
		SigmaLow: float64(d.sigma_low), SigmaHigh: float64(d.sigma_high), MaxIters: int32(d.max_iters),
		NLow: int32(d.n_low), NHigh: int32(d.n_high), Weights: StackWeights(d.weights),
		PercentileLow: float64(d.percentile_low), PercentileHigh: float64(d.percentile_high),
		Normalize: StackNormalize(d.normalize), Device: DevicePreference(d.device),
		ReferenceFrame: int64(d.reference_frame),
	}
}

// StackResult is what Stack made (plx_stack_result_t): planar Channels x
// Height x Width outputs, and what it did.
type StackResult struct {
	Image         []float32 // the combined image (NaN where no sample survived)
	Count         []int32   // samples kept per pixel
	RejectedLow   []int32   // with RejectionMaps
	RejectedHigh  []int32
	FrameRejected []int64   // with FrameStatistics: samples rejected per frame
	FrameScale    []float64 // N x C, frame-major: normalization scale used
	FrameOffset   []float64
	FrameWeight   []float64

	Samples        int64 // N x H x W x C
	Missing        int64 // NaN samples
	Kept           int64
	Rejected       int64
	DeviceIndex    int // the device that stacked, or -1 for the CPU
	Workers        int
	TileRows       int64
	Tiles          int64
	FrameStatsSecs float64
	StackSecs      float64
	SIMDTarget     string // the instruction set of the pixel loops
	Report         *RunReport
}

type stackRun struct {
	provider StackProviderFunc
}

func (s *stackRun) provide(r *run, frame, row0, rows, col0, cols int64, channel int, dst unsafe.Pointer,
	stride int64) C.int {
	n := (rows-1)*stride + cols
	var buffer []float32
	if dst != nil && rows > 0 && n > 0 {
		buffer = unsafe.Slice((*float32)(dst), n)
	}
	if err := r.guard(func() error {
		return s.provider(frame, row0, rows, col0, cols, channel, buffer, stride)
	}); err != nil {
		r.record(frame, "the frame provider", err)
		return returnCode(err)
	}
	return 0
}

// stackDesc fills a plx_stack_desc_t in the run's C memory.
func stackDesc(op string, r *run, in *StackInput, o *StackOptions) (*C.plx_stack_desc_t, error) {
	d := newC[C.plx_stack_desc_t](&r.m)
	if err := call("plx_stack_desc_init", func() C.plx_status_t {
		return C.plx_stack_desc_init(d, sizeOf[C.plx_stack_desc_t]())
	}); err != nil {
		return nil, err
	}
	channels := int64(in.Channels)
	if channels == 0 {
		channels = 1
	}
	rowStride, channelStride := in.RowStride, in.ChannelStride
	if rowStride == 0 {
		rowStride = in.Width
	}
	if channelStride == 0 {
		channelStride = in.Height * rowStride
	}
	switch {
	case in.Provider != nil && in.Frames != nil:
		return nil, invalid(op, "give Frames or a Provider, not both")
	case in.Provider != nil:
		d.frames = C.int64_t(in.Count)
		r.stack = &stackRun{provider: in.Provider}
		C.plxgo_set_stack_provider(d, C.uintptr_t(r.handle))
	default:
		d.frames = C.int64_t(len(in.Frames))
		if in.Height >= 1 && in.Width >= 1 && channels >= 1 {
			// The library reads each frame's pixels through its pointer: every
			// slice must hold all of them.
			need := (channels-1)*channelStride + (in.Height-1)*rowStride + in.Width
			for i, f := range in.Frames {
				if int64(len(f)) < need {
					return nil, invalid(op, "Frames[%d] has %d floats; a frame of %d channels of %d x %d "+
						"(row stride %d, channel stride %d) needs %d", i, len(f), channels, in.Height, in.Width,
						rowStride, channelStride, need)
				}
			}
		}
		if len(in.Frames) > 0 {
			pointers := newCArray[uintptr](&r.m, len(in.Frames))
			for i, f := range in.Frames {
				if len(f) > 0 {
					pointers[i] = uintptr(unsafe.Pointer(&f[0]))
				}
			}
			d.frame_data = (**C.float)(unsafe.Pointer(&pointers[0]))
			r.keep = append(r.keep, in.Frames)
		}
	}
	d.height, d.width, d.channels = C.int64_t(in.Height), C.int64_t(in.Width), C.int32_t(in.Channels)
	if in.Channels == 0 {
		d.channels = 1
	}
	d.row_stride, d.channel_stride = C.int64_t(in.RowStride), C.int64_t(in.ChannelStride)
	d.combine, d.reject, d.centre = C.int32_t(o.Combine), C.int32_t(o.Reject), C.int32_t(o.Centre)
	d.sigma_low, d.sigma_high, d.max_iters = C.double(o.SigmaLow), C.double(o.SigmaHigh), C.int32_t(o.MaxIters)
	d.n_low, d.n_high, d.weights = C.int32_t(o.NLow), C.int32_t(o.NHigh), C.int32_t(o.Weights)
	d.percentile_low, d.percentile_high = C.double(o.PercentileLow), C.double(o.PercentileHigh)
	if o.FrameWeights != nil {
		if int64(len(o.FrameWeights)) != int64(d.frames) {
			return nil, invalid(op, "FrameWeights has %d weights for %d frames", len(o.FrameWeights), int64(d.frames))
		}
		if len(o.FrameWeights) > 0 {
			setAddr(unsafe.Pointer(&d.frame_weights), unsafe.Pointer(&o.FrameWeights[0]))
			r.keep = append(r.keep, o.FrameWeights)
		}
	}
	d.normalize, d.device = C.int32_t(o.Normalize), C.int32_t(o.Device)
	d.reference_frame = C.int64_t(o.ReferenceFrame)
	d.run_options = r.options
	return d, nil
}

// Stack combines the frames pixel by pixel after rejecting outliers
// (plx_stack), within the runtime's memory budget for any N. NaN marks a
// missing sample; computed in double precision, the same bits for any
// workers and tiling.
func (rt *Runtime) Stack(in StackInput, options *StackOptions) (*StackResult, error) {
	const op = "plx_stack"
	o := options
	if o == nil {
		defaults := DefaultStackOptions()
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
	d, err := stackDesc(op, r, &in, o)
	if err != nil {
		return nil, err
	}
	res := newC[C.plx_stack_result_t](&r.m)
	if err := call("plx_stack_result_init", func() C.plx_status_t {
		return C.plx_stack_result_init(res, sizeOf[C.plx_stack_result_t]())
	}); err != nil {
		return nil, err
	}
	out := &StackResult{}
	pixels, err := outputSize(op, "stacked image", int64(d.channels), in.Height, in.Width)
	if err != nil {
		return nil, err
	}
	if pixels > 0 {
		out.Image = make([]float32, pixels)
		out.Count = make([]int32, pixels)
		setAddr(unsafe.Pointer(&res.image), unsafe.Pointer(&out.Image[0]))
		setAddr(unsafe.Pointer(&res.count), unsafe.Pointer(&out.Count[0]))
		if o.RejectionMaps {
			out.RejectedLow, out.RejectedHigh = make([]int32, pixels), make([]int32, pixels)
			setAddr(unsafe.Pointer(&res.rejected_low), unsafe.Pointer(&out.RejectedLow[0]))
			setAddr(unsafe.Pointer(&res.rejected_high), unsafe.Pointer(&out.RejectedHigh[0]))
		}
	}
	frames := int64(d.frames)
	perFrame, err := outputSize(op, "frame statistics", frames, int64(d.channels))
	if err != nil {
		return nil, err
	}
	if o.FrameStatistics && perFrame > 0 {
		out.FrameRejected = make([]int64, frames)
		out.FrameScale, out.FrameOffset, out.FrameWeight = make([]float64, perFrame), make([]float64, perFrame),
			make([]float64, perFrame)
		setAddr(unsafe.Pointer(&res.frame_rejected), unsafe.Pointer(&out.FrameRejected[0]))
		setAddr(unsafe.Pointer(&res.frame_scale), unsafe.Pointer(&out.FrameScale[0]))
		setAddr(unsafe.Pointer(&res.frame_offset), unsafe.Pointer(&out.FrameOffset[0]))
		setAddr(unsafe.Pointer(&res.frame_weight), unsafe.Pointer(&out.FrameWeight[0]))
	}
	err = call(op, func() C.plx_status_t { return C.plx_stack(p, d, res) })
	runtime.KeepAlive(in)
	runtime.KeepAlive(o)
	runtime.KeepAlive(out)
	report, err := r.outcome(err)
	if err != nil {
		return nil, err
	}
	out.Samples, out.Missing, out.Kept, out.Rejected = int64(res.samples), int64(res.missing), int64(res.kept),
		int64(res.rejected)
	out.DeviceIndex, out.Workers = int(res.device_index), int(res.workers)
	out.TileRows, out.Tiles = int64(res.tile_rows), int64(res.tiles)
	out.FrameStatsSecs, out.StackSecs = float64(res.frame_stats_s), float64(res.stack_s)
	out.SIMDTarget = goString(res.simd_target[:])
	out.Report = report
	return out, nil
}

// StackPlan is the plan Stack would follow for these frames and options
// (plx_stack_plan), before any pixel is read.
func (rt *Runtime) StackPlan(in StackInput, options *StackOptions) (*Plan, error) {
	const op = "plx_stack_plan"
	o := options
	if o == nil {
		defaults := DefaultStackOptions()
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
	d, err := stackDesc(op, r, &in, o)
	if err != nil {
		return nil, err
	}
	out := newC[*C.plx_plan_t](&r.m)
	err = call(op, func() C.plx_status_t { return C.plx_stack_plan(p, d, out) })
	runtime.KeepAlive(in)
	runtime.KeepAlive(o)
	if err != nil {
		return nil, err
	}
	return newPlan(*out, "stack")
}
