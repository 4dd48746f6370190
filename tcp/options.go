package tcp

import "encoding/binary"

// Option kinds (RFC 9293 3.1, RFC 7323, RFC 2018).
const (
	optEOL           = 0
	optNOP           = 1
	optMSS           = 2
	optWScale        = 3
	optSACKPermitted = 4
	optSACK          = 5
	optTimestamps    = 8
)

// SACKBlock is one block of a SACK option: the bytes [Start, End) were
// received (RFC 2018 3).
type SACKBlock struct{ Start, End Seq }

// Options are the TCP options fastpath reads and writes.
type Options struct {
	MSS           uint16 // 0: absent
	WScale        uint8  // shift, clamped to 14 (RFC 7323 2.3)
	HasWScale     bool
	SACKPermitted bool
	HasTimestamps bool
	TSVal, TSEcr  uint32
	SACK          [4]SACKBlock
	NumSACK       int
}

// ParseOptions parses the options bytes b into o. Unknown options with a
// valid length are skipped; a length below 2 or past the end, or a known
// option with the wrong length, is ErrBadOption.
func ParseOptions(b []byte, o *Options) error {
	*o = Options{}
	for i := 0; i < len(b); {
		kind := b[i]
		if kind == optEOL {
			return nil
		}
		if kind == optNOP {
			i++
			continue
		}
		if i+1 >= len(b) {
			return ErrBadOption
		}
		n := int(b[i+1])
		if n < 2 || i+n > len(b) {
			return ErrBadOption
		}
		v := b[i+2 : i+n]
		switch kind {
		case optMSS:
			if n != 4 {
				return ErrBadOption
			}
			o.MSS = binary.BigEndian.Uint16(v)
		case optWScale:
			if n != 3 {
				return ErrBadOption
			}
			o.HasWScale, o.WScale = true, min(v[0], 14)
		case optSACKPermitted:
			if n != 2 {
				return ErrBadOption
			}
			o.SACKPermitted = true
		case optTimestamps:
			if n != 10 {
				return ErrBadOption
			}
			o.HasTimestamps = true
			o.TSVal = binary.BigEndian.Uint32(v[0:4])
			o.TSEcr = binary.BigEndian.Uint32(v[4:8])
		case optSACK:
			k := (n - 2) / 8
			if (n-2)%8 != 0 || k < 1 || k > 4 {
				return ErrBadOption
			}
			for j := 0; j < k; j++ {
				o.SACK[j] = SACKBlock{
					Start: Seq(binary.BigEndian.Uint32(v[8*j:])),
					End:   Seq(binary.BigEndian.Uint32(v[8*j+4:])),
				}
			}
			o.NumSACK = k
		}
		i += n
	}
	return nil
}

// sackFit is the number of SACK blocks that fit beside the other options
// (40 bytes in all): 4 alone, 3 with timestamps, fewer beside MSS or
// window scale.
func sackFit(o *Options) int {
	room := MaxOptionsLen - 4 // NOP, NOP, kind, length
	if o.MSS != 0 {
		room -= 4
	}
	if o.HasTimestamps {
		room -= 12
	} else if o.SACKPermitted {
		room -= 4
	}
	if o.HasWScale {
		room -= 4
	}
	return min(max(o.NumSACK, 0), room/8)
}

// OptionsLen is the encoded length of o, a multiple of 4. With timestamps
// at most 3 SACK blocks are encoded (4 do not fit in 40 bytes).
func OptionsLen(o *Options) int {
	if o == nil {
		return 0
	}
	n := 0
	if o.MSS != 0 {
		n += 4
	}
	if o.SACKPermitted || o.HasTimestamps {
		// SACK_PERM+TS share a word pair (2+10); each alone is padded
		// with two NOPs.
		switch {
		case o.SACKPermitted && o.HasTimestamps:
			n += 12
		case o.HasTimestamps:
			n += 12
		default:
			n += 4
		}
	}
	if o.HasWScale {
		n += 4
	}
	if k := sackFit(o); k > 0 {
		n += 4 + 8*k
	}
	return n
}

// EncodeOptions writes o into b (at least OptionsLen(o) bytes) in the
// layout Linux uses, and returns the length written.
func EncodeOptions(b []byte, o *Options) int {
	i := 0
	if o.MSS != 0 {
		b[0], b[1] = optMSS, 4
		binary.BigEndian.PutUint16(b[2:4], o.MSS)
		i = 4
	}
	switch {
	case o.SACKPermitted && o.HasTimestamps:
		b[i], b[i+1] = optSACKPermitted, 2
		i += 2
		i += putTimestamps(b[i:], o)
	case o.HasTimestamps:
		b[i], b[i+1] = optNOP, optNOP
		i += 2
		i += putTimestamps(b[i:], o)
	case o.SACKPermitted:
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACKPermitted, 2
		i += 4
	}
	if o.HasWScale {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optWScale, 3, min(o.WScale, 14)
		i += 4
	}
	if k := sackFit(o); k > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACK, byte(2+8*k)
		i += 4
		for j := 0; j < k; j++ {
			binary.BigEndian.PutUint32(b[i:], uint32(o.SACK[j].Start))
			binary.BigEndian.PutUint32(b[i+4:], uint32(o.SACK[j].End))
			i += 8
		}
	}
	return i
}

func putTimestamps(b []byte, o *Options) int {
	b[0], b[1] = optTimestamps, 10
	binary.BigEndian.PutUint32(b[2:6], o.TSVal)
	binary.BigEndian.PutUint32(b[6:10], o.TSEcr)
	return 10
}
