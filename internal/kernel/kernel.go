// Package kernel reads the running kernel's release and compares versions:
// the one place fastpath turns `uname -r` into a major and minor number, for
// the feature checks of umem, the doctor and the reports that print it.
package kernel

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Version is a kernel's major and minor number, such as 6.8.
type Version struct{ Major, Minor int }

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// String formats v as major.minor.
func (v Version) String() string { return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) }

// Release returns the running kernel's release (uname -r), such as
// "6.18.44" or "6.8.0-45-generic"; "unknown" when it cannot be read.
func Release() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Parse reads the major and minor number at the start of a release such as
// "6.8.0-45-generic" or "7.3.4+deb14-amd64"; ok is false when there are none.
func Parse(release string) (v Version, ok bool) {
	major, rest, found := strings.Cut(release, ".")
	if !found {
		return Version{}, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	var err1, err2 error
	v.Major, err1 = strconv.Atoi(major)
	v.Minor, err2 = strconv.Atoi(rest[:end])
	return v, err1 == nil && err2 == nil && v.Major >= 0
}

// AtLeast reports whether the running kernel is major.minor or newer (false
// when its release cannot be read).
func AtLeast(major, minor int) bool {
	v, ok := Parse(Release())
	return ok && v.AtLeast(major, minor)
}
