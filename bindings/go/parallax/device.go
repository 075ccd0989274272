package parallax

// #include "shim.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Number is an element type of the slices the library reads and writes.
type Number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// BytesOf views a slice's memory as bytes, without copying.
func BytesOf[T Number](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(zero)))
}

// SliceOf views bytes as a slice of T, without copying (the bytes must be
// aligned for T, as every buffer the library hands a callback is).
func SliceOf[T Number](b []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if len(b) < size {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/size)
}

// Kernel is a host-provided OpenCL kernel built for the runtime's devices
// (plx_kernel_t). Close it when done; closing the runtime closes it.
type Kernel struct {
	Name string
	h    *handle
	rt   *Runtime // kept reachable: the runtime outlives its kernels
}

// NewKernel builds OpenCL C source with buildOptions ("" = none) for every
// usable device and takes its __kernel kernelName (plx_kernel_create). A
// device where the build fails is left out (logged); with no usable device at
// all the kernel is created anyway, for runs with a CPU fallback. Fails with
// ErrDevice (the build log in the message) when no device can build it, and
// ErrInvalidArgument when there is no such kernel.
func (rt *Runtime) NewKernel(source, kernelName, buildOptions string) (*Kernel, error) {
	const op = "plx_kernel_create"
	p, err := rt.use(op)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	out := newC[*C.plx_kernel_t](&m)
	err = call(op, func() C.plx_status_t {
		return C.plx_kernel_create(p, m.cstring(source), m.cstring(kernelName), m.optString(buildOptions), out)
	})
	if err != nil {
		rt.h.release()
		return nil, err
	}
	// The kernel keeps its use of the runtime until it is destroyed.
	core := rt.runtimeCore
	var h *handle
	h = newHandle("kernel", unsafe.Pointer(*out), func(p unsafe.Pointer) {
		C.plx_kernel_destroy((*C.plx_kernel_t)(p))
		core.disown(h)
		core.h.release()
	})
	core.adopt(h)
	k := &Kernel{Name: kernelName, h: h, rt: rt}
	runtime.SetFinalizer(k, func(k *Kernel) { k.h.close() })
	return k, nil
}

// use acquires the kernel for one call.
func (k *Kernel) use(op string) (unsafe.Pointer, error) {
	if err := k.rt.refuseInLog(op); err != nil {
		return nil, err
	}
	return k.h.acquire(op)
}

// Close destroys the kernel (plx_kernel_destroy) once its runs have ended.
// Idempotent; returns nil.
func (k *Kernel) Close() error {
	k.h.close()
	return nil
}

// Devices are the indices of the devices the kernel was built for (plx_kernel_devices).
func (k *Kernel) Devices() ([]int32, error) {
	const op = "plx_kernel_devices"
	p, err := k.use(op)
	if err != nil {
		return nil, err
	}
	defer k.h.release()
	var m cmem
	defer m.free()
	count := newC[C.int32_t](&m)
	if err := call(op, func() C.plx_status_t {
		return C.plx_kernel_devices((*C.plx_kernel_t)(p), nil, 0, count)
	}); err != nil {
		return nil, err
	}
	devices := newCArray[C.int32_t](&m, int(*count)+1)
	if err := call(op, func() C.plx_status_t {
		return C.plx_kernel_devices((*C.plx_kernel_t)(p), &devices[0], C.int32_t(len(devices)), count)
	}); err != nil {
		return nil, err
	}
	out := make([]int32, int(*count))
	for i := range out {
		out[i] = int32(devices[i])
	}
	return out, nil
}

// Buffer is memory on one device (plx_buffer_t), for Kernel.Run. Close it
// when done; closing the runtime closes it.
type Buffer struct {
	Device int32
	Bytes  int64
	h      *handle
	rt     *Runtime
}

