package parallax

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestVersionMatchesTheHeader(t *testing.T) {
	check(t, CheckLibrary())
	major, minor, patch := Version()
	if major != HeaderVersionMajor || minor < HeaderVersionMinor {
		t.Fatalf("library %d.%d.%d, header %d.%d", major, minor, patch, HeaderVersionMajor, HeaderVersionMinor)
	}
	if VersionString() != fmt.Sprintf("%d.%d.%d", major, minor, patch) {
		t.Fatalf("VersionString %q, Version %d.%d.%d", VersionString(), major, minor, patch)
	}
	if VersionNumber() != uint32(major*10000+minor*100+patch) {
		t.Fatalf("VersionNumber %d", VersionNumber())
	}
	header, err := os.ReadFile(filepath.Join(repoDir, "include", "parallax.h"))
	check(t, err)
	m := regexp.MustCompile(`#define PLX_VERSION_STRING "([^"]+)"`).FindSubmatch(header)
	if m == nil || string(m[1]) != VersionString() {
		t.Fatalf("header version %q, library %q", m, VersionString())
	}
}

func TestABICompatible(t *testing.T) {
	if !ABICompatible(HeaderVersionMajor, HeaderVersionMinor) || !ABICompatible(HeaderVersionMajor, 0) {
		t.Fatal("the loaded library should serve this header")
	}
	for _, v := range [][2]int{{HeaderVersionMajor + 1, 0}, {HeaderVersionMajor, HeaderVersionMinor + 1},
		{-1, 0}, {1 << 40, 0}} {
		if ABICompatible(v[0], v[1]) {
			t.Fatalf("ABICompatible(%d, %d)", v[0], v[1])
		}
	}
}

func TestStatusStrings(t *testing.T) {
	names := map[Status]string{StatusOK: "PLX_OK", StatusInvalidArgument: "PLX_ERR_INVALID_ARGUMENT",
		StatusOutOfMemory: "PLX_ERR_OUT_OF_MEMORY", StatusDevice: "PLX_ERR_DEVICE",
		StatusNoDevice: "PLX_ERR_NO_DEVICE", StatusCancelled: "PLX_ERR_CANCELLED",
		StatusTaskFailed: "PLX_ERR_TASK_FAILED", StatusUnsupported: "PLX_ERR_UNSUPPORTED",
		StatusVersion: "PLX_ERR_VERSION", StatusIO: "PLX_ERR_IO", StatusInternal: "PLX_ERR_INTERNAL",
		StatusBufferTooSmall: "PLX_ERR_BUFFER_TOO_SMALL", StatusTimeout: "PLX_ERR_TIMEOUT", 1234: "PLX_ERR_UNKNOWN"}
	for status, name := range names {
		if StatusString(status) != name || status.String() != name || (status != 1234 && headerStatusNames[status] != name) {
			t.Errorf("StatusString(%d) = %q, want %q", status, StatusString(status), name)
		}
	}
}

func TestAVersionMismatchIsRefusedWithAClearMessage(t *testing.T) {
	err := checkVersion(10203, "1.2.3", false, 0, 1)
	requireStatus(t, err, ErrVersion, "1.2.3", "needs a library 0.x with x >= 1")
	if checkVersion(105, "0.1.5", true, 0, 1) != nil {
		t.Fatal("0.1.5 serves a 0.1 header")
	}
	if checkVersion(10000, "1.0.0", true, 0, 1) == nil {
		t.Fatal("a library of another major version must be refused even when it claims compatibility")
	}
}

// A libparallax.so.0 whose plx_version says 9.0.0: this test binary, run
// again with that library first on LD_LIBRARY_PATH, must refuse it at load.
func TestAForeignMajorVersionIsRefusedAtLoad(t *testing.T) {
	if os.Getenv("PLX_GO_FAKE_LIBRARY") != "" {
		err := CheckLibrary()
		fmt.Printf("CheckLibrary: %v\n", err)
		_, rtErr := NewRuntime(nil)
		_, tokenErr := NewCancelToken()
		fmt.Printf("NewRuntime is ErrVersion: %v; NewCancelToken is ErrVersion: %v\n",
			errors.Is(rtErr, ErrVersion), errors.Is(tokenErr, ErrVersion))
		return
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the fake library")
	}
	dir := t.TempDir()
	def, err := os.ReadFile(filepath.Join(repoDir, "plugin.def"))
	check(t, err)
	var source strings.Builder
	source.WriteString("#include <stdint.h>\n")
	for _, name := range regexp.MustCompile(`(?m)^\s+(plx_\w+)`).FindAllStringSubmatch(string(def), -1) {
		switch name[1] {
		case "plx_version":
			source.WriteString("uint32_t plx_version(void) { return 90000; }\n")
		case "plx_version_string":
			source.WriteString("const char* plx_version_string(void) { return \"9.0.0\"; }\n")
		case "plx_abi_compatible":
			source.WriteString("int plx_abi_compatible(int major, int minor) { return 0; }\n")
		case "plx_status_string", "plx_last_error_message":
			source.WriteString("const char* " + name[1] + "(void) { return \"\"; }\n")
		default:
			source.WriteString("int " + name[1] + "(void) { return 7; }\n")
		}
	}
	check(t, os.WriteFile(filepath.Join(dir, "fake.c"), []byte(source.String()), 0o644))
	check(t, os.WriteFile(filepath.Join(dir, "fake.map"), []byte("PARALLAX_0.1 { global: plx_*; local: *; };\n"), 0o644))
	build := exec.Command(cc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libparallax.so.0"),
		"-Wl,-soname,libparallax.so.0", "-Wl,--version-script="+filepath.Join(dir, "fake.map"),
		filepath.Join(dir, "fake.c"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the fake library: %v\n%s", err, out)
	}
	run := exec.Command(os.Args[0], "-test.run=^TestAForeignMajorVersionIsRefusedAtLoad$", "-test.v")
	run.Env = append(os.Environ(), "PLX_GO_FAKE_LIBRARY=1",
		"LD_LIBRARY_PATH="+dir+string(os.PathListSeparator)+os.Getenv("LD_LIBRARY_PATH"))
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the test binary on the fake library: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"PLX_ERR_VERSION", "version 9.0.0 (plx_version 90000)",
		fmt.Sprintf("compiled against parallax.h %d.%d", HeaderVersionMajor, HeaderVersionMinor),
		"NewRuntime is ErrVersion: true; NewCancelToken is ErrVersion: true"} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
}
