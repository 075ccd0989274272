package parallax

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"strings"
)

// Status is a plx_status_t: the result of every fallible library call.
type Status int32

// The statuses of the library (values fixed forever; hosts tolerate unknown ones).
const (
	StatusOK              Status = C.PLX_OK
	StatusInvalidArgument Status = C.PLX_ERR_INVALID_ARGUMENT
	StatusOutOfMemory     Status = C.PLX_ERR_OUT_OF_MEMORY
	StatusDevice          Status = C.PLX_ERR_DEVICE
	StatusNoDevice        Status = C.PLX_ERR_NO_DEVICE
	StatusCancelled       Status = C.PLX_ERR_CANCELLED
	StatusTaskFailed      Status = C.PLX_ERR_TASK_FAILED
	StatusUnsupported     Status = C.PLX_ERR_UNSUPPORTED
	StatusVersion         Status = C.PLX_ERR_VERSION
	StatusIO              Status = C.PLX_ERR_IO
	StatusInternal        Status = C.PLX_ERR_INTERNAL
	StatusBufferTooSmall  Status = C.PLX_ERR_BUFFER_TOO_SMALL
	StatusTimeout         Status = C.PLX_ERR_TIMEOUT
)

// String is the status's name from plx_status_string, e.g.
// "PLX_ERR_INVALID_ARGUMENT" ("PLX_ERR_UNKNOWN" for a value the library does
// not know). With a library that was refused at load, the names come from the
// header this package was compiled against.
func (s Status) String() string {
	if loadError == nil {
		return StatusString(s)
	}
	if name, ok := headerStatusNames[s]; ok {
		return name
	}
	return "PLX_ERR_UNKNOWN"
}

var headerStatusNames = map[Status]string{StatusOK: "PLX_OK", StatusInvalidArgument: "PLX_ERR_INVALID_ARGUMENT",
	StatusOutOfMemory: "PLX_ERR_OUT_OF_MEMORY", StatusDevice: "PLX_ERR_DEVICE", StatusNoDevice: "PLX_ERR_NO_DEVICE",
	StatusCancelled: "PLX_ERR_CANCELLED", StatusTaskFailed: "PLX_ERR_TASK_FAILED",
	StatusUnsupported: "PLX_ERR_UNSUPPORTED", StatusVersion: "PLX_ERR_VERSION", StatusIO: "PLX_ERR_IO",
	StatusInternal: "PLX_ERR_INTERNAL", StatusBufferTooSmall: "PLX_ERR_BUFFER_TOO_SMALL",
	StatusTimeout: "PLX_ERR_TIMEOUT"}

// StatusString names a status (plx_status_string).
func StatusString(s Status) string {
	return C.GoString(C.plx_status_string(C.plx_status_t(s)))
}

// Error is a failure reported by the library, or found by the binding before a
// call. Status is the plx_status_t, Message the library's explanation (what
// was wrong, which argument and value, what to do), Op the library function
// or binding method that failed.
//
// For a run that ended in failure, Report is the run's report when the run
// started, Results the task results of a task run, and Cause the first error
// a callback returned (or a *PanicError when it panicked), also reached by
// errors.Unwrap, errors.Is and errors.As.
type Error struct {
	Status  Status
	Message string
	Op      string
	Cause   error
	Report  *RunReport
	Results []TaskResult
}

func (e *Error) Error() string {
	text := "parallax: " + e.Status.String()
	if e.Op != "" && !strings.HasPrefix(e.Message, e.Op+":") {
		text += ": " + e.Op
	}
	if e.Message != "" {
		text += ": " + e.Message
	}
	if e.Cause != nil {
		text += " (caused by: " + e.Cause.Error() + ")"
	}
	return text
}

// Unwrap gives the callback's error that ended the run, if any.
func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, ErrXxx) true for every *Error of that status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && (t.Message == "" || t.Message == e.Message)
}

// Sentinels for errors.Is, one per status: errors.Is(err, ErrInvalidArgument)
// is true for any *Error with status PLX_ERR_INVALID_ARGUMENT.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrOutOfMemory     = &Error{Status: StatusOutOfMemory}
	ErrDevice          = &Error{Status: StatusDevice}
	ErrNoDevice        = &Error{Status: StatusNoDevice}
	ErrCancelled       = &Error{Status: StatusCancelled}
	ErrTaskFailed      = &Error{Status: StatusTaskFailed}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
	ErrVersion         = &Error{Status: StatusVersion}
	ErrIO              = &Error{Status: StatusIO}
	ErrInternal        = &Error{Status: StatusInternal}
	ErrBufferTooSmall  = &Error{Status: StatusBufferTooSmall}
	ErrTimeout         = &Error{Status: StatusTimeout}
)

// PanicError is what a callback's panic becomes: the run fails, and its *Error
// has this as its Cause.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic in a parallax callback: %v", p.Value) }

// Unwrap gives the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	if err, ok := p.Value.(error); ok {
		return err
	}
	return nil
}

// Code makes a callback error whose value the library records as the
// callback's return code (RunReport.CallbackCode). Any other non-nil error
// returns -1. Code(0) is still a failure (returned as -1).
func Code(code int32) error { return callbackCode(code) }

type callbackCode int32

func (c callbackCode) Error() string { return fmt.Sprintf("callback failed with code %d", int32(c)) }

// returnCode is what a loop callback returns to C for err.
func returnCode(err error) C.int {
	var c callbackCode
	if errors.As(err, &c) && c != 0 {
		return C.int(c)
	}
	return -1
}

// bindingError is an *Error found by the binding before any library call.
func bindingError(status Status, op string, format string, args ...any) *Error {
	return &Error{Status: status, Op: op, Message: fmt.Sprintf(format, args...)}
}

func invalid(op string, format string, args ...any) *Error {
	return bindingError(StatusInvalidArgument, op, format, args...)
}
