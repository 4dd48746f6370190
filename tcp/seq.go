package tcp

// Seq is a TCP sequence number. Comparisons are modulo 2^32 (RFC 9293
// 3.4, serial number arithmetic): a is before b when b-a, taken as a
// signed 32-bit distance, is positive.
type Seq uint32

// Add returns s advanced by n.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the signed distance s - t.
func (s Seq) Sub(t Seq) int32 { return int32(s - t) }

// LessThan reports whether s is before t.
func (s Seq) LessThan(t Seq) bool { return int32(s-t) < 0 }

// LessEq reports whether s is before t or equal to it.
func (s Seq) LessEq(t Seq) bool { return int32(s-t) <= 0 }

// GreaterThan reports whether s is after t.
func (s Seq) GreaterThan(t Seq) bool { return int32(s-t) > 0 }

// GreaterEq reports whether s is after t or equal to it.
func (s Seq) GreaterEq(t Seq) bool { return int32(s-t) >= 0 }

// InRange reports whether lo <= s < hi.
func (s Seq) InRange(lo, hi Seq) bool { return s.GreaterEq(lo) && s.LessThan(hi) }
