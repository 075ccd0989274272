package parallax

// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// Rows is one input or output of Kernel.RunRows: rows of a Go slice, passed
// without copying, or (inputs only) rows made on demand by a provider.
type Rows struct {
	ptr         unsafe.Pointer
	keep        any
	rows        int64
	bytesPerRow int64
	provider    func(firstRow, rows int64, dst []byte) error
}

// RowsOf passes a slice as rows of perRow elements each (len(s) must be a
// multiple of perRow); the library reads or writes it in place.
func RowsOf[T Number](s []T, perRow int) Rows {
	var zero T
	r := Rows{keep: s, bytesPerRow: int64(perRow) * int64(unsafe.Sizeof(zero)), rows: -1}
	if perRow > 0 && len(s)%perRow == 0 {
		r.rows = int64(len(s) / perRow)
	}
	if len(s) > 0 {
		r.ptr = unsafe.Pointer(&s[0])
	}
	return r
}

// RowsFrom is an input whose rows fn writes on demand: rows [firstRow,
// firstRow+rows) into dst, bytesPerRow bytes each, straight into the library's
// staging memory (pinned on its way to a device: no extra copy; SliceOf views
// it as numbers). fn is called concurrently for different ranges, and again
// for rows already given when a chunk is redone: it must give the same rows
// every time. A non-nil error (or a panic) fails the run.
func RowsFrom(bytesPerRow int64, fn func(firstRow, rows int64, dst []byte) error) Rows {
	return Rows{bytesPerRow: bytesPerRow, rows: -1, provider: fn}
}

// RowsCPUFunc is the CPU version of a row kernel for rows [firstRow,
// firstRow+rows): inputs[i] and outputs[j] are those rows of each input and
// output (views of the library's or the caller's memory, valid during the
// call). Called concurrently; a non-nil error (or a panic) fails the run.
type RowsCPUFunc func(firstRow, rows int64, inputs, outputs [][]byte) error

// RowsRun is a run of Kernel.RunRows (plx_rows_desc_t).
type RowsRun struct {
	Inputs  []Rows
	Outputs []Rows   // slices only; at least one
	Scalars []Scalar // see ScalarOf
	// WorkItemsPerRow: the kernel runs on (WorkItemsPerRow, rows of the chunk); 0 = 1.
	WorkItemsPerRow int64
	RowsPerChunk    int64 // rows per device chunk; 0 = sized to each device
	// CPUFallback runs chunks that failed on a device, every chunk when no
	// device can run the kernel, and beside the devices for a MIXED plan.
	CPUFallback RowsCPUFunc
}

type rowsRun struct {
	desc   *RowsRun
	inputs []C.plx_rows_input_t
}

