package parallax

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// One program for every kernel of these tests: PoCL takes seconds per build,
// and kernels of one source on one runtime share its build.
const deviceSource = `
__kernel void axpb(__global const float* x, __global float* y, float a, float b, long first, long rows) {
  size_t i = get_global_id(1);
  y[i] = a * x[i] + b;
}
__kernel void blend_rows(__global const float* a, __global const float* b, __global float* out, __global int* sums,
                         int width, long first, long rows) {
  size_t c = get_global_id(0), r = get_global_id(1);
  out[r * width + c] = a[r * width + c] + 2.0f * b[r * width + c] + (float)(first + r);
  if (c == 0) sums[r] = (int)(first + r);
}
__kernel void twice(__global int* v, int add) { size_t i = get_global_id(0); v[i] = 2 * v[i] + add; }
__kernel void scale4(__global float4* v, float4 by) { size_t i = get_global_id(0); v[i] *= by; }
__kernel void group_sums(__global const int* in, __global int* out, __local int* scratch) {
  size_t l = get_local_id(0), n = get_local_size(0);
  scratch[l] = in[get_global_id(0)];
  barrier(CLK_LOCAL_MEM_FENCE);
  if (l == 0) {
    int s = 0;
    for (size_t i = 0; i < n; ++i) s += scratch[i];
    out[get_group_id(0)] = s;
  }
}
`

var device struct {
	once sync.Once
	rt   *Runtime
	err  error
}

// deviceRuntime is a runtime on the OpenCL devices of this machine (PoCL, a
// CPU device, on every test machine), shared by the device tests.
func deviceRuntime(t *testing.T) *Runtime {
	t.Helper()
	device.once.Do(func() {
		device.rt, device.err = NewRuntime(&RuntimeOptions{DeviceTypes: DeviceTypeAny, CacheDir: cacheDir})
		if device.err == nil {
			if caps, err := device.rt.Caps(); err != nil || caps.DeviceCount == 0 {
				device.err = errors.New("no OpenCL device (PoCL is pocl-opencl-icd)")
			}
		}
	})
	if device.err != nil {
		t.Fatalf("device runtime: %v", device.err)
	}
	return device.rt
}

func closeDeviceRuntime() {
	if device.rt != nil {
		device.rt.Close()
	}
}

func deviceKernel(t *testing.T, name string) *Kernel {
	t.Helper()
	k := must[*Kernel](t)(deviceRuntime(t).NewKernel(deviceSource, name, ""))
	t.Cleanup(func() { k.Close() })
	return k
}

func ramp(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i % 4099)
	}
	return x
}

var two, one = ScalarOf(float32(2)), ScalarOf(float32(1))

func TestRunRowsOverSlicesAndProviders(t *testing.T) {
	k := deviceKernel(t, "axpb")
	devices := must[[]int32](t)(k.Devices())
	if len(devices) == 0 || devices[0] != 0 {
		t.Fatalf("devices %v", devices)
	}
	x := ramp(100003)
	y := make([]float32, len(x))
	report := must[RunReport](t)(k.RunRows(RowsRun{Inputs: []Rows{RowsOf(x, 1)}, Outputs: []Rows{RowsOf(y, 1)},
		Scalars: []Scalar{two, one}}, nil))
	for i := range x {
		if y[i] != 2*x[i]+1 {
			t.Fatalf("y[%d] = %v, want %v", i, y[i], 2*x[i]+1)
		}
	}
	if report.Chunks < 1 || report.Failed != 0 || report.FallbackChunks != 0 {
		t.Fatalf("%+v", report)
	}
	// The same input made on demand, in row chunks of 1000.
	var given int64
	z := make([]float32, len(x))
	must[RunReport](t)(k.RunRows(RowsRun{
		Inputs: []Rows{RowsFrom(4, func(first, rows int64, dst []byte) error {
			atomic.AddInt64(&given, rows)
			copy(SliceOf[float32](dst), x[first:first+rows])
			return nil
		})},
		Outputs: []Rows{RowsOf(z, 1)}, Scalars: []Scalar{two, one}, RowsPerChunk: 1000}, nil))
	for i := range x {
		if z[i] != y[i] {
			t.Fatalf("z[%d] = %v, want %v", i, z[i], y[i])
		}
	}
	if given != int64(len(x)) {
		t.Fatalf("rows given %d", given)
	}
	// No rows at all.
	must[RunReport](t)(k.RunRows(RowsRun{Inputs: []Rows{RowsOf([]float32{}, 1)},
		Outputs: []Rows{RowsOf([]float32{}, 1)}, Scalars: []Scalar{two, one}}, nil))
}

