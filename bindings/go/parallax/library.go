package parallax

// #cgo pkg-config: parallax
// #include "shim.h"
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// The version of the header this package was compiled against.
const (
	HeaderVersionMajor = int(C.PLX_VERSION_MAJOR)
	HeaderVersionMinor = int(C.PLX_VERSION_MINOR)
	HeaderVersionPatch = int(C.PLX_VERSION_PATCH)
)

// loadError is why the loaded library cannot serve this package (nil when it can).
var loadError = checkVersion(uint32(C.plx_version()), C.GoString(C.plx_version_string()),
	C.plx_abi_compatible(C.PLX_VERSION_MAJOR, C.PLX_VERSION_MINOR) == 1, HeaderVersionMajor, HeaderVersionMinor)

// checkVersion refuses a library whose major version differs from the header's, or
// whose minor version is older.
func checkVersion(packed uint32, text string, compatible bool, major, minor int) error {
	if int(packed/10000) == major && compatible {
		return nil
	}
	return &Error{Status: StatusVersion, Op: "load", Message: fmt.Sprintf(
		"the loaded libparallax is version %s (plx_version %d), which cannot serve this Go package, "+
			"compiled against parallax.h %d.%d: it needs a library %d.x with x >= %d. Install one, or point "+
			"LD_LIBRARY_PATH (and PKG_CONFIG_PATH when building) at one",
		text, packed, major, minor, major, minor)}
}

// CheckLibrary says whether the loaded libparallax can serve this package: nil,
// or an *Error with status PLX_ERR_VERSION (errors.Is(err, ErrVersion)) naming
// both versions. Every constructor of the package returns this error too.
func CheckLibrary() error { return loadError }

// call runs one status-returning library call and turns a failure into an
// *Error with the message the library left on the calling thread. The
// goroutine stays on one OS thread from the call to the read, since the
// library's last error is per thread.
func call(op string, fn func() C.plx_status_t) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := fn()
	if status == C.PLX_OK {
		return nil
	}
	return lastError(op, status)
}

// lastError builds the error of a call that just returned status on this
// (locked) thread. A message is taken only when the thread's last-error status
// is that status: successful calls do not clear the message, so a stale one
// from an earlier failure must not be reported.
func lastError(op string, status C.plx_status_t) *Error {
	message := ""
	if C.plx_last_error_status() == status {
		message = C.GoString(C.plx_last_error_message())
	}
	if message == "" {
		message = fmt.Sprintf("%s failed with %s and left no message", op, Status(status))
	}
	return &Error{Status: Status(status), Op: op, Message: message}
}

// cmem owns C allocations made for one call (structs the library reads, which
// may hold pointers, so they cannot live in Go memory) and frees them together.
type cmem struct{ blocks []unsafe.Pointer }

func (m *cmem) alloc(bytes uintptr) unsafe.Pointer {
	if bytes == 0 {
		bytes = 1
	}
	p := C.calloc(1, C.size_t(bytes))
	if p == nil {
		panic("parallax: out of C memory")
	}
	m.blocks = append(m.blocks, p)
	return p
}

func (m *cmem) cstring(s string) *C.char {
	p := C.CString(s)
	m.blocks = append(m.blocks, unsafe.Pointer(p))
	return p
}

// optString is NULL for "" (the library's default), else a C copy.
func (m *cmem) optString(s string) *C.char {
	if s == "" {
		return nil
	}
	return m.cstring(s)
}

func (m *cmem) free() {
	for _, p := range m.blocks {
		C.free(p)
	}
	m.blocks = nil
}

// newC allocates a zeroed T in C memory owned by m.
func newC[T any](m *cmem) *T {
	var zero T
	return (*T)(m.alloc(unsafe.Sizeof(zero)))
}

// newCArray allocates n zeroed T in C memory owned by m.
func newCArray[T any](m *cmem, n int) []T {
	var zero T
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(m.alloc(unsafe.Sizeof(zero)*uintptr(n))), n)
}

// setAddr stores the address of Go memory (a slice's first element) in a
// pointer field of a C struct. Go's heap does not move objects; the caller
// keeps the Go memory reachable (runtime.KeepAlive) until the library no longer
// uses it, which for every such field is the end of the call. The address is
// stored as an integer, so the collector never finds a Go pointer in C memory.
func setAddr(field unsafe.Pointer, p unsafe.Pointer) {
	*(*uintptr)(field) = uintptr(p)
}

// outputSize is the element count of an output of the given dimensions, or an
// error when it cannot be allocated (rather than a panic in make). Dimensions
// below 1 give 0: the library refuses them with its own message.
func outputSize(op, what string, dims ...int64) (int, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 1 {
			return 0, nil
		}
		if n > math.MaxInt64/d {
			n = math.MaxInt64
			break
		}
		n *= d
	}
	if n > 1<<40 || int64(int(n)) != n {
		return 0, &Error{Status: StatusOutOfMemory, Op: op, Message: fmt.Sprintf(
			"%s: the %s would hold %d values; that much memory cannot be allocated", op, what, n)}
	}
	return int(n), nil
}

func sizeOf[T any]() C.size_t {
	var zero T
	return C.size_t(unsafe.Sizeof(zero))
}

// goString reads a NUL-terminated char array of a C struct.
func goString(chars []C.char) string {
	b := make([]byte, 0, len(chars))
	for _, c := range chars {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// jsonOut calls one of the snprintf-like describe functions: the size first,
// then the text (again if it grew in between).
func jsonOut(op string, fn func(buffer *C.char, size C.size_t, required *C.size_t) C.plx_status_t) (string, error) {
	var m cmem
	defer m.free()
	required := newC[C.size_t](&m)
	if err := call(op, func() C.plx_status_t { return fn(nil, 0, required) }); err != nil {
		return "", err
	}
	for attempt := 0; attempt < 3; attempt++ {
		size := *required
		buffer := (*C.char)(C.malloc(size))
		err := call(op, func() C.plx_status_t { return fn(buffer, size, required) })
		text := C.GoString(buffer)
		C.free(unsafe.Pointer(buffer))
		if err == nil {
			return text, nil
		}
		if e, ok := err.(*Error); !ok || e.Status != StatusBufferTooSmall {
			return "", err
		}
	}
	return "", &Error{Status: StatusBufferTooSmall, Op: op, Message: op + ": the text kept growing between calls"}
}
