package tcp

// Time is nanoseconds in int64 throughout the package, passed in by the
// caller; these are its units (the package does not import time: it never
// reads a clock).
const (
	microsecond int64 = 1e3
	millisecond int64 = 1e6
	second      int64 = 1e9
)
