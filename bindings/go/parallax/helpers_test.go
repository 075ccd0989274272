package parallax

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// repoDir is the repository root (bindings/go/parallax is three levels down).
var repoDir = func() string {
	dir, _ := filepath.Abs("../../..")
	return dir
}()

func profile(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(repoDir, "profiles", name+".json")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("profile %s: %v", name, err)
	}
	return path
}

// newRuntime is a runtime on a machine profile, closed when the test ends.
func newRuntime(t testing.TB, name string, options ...func(*RuntimeOptions)) *Runtime {
	t.Helper()
	o := &RuntimeOptions{MachineProfile: profile(t, name)}
	for _, f := range options {
		f(o)
	}
	rt, err := NewRuntime(o)
	if err != nil {
		t.Fatalf("NewRuntime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// tiny is a runtime on the 2-CPU profile (the CI machine's size).
func tiny(t testing.TB) *Runtime { return newRuntime(t, "tiny-2c-4g") }

// requireStatus checks that err is an *Error of status want, matched by its
// sentinel through errors.Is, whose message contains every one of texts.
func requireStatus(t testing.TB, err error, want *Error, texts ...string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v", want.Status)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v is not %v", err, want.Status)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not an *Error", err)
	}
	if e.Status != want.Status {
		t.Fatalf("status %v, want %v", e.Status, want.Status)
	}
	for _, text := range texts {
		if !strings.Contains(e.Message, text) {
			t.Fatalf("message %q does not contain %q", e.Message, text)
		}
	}
	return e
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rssBytes is this process's resident set size.
func rssBytes(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	check(t, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			check(t, err)
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// collect runs the garbage collector until finalizers have had their turn.
func collect() {
	for i := 0; i < 3; i++ {
		runtime.GC()
		runtime.Gosched()
	}
}

// cacheDir is the program cache every device runtime of the test binary shares.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parallax-go-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	closeDeviceRuntime()
	os.RemoveAll(dir)
	os.Exit(code)
}
