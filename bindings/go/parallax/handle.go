package parallax

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// handle owns one C handle: destroyed exactly once, never while a call on
// another goroutine still uses it. acquire/release bracket each use; close
// marks it closed (later acquires fail with ErrInvalidArgument) and destroys
// it at once, or when the last use in flight is released.
type handle struct {
	mu      sync.Mutex
	ptr     unsafe.Pointer
	users   int
	closed  bool
	kind    string
	destroy func(unsafe.Pointer)
}

func newHandle(kind string, ptr unsafe.Pointer, destroy func(unsafe.Pointer)) *handle {
	return &handle{ptr: ptr, kind: kind, destroy: destroy}
}

func (h *handle) acquire(op string) (unsafe.Pointer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, invalid(op, "this %s is closed", h.kind)
	}
	h.users++
	return h.ptr, nil
}

func (h *handle) release() {
	h.mu.Lock()
	h.users--
	p := h.take()
	h.mu.Unlock()
	if p != nil {
		h.destroy(p)
	}
}

// take returns the pointer to destroy when the handle is closed and unused (with mu held).
func (h *handle) take() unsafe.Pointer {
	if !h.closed || h.users != 0 || h.ptr == nil {
		return nil
	}
	p := h.ptr
	h.ptr = nil
	return p
}

// close closes the handle; it reports false when it was closed already.
func (h *handle) close() bool {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	h.closed = true
	p := h.take()
	h.mu.Unlock()
	if p != nil {
		h.destroy(p)
	}
	return true
}

func (h *handle) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// offThread runs fn on a goroutine of its own and waits for it. Runtimes and
// jobs are destroyed this way: a callback of another run (whose thread is
// inside that run's arena) must never destroy them on its own thread.
func offThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// callbackThreads records the OS threads currently running a callback of one
// run (or one runtime's log function), so that calls which would wait for
// that run from inside it can be refused instead of deadlocking. A goroutine
// running a callback stays on its thread for the callback's duration, and no
// other goroutine can run on that thread meanwhile, so the thread id
// identifies the callback.
type callbackThreads struct {
	active atomic.Int32
	mu     sync.Mutex
	tids   map[int]int
}

func (c *callbackThreads) enter() int {
	tid := syscall.Gettid()
	c.mu.Lock()
	if c.tids == nil {
		c.tids = make(map[int]int)
	}
	c.tids[tid]++
	c.mu.Unlock()
	c.active.Add(1)
	return tid
}

func (c *callbackThreads) leave(tid int) {
	c.active.Add(-1)
	c.mu.Lock()
	if c.tids[tid]--; c.tids[tid] == 0 {
		delete(c.tids, tid)
	}
	c.mu.Unlock()
}

// current says whether the calling goroutine is inside one of these callbacks.
func (c *callbackThreads) current() bool {
	if c.active.Load() == 0 {
		return false
	}
	tid := syscall.Gettid()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tids[tid] > 0
}
