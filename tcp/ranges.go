package tcp

// ranges is a fixed-capacity, sorted list of disjoint sequence ranges
// [Start, End): the blocks a receiver holds out of order, or the blocks a
// sender knows the peer SACKed. It never allocates after newRanges.
type ranges struct {
	r []SACKBlock
}

func newRanges(capacity int) ranges { return ranges{r: make([]SACKBlock, 0, capacity)} }

// add merges [start, end) in. It returns false, changing nothing, when the
// range touches no existing one and the list is full.
func (rs *ranges) add(start, end Seq) bool {
	if !start.LessThan(end) {
		return true
	}
	r := rs.r
	// First block that ends at or after start: it may merge.
	i := 0
	for i < len(r) && r[i].End.LessThan(start) {
		i++
	}
	j := i
	for j < len(r) && r[j].Start.LessEq(end) {
		start = minSeq(start, r[j].Start)
		end = maxSeq(end, r[j].End)
		j++
	}
	if i == j {
		if len(r) == cap(r) {
			return false
		}
		r = r[:len(r)+1]
		copy(r[i+1:], r[i:])
		r[i] = SACKBlock{Start: start, End: end}
		rs.r = r
		return true
	}
	r[i] = SACKBlock{Start: start, End: end}
	n := copy(r[i+1:], r[j:])
	rs.r = r[:i+1+n]
	return true
}

// covers reports whether [start, end) lies inside one range.
func (rs *ranges) covers(start, end Seq) bool {
	for _, b := range rs.r {
		if b.Start.LessEq(start) && end.LessEq(b.End) {
			return true
		}
		if start.LessThan(b.Start) {
			return false
		}
	}
	return false
}

// trim drops everything below seq.
func (rs *ranges) trim(seq Seq) {
	r := rs.r
	k := 0
	for _, b := range r {
		if b.End.LessEq(seq) {
			continue
		}
		if b.Start.LessThan(seq) {
			b.Start = seq
		}
		r[k] = b
		k++
	}
	rs.r = r[:k]
}

// reset empties the list.
func (rs *ranges) reset() { rs.r = rs.r[:0] }

// bytes is the total length of the ranges.
func (rs *ranges) bytes() int {
	n := 0
	for _, b := range rs.r {
		n += int(b.End.Sub(b.Start))
	}
	return n
}

// highest is the end of the last range, or ok false when empty.
func (rs *ranges) highest() (Seq, bool) {
	if len(rs.r) == 0 {
		return 0, false
	}
	return rs.r[len(rs.r)-1].End, true
}

func minSeq(a, b Seq) Seq {
	if a.LessThan(b) {
		return a
	}
	return b
}

func maxSeq(a, b Seq) Seq {
	if a.LessThan(b) {
		return b
	}
	return a
}