func TestRunRowsImageRowsTwoInputsTwoOutputs(t *testing.T) {
	k := deviceKernel(t, "blend_rows")
	const rows, width = 3000, 16
	a, b := ramp(rows*width), make([]float32, rows*width)
	for i := range b {
		b[i] = float32(i%7) * 0.25
	}
	out := make([]float32, rows*width)
	sums := make([]int32, rows)
	report := must[RunReport](t)(k.RunRows(RowsRun{Inputs: []Rows{RowsOf(a, width), RowsOf(b, width)},
		Outputs: []Rows{RowsOf(out, width), RowsOf(sums, 1)}, Scalars: []Scalar{ScalarOf(int32(width))},
		WorkItemsPerRow: width, RowsPerChunk: 1024}, nil))
	for r := 0; r < rows; r++ {
		for c := 0; c < width; c++ {
			i := r*width + c
			if want := a[i] + 2*b[i] + float32(r); out[i] != want {
				t.Fatalf("out[%d][%d] = %v, want %v", r, c, out[i], want)
			}
		}
		if sums[r] != int32(r) {
			t.Fatalf("sums[%d] = %d", r, sums[r])
		}
	}
	if report.Chunks != 3 {
		t.Fatalf("%+v", report)
	}
	_, err := k.RunRows(RowsRun{Inputs: []Rows{RowsOf(a, width), RowsOf(b[:width], width)},
		Outputs: []Rows{RowsOf(out, width), RowsOf(sums, 1)}}, nil)
	requireStatus(t, err, ErrInvalidArgument, "inputs[1] has 1 rows")
	_, err = k.RunRows(RowsRun{Outputs: []Rows{RowsOf(out, 7)}}, nil)
	requireStatus(t, err, ErrInvalidArgument, "not a multiple")
}

func TestProviderFailuresFailTheRun(t *testing.T) {
	k := deviceKernel(t, "axpb")
	y := make([]float32, 5000)
	broken := errors.New("no rows here")
	_, err := k.RunRows(RowsRun{Inputs: []Rows{RowsFrom(4, func(first, rows int64, dst []byte) error {
		if first >= 2000 {
			return broken
		}
		return nil
	})}, Outputs: []Rows{RowsOf(y, 1)}, Scalars: []Scalar{two, one}, RowsPerChunk: 1000}, nil)
	if !errors.Is(err, ErrTaskFailed) || !errors.Is(err, broken) {
		t.Fatalf("%v", err)
	}
	_, err = k.RunRows(RowsRun{Inputs: []Rows{RowsFrom(4, func(int64, int64, []byte) error { panic("provider boom") })},
		Outputs: []Rows{RowsOf(y, 1)}, Scalars: []Scalar{two, one}}, nil)
	var p *PanicError
	if !errors.Is(err, ErrTaskFailed) || !errors.As(err, &p) {
		t.Fatalf("%v", err)
	}
}