// NewBuffer allocates bytes on device deviceIndex (plx_buffer_create),
// counted against RuntimeOptions.DeviceMemoryLimitBytes.
func (rt *Runtime) NewBuffer(deviceIndex int32, bytes int64) (*Buffer, error) {
	const op = "plx_buffer_create"
	p, err := rt.use(op)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	out := newC[*C.plx_buffer_t](&m)
	if err := call(op, func() C.plx_status_t {
		return C.plx_buffer_create(p, C.int32_t(deviceIndex), C.int64_t(bytes), out)
	}); err != nil {
		rt.h.release()
		return nil, err
	}
	core := rt.runtimeCore
	var h *handle
	h = newHandle("buffer", unsafe.Pointer(*out), func(p unsafe.Pointer) {
		C.plx_buffer_destroy((*C.plx_buffer_t)(p))
		core.disown(h)
		core.h.release()
	})
	core.adopt(h)
	b := &Buffer{Device: deviceIndex, Bytes: bytes, h: h, rt: rt}
	runtime.SetFinalizer(b, func(b *Buffer) { b.h.close() })
	return b, nil
}

// use acquires the buffer for one call.
func (b *Buffer) use(op string) (unsafe.Pointer, error) {
	if err := b.rt.refuseInLog(op); err != nil {
		return nil, err
	}
	return b.h.acquire(op)
}

// Write copies src into the buffer at byte offset and returns once it is on
// the device (plx_buffer_write). Use BytesOf to pass other slices.
func (b *Buffer) Write(offset int64, src []byte) error {
	const op = "plx_buffer_write"
	p, err := b.use(op)
	if err != nil {
		return err
	}
	defer b.h.release()
	err = call(op, func() C.plx_status_t {
		return C.plx_buffer_write((*C.plx_buffer_t)(p), C.int64_t(offset), addrOf(src), C.int64_t(len(src)))
	})
	runtime.KeepAlive(src)
	return err
}

// Read copies len(dst) bytes of the buffer from byte offset into dst (plx_buffer_read).
func (b *Buffer) Read(offset int64, dst []byte) error {
	const op = "plx_buffer_read"
	p, err := b.use(op)
	if err != nil {
		return err
	}
	defer b.h.release()
	err = call(op, func() C.plx_status_t {
		return C.plx_buffer_read((*C.plx_buffer_t)(p), C.int64_t(offset), addrOf(dst), C.int64_t(len(dst)))
	})
	runtime.KeepAlive(dst)
	return err
}

// Close frees the buffer (plx_buffer_destroy). Idempotent; returns nil.
func (b *Buffer) Close() error {
	b.h.close()
	return nil
}

// addrOf is a slice's first byte for a call (NULL when empty).
func addrOf(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// Scalar is a kernel argument's bytes, copied at the call.
type Scalar []byte

// ScalarOf packs v, a value of plain data (a number, or an array of numbers for
// an OpenCL vector such as float4 = [4]float32), with its exact size.
func ScalarOf[T any](v T) Scalar {
	size := unsafe.Sizeof(v)
	out := make([]byte, size)
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&v)), size))
	return out
}

// KernelArg is one argument of Kernel.Run (plx_kernel_arg_t).
type KernelArg struct {
	kind   C.int32_t
	buffer *Buffer
	scalar Scalar
	size   int64
}

// BufferArg passes a device buffer (of the run's device).
func BufferArg(b *Buffer) KernelArg { return KernelArg{kind: C.PLX_ARG_BUFFER, buffer: b} }

// ScalarArg passes a value (see ScalarOf).
func ScalarArg(s Scalar) KernelArg { return KernelArg{kind: C.PLX_ARG_SCALAR, scalar: s} }

// LocalArg passes bytes of __local memory.
func LocalArg(bytes int64) KernelArg { return KernelArg{kind: C.PLX_ARG_LOCAL, size: bytes} }

