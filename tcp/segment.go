package tcp

import "encoding/binary"

// Fields describe a header for Encode.
type Fields struct {
	SrcPort, DstPort uint16
	Seq, Ack         Seq
	Flags            Flags
	Window           uint16
	Urgent           uint16
}

// Encode writes the header for f with the options o (nil: none) at the
// start of b, checksum zero, and returns its length. Write the payload
// after it, then call SetChecksum on the whole segment.
func Encode(b []byte, f Fields, o *Options) (int, error) {
	n := HeaderLen + OptionsLen(o)
	if len(b) < n {
		return 0, ErrShortBuffer
	}
	binary.BigEndian.PutUint16(b[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], f.DstPort)
	binary.BigEndian.PutUint32(b[4:8], uint32(f.Seq))
	binary.BigEndian.PutUint32(b[8:12], uint32(f.Ack))
	b[12] = byte(n/4) << 4
	b[13] = byte(f.Flags)
	binary.BigEndian.PutUint16(b[14:16], f.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:20], f.Urgent)
	if o != nil {
		EncodeOptions(b[HeaderLen:n], o)
	}
	return n, nil
}

// Segment is a parsed segment: its fields, options and a view of its
// payload.
type Segment struct {
	Seq, Ack Seq
	Flags    Flags
	Window   uint16 // as sent: not scaled
	Opts     Options
	Payload  []byte
}

// Parse reads h (which passed Check) into s.
func Parse(h Header, s *Segment) error {
	s.Seq, s.Ack, s.Flags, s.Window = h.Seq(), h.Ack(), h.Flags(), h.Window()
	s.Payload = h.Payload()
	return ParseOptions(h.Options(), &s.Opts)
}

// Len is SEG.LEN: the payload, plus one for SYN and one for FIN.
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return n
}