func TestCPUFallbackWithoutDevicesAndAfterADeviceFailure(t *testing.T) {
	axpbCPU := func(first, rows int64, in, out [][]byte) error {
		x, y := SliceOf[float32](in[0]), SliceOf[float32](out[0])
		for i := range y {
			y[i] = 2*x[i] + 1
		}
		return nil
	}
	cpu := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) { o.DevicePolicy = DeviceCPUOnly })
	k := must[*Kernel](t)(cpu.NewKernel(deviceSource, "axpb", ""))
	defer k.Close()
	if devices := must[[]int32](t)(k.Devices()); len(devices) != 0 {
		t.Fatalf("devices %v on a CPU-only runtime", devices)
	}
	x := ramp(10000)
	y := make([]float32, len(x))
	report := must[RunReport](t)(k.RunRows(RowsRun{Inputs: []Rows{RowsOf(x, 1)}, Outputs: []Rows{RowsOf(y, 1)},
		Scalars: []Scalar{two, one}, CPUFallback: axpbCPU}, &RunOptions{Workers: 2}))
	for i := range x {
		if y[i] != 2*x[i]+1 {
			t.Fatalf("y[%d] = %v", i, y[i])
		}
	}
	if report.Chunks < 1 {
		t.Fatalf("%+v", report)
	}
	_, err := k.RunRows(RowsRun{Inputs: []Rows{RowsOf(x, 1)}, Outputs: []Rows{RowsOf(y, 1)}}, nil)
	requireStatus(t, err, ErrNoDevice)
	_, err = k.RunRows(RowsRun{Inputs: []Rows{RowsOf(x, 1)}, Outputs: []Rows{RowsOf(y, 1)},
		CPUFallback: func(int64, int64, [][]byte, [][]byte) error { panic("fallback boom") }}, nil)
	var p *PanicError
	if !errors.Is(err, ErrTaskFailed) || !errors.As(err, &p) {
		t.Fatalf("%v", err)
	}

	// The second kernel launch fails on the device: its chunk runs on the CPU.
	faulty := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.MachineProfile, o.DeviceTypes, o.CacheDir, o.FaultInjection = "", DeviceTypeAny, cacheDir, "enqueue=1:device"
	})
	fk := must[*Kernel](t)(faulty.NewKernel(deviceSource, "axpb", ""))
	defer fk.Close()
	for i := range y {
		y[i] = -1
	}
	report = must[RunReport](t)(fk.RunRows(RowsRun{Inputs: []Rows{RowsOf(x, 1)}, Outputs: []Rows{RowsOf(y, 1)},
		Scalars: []Scalar{two, one}, RowsPerChunk: 2500, CPUFallback: axpbCPU}, nil))
	for i := range x {
		if y[i] != 2*x[i]+1 {
			t.Fatalf("y[%d] = %v", i, y[i])
		}
	}
	if report.FallbackChunks != 1 {
		t.Fatalf("%+v", report)
	}
}

func TestBuffersAndKernelRun(t *testing.T) {
	rt := deviceRuntime(t)
	twice, scale4, sums := deviceKernel(t, "twice"), deviceKernel(t, "scale4"), deviceKernel(t, "group_sums")
	buf := must[*Buffer](t)(rt.NewBuffer(0, 4*1024))
	defer buf.Close()
	v := make([]int32, 1024)
	for i := range v {
		v[i] = int32(i)
	}
	check(t, buf.Write(0, BytesOf(v)))
	check(t, twice.Run(0, []KernelArg{BufferArg(buf), ScalarArg(ScalarOf(int32(5)))}, []int64{1024}, nil))
	got := make([]int32, 1024)
	check(t, buf.Read(0, BytesOf(got)))
	for i := range got {
		if got[i] != 2*int32(i)+5 {
			t.Fatalf("got[%d] = %d", i, got[i])
		}
	}
	tail := make([]int32, 2)
	check(t, buf.Read(4*1022, BytesOf(tail)))
	if tail[0] != 2*1022+5 || tail[1] != 2*1023+5 {
		t.Fatalf("tail %v", tail)
	}

	vec := must[*Buffer](t)(rt.NewBuffer(0, 16*8))
	defer vec.Close()
	f := make([]float32, 32)
	for i := range f {
		f[i] = float32(i)
	}
	check(t, vec.Write(0, BytesOf(f)))
	check(t, scale4.Run(0, []KernelArg{BufferArg(vec), ScalarArg(ScalarOf([4]float32{1, 2, 3, 4}))}, []int64{8}, nil))
	check(t, vec.Read(0, BytesOf(f)))
	for i := range f {
		if f[i] != float32(i)*float32(i%4+1) {
			t.Fatalf("f[%d] = %v", i, f[i])
		}
	}

	out := must[*Buffer](t)(rt.NewBuffer(0, 4*256))
	defer out.Close()
	check(t, sums.Run(0, []KernelArg{BufferArg(buf), BufferArg(out), LocalArg(4 * 4)}, []int64{1024}, []int64{4}))
	groups := make([]int32, 256)
	check(t, out.Read(0, BytesOf(groups)))
	for g := range groups {
		want := int32(0)
		for i := 4 * g; i < 4*g+4; i++ {
			want += got[i]
		}
		if groups[g] != want {
			t.Fatalf("group %d: %d, want %d", g, groups[g], want)
		}
	}

	requireStatus(t, buf.Read(4000, make([]byte, 200)), ErrInvalidArgument)
	requireStatus(t, twice.Run(0, []KernelArg{BufferArg(buf)}, []int64{1024}, nil), ErrDevice, "CL_INVALID_KERNEL_ARGS")
	requireStatus(t, twice.Run(0, nil, []int64{1, 1, 1, 1}, nil), ErrInvalidArgument)
	_, err := rt.NewBuffer(7, 1024)
	requireStatus(t, err, ErrInvalidArgument)
	_, err = rt.NewKernel(deviceSource, "no_such_kernel", "")
	requireStatus(t, err, ErrInvalidArgument, "no_such_kernel")
	_, err = rt.NewKernel("__kernel void broken( {", "broken", "")
	requireStatus(t, err, ErrDevice)
}