// Run runs the kernel once on device deviceIndex, over 1 to 3 dimensions of
// global work-items in work-groups of local (nil lets the driver choose), and
// returns when it is done (plx_kernel_run).
func (k *Kernel) Run(deviceIndex int32, args []KernelArg, global, local []int64) error {
	const op = "plx_kernel_run"
	if local != nil && len(local) != len(global) {
		return invalid(op, "local has %d dimensions, global %d", len(local), len(global))
	}
	p, err := k.use(op)
	if err != nil {
		return err
	}
	defer k.h.release()
	var m cmem
	defer m.free()
	cargs := newCArray[C.plx_kernel_arg_t](&m, len(args)+1)
	for i, a := range args {
		cargs[i].kind = a.kind
		switch a.kind {
		case C.PLX_ARG_BUFFER:
			if a.buffer == nil {
				return invalid(op, "args[%d] is a nil buffer", i)
			}
			bp, err := a.buffer.h.acquire(op)
			if err != nil {
				return err
			}
			defer a.buffer.h.release()
			cargs[i].buffer = (*C.plx_buffer_t)(bp)
		case C.PLX_ARG_SCALAR:
			data := m.alloc(uintptr(len(a.scalar)))
			copy(unsafe.Slice((*byte)(data), len(a.scalar)), a.scalar)
			cargs[i].data, cargs[i].size = data, C.size_t(len(a.scalar))
		default:
			cargs[i].size = C.size_t(a.size)
		}
	}
	dims := len(global)
	sizes := newCArray[C.int64_t](&m, 2*dims+2)
	for i := 0; i < dims; i++ {
		sizes[i] = C.int64_t(global[i])
		if local != nil {
			sizes[dims+1+i] = C.int64_t(local[i])
		}
	}
	var localPtr *C.int64_t
	if local != nil {
		localPtr = &sizes[dims+1]
	}
	return call(op, func() C.plx_status_t {
		return C.plx_kernel_run((*C.plx_kernel_t)(p), C.int32_t(deviceIndex), &cargs[0], C.int32_t(len(args)),
			C.int32_t(dims), &sizes[0], localPtr)
	})
}

// DeviceFigures are what MeasureDevice found (plx_device_figures_t).
type DeviceFigures struct {
	H2DPinnedGBps     float64
	H2DPageableGBps   float64
	D2HPinnedGBps     float64
	DeviceCopyGBps    float64
	LaunchMicros      float64 // an empty kernel, launches queued back to back
	LaunchRoundtripUs float64 // an empty kernel, each waited for
	StreamGBps        float64 // y = a*x + b over host memory through RunRows
	TransferBytes     int64
	StreamBytes       int64
}

// MeasureDevice measures device index (seconds to a minute) and caches the
// figures in the cache directory (plx_device_measure); 0 sizes take the
// library's defaults. With ErrIO (the cache could not be written) the figures
// are returned too.
func (rt *Runtime) MeasureDevice(index int32, transferBytes, streamBytes int64) (DeviceFigures, error) {
	const op = "plx_device_measure"
	p, err := rt.use(op)
	if err != nil {
		return DeviceFigures{}, err
	}
	defer rt.h.release()
	var m cmem
	defer m.free()
	f := newC[C.plx_device_figures_t](&m)
	f.struct_size = sizeOf[C.plx_device_figures_t]()
	err = call(op, func() C.plx_status_t {
		return C.plx_device_measure(p, C.int32_t(index), C.int64_t(transferBytes), C.int64_t(streamBytes), f)
	})
	return DeviceFigures{
		H2DPinnedGBps: float64(f.h2d_pinned_gbps), H2DPageableGBps: float64(f.h2d_pageable_gbps),
		D2HPinnedGBps: float64(f.d2h_pinned_gbps), DeviceCopyGBps: float64(f.device_copy_gbps),
		LaunchMicros: float64(f.launch_us), LaunchRoundtripUs: float64(f.launch_roundtrip_us),
		StreamGBps: float64(f.stream_gbps), TransferBytes: int64(f.transfer_bytes), StreamBytes: int64(f.stream_bytes),
	}, err
}
