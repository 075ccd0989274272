package parallax

// #include "shim.h"
import "C"

import "math"

// VersionNumber is the loaded library's packed version, major*10000 +
// minor*100 + patch (plx_version).
func VersionNumber() uint32 { return uint32(C.plx_version()) }

// Version is the loaded library's version as numbers (plx_version).
func Version() (major, minor, patch int) {
	v := int(VersionNumber())
	return v / 10000, v / 100 % 100, v % 100
}

// VersionString is the loaded library's version, "major.minor.patch"
// (plx_version_string).
func VersionString() string { return C.GoString(C.plx_version_string()) }

// ABICompatible says whether the loaded library can serve a host written for
// header major.minor (plx_abi_compatible).
func ABICompatible(major, minor int) bool {
	if major < math.MinInt32 || major > math.MaxInt32 || minor < math.MinInt32 || minor > math.MaxInt32 {
		return false
	}
	return C.plx_abi_compatible(C.int(major), C.int(minor)) == 1
}