// RunRows runs the kernel over rows of slices of any size — larger than any
// device — in chunks shared by all its devices (plx_kernel_run_rows). The
// kernel's arguments are each input, each output (global buffers holding only
// the chunk's rows), each scalar, then long first_row and long rows of the
// chunk. Every slice must hold the same number of rows.
func (k *Kernel) RunRows(desc RowsRun, options *RunOptions) (RunReport, error) {
	const op = "plx_kernel_run_rows"
	if len(desc.Outputs) == 0 {
		return RunReport{}, invalid(op, "give at least one output")
	}
	rows := int64(-1)
	check := func(kind string, i int, r Rows) error {
		if r.provider != nil {
			if kind == "outputs" {
				return invalid(op, "outputs[%d] is a provider: outputs are slices", i)
			}
			return nil
		}
		if r.rows < 0 {
			return invalid(op, "%s[%d]: the slice's length is not a multiple of its row length", kind, i)
		}
		if rows >= 0 && r.rows != rows {
			return invalid(op, "%s[%d] has %d rows, not %d like the others", kind, i, r.rows, rows)
		}
		rows = r.rows
		return nil
	}
	for i, r := range desc.Outputs {
		if err := check("outputs", i, r); err != nil {
			return RunReport{}, err
		}
	}
	for i, r := range desc.Inputs {
		if err := check("inputs", i, r); err != nil {
			return RunReport{}, err
		}
	}
	p, err := k.use(op)
	if err != nil {
		return RunReport{}, err
	}
	defer k.h.release()
	r, err := newRun(op, options)
	if err != nil {
		return RunReport{}, err
	}
	defer r.finish()
	plan, err := r.plan(options)
	if err != nil {
		return RunReport{}, err
	}
	c := newC[C.plx_rows_desc_t](&r.m)
	if err := call("plx_rows_desc_init", func() C.plx_status_t {
		return C.plx_rows_desc_init(c, sizeOf[C.plx_rows_desc_t]())
	}); err != nil {
		return RunReport{}, err
	}
	empty := r.m.alloc(64) // where an empty slice points
	inputs := newCArray[C.plx_rows_input_t](&r.m, len(desc.Inputs)+1)
	for i, in := range desc.Inputs {
		inputs[i].bytes_per_row = C.int64_t(in.bytesPerRow)
		if in.provider != nil {
			// The library tells a provider only the rows: each provider gets a
			// handle of its own that names its input.
			slot := cgo.NewHandle(&rowsProviderSlot{r: r, input: i})
			r.slots = append(r.slots, slot)
			C.plxgo_set_rows_provider(&inputs[i], C.uintptr_t(slot))
		} else if in.ptr == nil {
			inputs[i].data = empty
		} else {
			setAddr(unsafe.Pointer(&inputs[i].data), in.ptr)
			r.keep = append(r.keep, in.keep)
		}
	}
	outputs := newCArray[C.plx_rows_output_t](&r.m, len(desc.Outputs))
	for j, out := range desc.Outputs {
		outputs[j].bytes_per_row = C.int64_t(out.bytesPerRow)
		if out.ptr == nil {
			outputs[j].data = empty
		} else {
			setAddr(unsafe.Pointer(&outputs[j].data), out.ptr)
			r.keep = append(r.keep, out.keep)
		}
	}
	scalars := newCArray[C.plx_kernel_scalar_t](&r.m, len(desc.Scalars)+1)
	for s, v := range desc.Scalars {
		data := r.m.alloc(uintptr(len(v)))
		copy(unsafe.Slice((*byte)(data), len(v)), v)
		scalars[s].data, scalars[s].size = data, C.size_t(len(v))
	}
	c.rows = C.int64_t(rows)
	c.inputs, c.input_count = &inputs[0], C.int32_t(len(desc.Inputs))
	c.outputs, c.output_count = &outputs[0], C.int32_t(len(desc.Outputs))
	c.scalars, c.scalar_count = &scalars[0], C.int32_t(len(desc.Scalars))
	if desc.WorkItemsPerRow != 0 {
		c.work_items_per_row = C.int64_t(desc.WorkItemsPerRow)
	}
	c.rows_per_chunk = C.int64_t(desc.RowsPerChunk)
	if desc.CPUFallback != nil {
		C.plxgo_set_rows_cpu(c, C.uintptr_t(r.handle))
	}
	r.rows = &rowsRun{desc: &desc, inputs: inputs}
	err = call(op, func() C.plx_status_t { return C.plx_kernel_run_rows((*C.plx_kernel_t)(p), plan, c, r.options) })
	runtime.KeepAlive(desc)
	report, err := r.outcome(err)
	return deref(report), err
}

// rowsProviderSlot is the user_data of one provider input.
type rowsProviderSlot struct {
	r     *run
	input int
}

// provide fills rows of an input from its provider.
func (s *rowsProviderSlot) provide(first, rows int64, dst unsafe.Pointer) C.int {
	r := s.r
	in := r.rows.desc.Inputs[s.input]
	buffer := view(dst, rows*in.bytesPerRow)
	if err := r.guard(func() error { return in.provider(first, rows, buffer) }); err != nil {
		r.record(first, fmt.Sprintf("the row provider of inputs[%d]", s.input), err)
		return returnCode(err)
	}
	return 0
}

// cpu runs the CPU fallback over views of the chunk's rows.
func (w *rowsRun) cpu(r *run, first, rows int64, inputs, outputs *unsafe.Pointer) C.int {
	ins := unsafe.Slice(inputs, len(w.desc.Inputs))
	outs := unsafe.Slice(outputs, len(w.desc.Outputs))
	inViews := make([][]byte, len(ins))
	for i := range ins {
		inViews[i] = view(ins[i], rows*w.desc.Inputs[i].bytesPerRow)
	}
	outViews := make([][]byte, len(outs))
	for j := range outs {
		outViews[j] = view(outs[j], rows*w.desc.Outputs[j].bytesPerRow)
	}
	if err := r.guard(func() error { return w.desc.CPUFallback(first, rows, inViews, outViews) }); err != nil {
		r.record(first, "the CPU fallback", err)
		return returnCode(err)
	}
	return 0
}

// view is n bytes of memory the library handed a callback (empty for NULL or 0).
func view(p unsafe.Pointer, n int64) []byte {
	if p == nil || n <= 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(p), n)
}