func TestClosingTheRuntimeClosesKernelsAndBuffers(t *testing.T) {
	rt := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.MachineProfile, o.DeviceTypes, o.CacheDir = "", DeviceTypeAny, cacheDir
	})
	buf := must[*Buffer](t)(rt.NewBuffer(0, 64))
	k := must[*Kernel](t)(rt.NewKernel("__kernel void nop(__global int* v) {}", "nop", ""))
	check(t, rt.Close())
	requireStatus(t, buf.Write(0, make([]byte, 4)), ErrInvalidArgument, "buffer is closed")
	_, err := k.Devices()
	requireStatus(t, err, ErrInvalidArgument, "kernel is closed")
	check(t, buf.Close())
	check(t, k.Close())
}

func TestSimulatedDevicesAreRefusedAndMeasuring(t *testing.T) {
	sim := newRuntime(t, "workstation-32c-128g-1gpu")
	_, err := sim.NewBuffer(0, 1024)
	requireStatus(t, err, ErrUnsupported)
	_, err = sim.MeasureDevice(0, 1<<20, 4<<20)
	requireStatus(t, err, ErrUnsupported)

	dir := t.TempDir()
	rt := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.MachineProfile, o.DeviceTypes, o.CacheDir = "", DeviceTypeAny, dir
	})
	if d := must[DeviceInfo](t)(rt.Device(0)); d.MeasuredGBps != 0 {
		t.Fatalf("measured before measuring: %+v", d)
	}
	figures := must[DeviceFigures](t)(rt.MeasureDevice(0, 1<<20, 4<<20))
	if figures.StreamGBps <= 0 || figures.H2DPinnedGBps <= 0 || figures.LaunchMicros <= 0 ||
		figures.TransferBytes != 1<<20 || figures.StreamBytes != 4<<20 {
		t.Fatalf("%+v", figures)
	}
	later := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.MachineProfile, o.DeviceTypes, o.CacheDir = "", DeviceTypeAny, dir
	})
	if d := must[DeviceInfo](t)(later.Device(0)); d.MeasuredGBps != figures.StreamGBps {
		t.Fatalf("cached %v, measured %v", d.MeasuredGBps, figures.StreamGBps)
	}
}

func TestKernelsAndBuffersRefuseCallsFromTheirRuntimesLogFunction(t *testing.T) {
	var k *Kernel
	var refused []error
	rt := newRuntime(t, "tiny-2c-4g", func(o *RuntimeOptions) {
		o.DevicePolicy = DeviceCPUOnly
		o.Log = func(level LogLevel, message string) {
			if k != nil && strings.Contains(message, "parallel_plan_summary") {
				_, err := k.Devices()
				refused = append(refused, err)
			}
		}
	})
	k = must[*Kernel](t)(rt.NewKernel(deviceSource, "axpb", ""))
	must[*Plan](t)(rt.Plan(Workload{Items: 10, BytesPerItem: 1000}))
	if len(refused) != 1 {
		t.Fatalf("%v", refused)
	}
	requireStatus(t, refused[0], ErrInvalidArgument, "own log function")
}
