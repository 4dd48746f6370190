package tcp

import (
	"bytes"
	"errors"
	"testing"
)

// Seed corpora: the f.Add calls below (the golden segments, their
// options, and hand-made edge cases).

// refChecksumOK is ChecksumValid restated plainly: the one's complement
// sum, 16 bits at a time, of the pseudo-header (RFC 9293 3.1: addresses,
// zero, protocol 6, TCP length mod 2^16) and the segment is all ones.
func refChecksumOK(seg []byte) bool {
	s, d := goldenSrc.As4(), goldenDst.As4()
	n := len(seg)
	ph := []byte{s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3], 0, 6, byte(n >> 8), byte(n)}
	var sum uint64
	for _, b := range [][]byte{ph, seg} {
		for i := 0; i < len(b); i += 2 {
			w := uint64(b[i]) << 8
			if i+1 < len(b) {
				w |= uint64(b[i+1])
			}
			sum += w
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

func FuzzHeader(f *testing.F) {
	for _, g := range [][]byte{synGolden, dataGolden} {
		f.Add(bytes.Clone(g))
		f.Add(bytes.Clone(g[:len(g)-1]))
		f.Add(append(bytes.Clone(g), 0, 0, 0, 0, 0, 0)) // Ethernet padding counted in
	}
	f.Add([]byte{})
	f.Add(make([]byte, 20))                                                                               // offset 0
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0xf0, 0xff, 0, 5, 0, 0, 0, 6})                       // offset 15 in 20 bytes
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0x60, 0x12, 0, 5, 0, 0, 0, 0, optMSS, 3, 5, optNOP}) // bad option
	f.Fuzz(func(t *testing.T, data []byte) {
		h := Header(data)
		err := h.Check()
		off := 0
		if len(data) > 12 {
			off = int(data[12]>>4) * 4
		}
		ok := len(data) >= HeaderLen && off >= HeaderLen && off <= len(data)
		if (err == nil) != ok {
			t.Fatalf("Check = %v, reference says %v", err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadOffset) {
				t.Fatalf("Check = %v, not a sentinel", err)
			}
			return
		}
		// No accessor panics, and the bounds agree.
		_, _, _, _ = h.SrcPort(), h.DstPort(), h.Seq(), h.Ack()
		_, _, _ = h.Window(), h.Checksum(), h.Urgent()
		_ = h.Flags().String()
		if h.DataOffset() != off || len(h.Options()) != off-HeaderLen {
			t.Fatalf("data offset %d, options %d bytes", h.DataOffset(), len(h.Options()))
		}
		p := h.Payload()
		if len(p) != len(data)-off || (len(p) > 0 && &p[0] != &data[off]) {
			t.Fatalf("payload %d bytes for %d with offset %d", len(p), len(data), off)
		}

		valid := h.ChecksumValid(goldenSrc, goldenDst)
		if want := refChecksumOK(data); valid != want {
			t.Fatalf("ChecksumValid %v, reference %v", valid, want)
		}
		c := Header(bytes.Clone(data))
		c.SetChecksum(goldenSrc, goldenDst)
		if !c.ChecksumValid(goldenSrc, goldenDst) || !bytes.Equal(c[:16], data[:16]) || !bytes.Equal(c[18:], data[18:]) {
			t.Fatalf("SetChecksum: % x", []byte(c))
		}
		// A valid checksum stays, but for the two forms of one's
		// complement zero (0x0000 and 0xffff both verify).
		if valid && c.Checksum() != h.Checksum() && c.Checksum()^h.Checksum() != 0xffff {
			t.Fatalf("SetChecksum changed a valid checksum %#04x to %#04x", h.Checksum(), c.Checksum())
		}

		var s Segment
		perr := Parse(h, &s)
		var o Options
		if oerr := ParseOptions(h.Options(), &o); (perr == nil) != (oerr == nil) {
			t.Fatalf("Parse %v, ParseOptions %v", perr, oerr)
		}
		if perr != nil {
			if !errors.Is(perr, ErrBadOption) {
				t.Fatalf("Parse = %v", perr)
			}
			return
		}
		if s.Seq != h.Seq() || s.Ack != h.Ack() || s.Flags != h.Flags() || s.Window != h.Window() || s.Opts != o || len(s.Payload) != len(p) {
			t.Fatalf("Parse = %+v", s)
		}
		want := uint32(len(p))
		if s.Flags&FlagSYN != 0 {
			want++
		}
		if s.Flags&FlagFIN != 0 {
			want++
		}
		if s.Len() != want {
			t.Fatalf("SEG.LEN %d, want %d", s.Len(), want)
		}
	})
}

func FuzzOptions(f *testing.F) {
	f.Add(bytes.Clone(synGolden[HeaderLen:]))
	f.Add(bytes.Clone(dataGolden[HeaderLen:32]))
	f.Add([]byte{})
	f.Add([]byte{optNOP, optNOP, optSACK, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8})
	f.Add([]byte{optNOP, optWScale, 3, 200, optMSS, 4, 0, 0, optEOL, 9})
	f.Add([]byte{optSACK, 26, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, optSACK, 10, 0, 0, 0, 9, 0, 0, 0, 10})
	f.Add([]byte{optTimestamps, 9, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{30, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var o Options
		if err := ParseOptions(data, &o); err != nil {
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("ParseOptions = %v", err)
			}
			return
		}
		if o.NumSACK < 0 || o.NumSACK > 4 || o.WScale > 14 || !o.HasWScale && o.WScale != 0 {
			t.Fatalf("ParseOptions = %+v", o)
		}
		n := OptionsLen(&o)
		if n%4 != 0 || n > MaxOptionsLen {
			t.Fatalf("%+v: OptionsLen %d", o, n)
		}
		buf := filled(MaxOptionsLen + 8)
		if w := EncodeOptions(buf, &o); w != n || !bytes.Equal(buf[n:], filled(len(buf)-n)) {
			t.Fatalf("%+v: EncodeOptions wrote %d bytes, OptionsLen %d: % x", o, w, n, buf)
		}
		var p Options
		if err := ParseOptions(buf[:n], &p); err != nil {
			t.Fatalf("%+v: encoded as % x, which does not parse: %v", o, buf[:n], err)
		}
		// Equal, but for the SACK blocks that do not fit (and blocks
		// past NumSACK that a second SACK option left behind).
		if want := encoded(o); p != want {
			t.Fatalf("%+v: parsed back as\n%+v, want\n%+v", o, p, want)
		}
	})
}

// FuzzBuffer runs a program of Buffer operations against a plain model:
// the published bytes (head to tail) and the room past tail, where WriteAt
// stores and Commit publishes.
func FuzzBuffer(f *testing.F) {
	f.Add([]byte{0, 0, 40, 1, 30, 0, 50, 1, 60, 2, 5, 10, 3, 7})
	f.Add([]byte{1, 4, 0, 8, 1, 20, 5, 0, 5, 20, 4, 8, 5, 30, 0, 9})
	f.Add([]byte{0, 0, 255, 3, 255, 4, 10, 20, 4, 0, 10, 5, 30, 2, 0, 255})
	f.Add([]byte{1, 0, 100, 1, 100, 0, 100, 2, 50, 100, 1, 60, 0, 120, 2, 0, 128})
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) == 0 {
			return
		}
		b := NewBuffer(64 << (prog[0] & 1))
		size := b.Cap()
		prog = prog[1:]
		next := func() int {
			if len(prog) == 0 {
				return 0
			}
			v := int(prog[0])
			prog = prog[1:]
			return v
		}
		var (
			data  []byte // published
			pend  []byte // the room past tail: len(pend) == size-len(data)
			known []bool // which bytes of pend WriteAt stored
			gen   byte   // the next byte to write
		)
		pend, known = make([]byte, size), make([]bool, size)
		chunk := func(n int) []byte {
			p := make([]byte, n)
			for i := range p {
				gen++
				p[i] = gen
			}
			return p
		}
		grow := func(n int) { // n bytes consumed: room at the end
			pend = append(pend, make([]byte, n)...)
			known = append(known, make([]bool, n)...)
		}
		for step := 0; len(prog) > 0; step++ {
			switch op := next() % 6; op {
			case 0: // Write
				p := chunk(next())
				n := b.Write(p)
				if want := min(len(p), len(pend)); n != want {
					t.Fatalf("step %d: Write(%d) = %d, want %d", step, len(p), n, want)
				}
				data = append(data, p[:n]...)
				pend, known = pend[n:], known[n:]
			case 1: // Read
				p := make([]byte, next())
				n := b.Read(p)
				if want := min(len(p), len(data)); n != want || !bytes.Equal(p[:n], data[:n]) {
					t.Fatalf("step %d: Read(%d) = %d % x, want %d % x", step, len(p), n, p[:n], want, data[:want])
				}
				data = data[n:]
				grow(n)
			case 2: // Peek
				off, k := next(), next()
				p1, p2 := b.Peek(off, k)
				var want []byte
				if off < len(data) {
					want = data[off:min(len(data), off+k)]
				}
				if !bytes.Equal(append(bytes.Clone(p1), p2...), want) || len(p1) == 0 && len(p2) > 0 {
					t.Fatalf("step %d: Peek(%d, %d) = % x + % x, want % x", step, off, k, p1, p2, want)
				}
				if len(p2) > 0 && &p1[:cap(p1)][cap(p1)-1] != &b.buf[size-1] {
					t.Fatalf("step %d: Peek split before the end of the ring", step)
				}
			case 3: // Consume
				k := next()
				b.Consume(k)
				n := min(k, len(data))
				data = data[n:]
				grow(n)
			case 4: // WriteAt
				off := next()
				p := chunk(next())
				n := b.WriteAt(off, p)
				want := max(0, min(len(p), len(pend)-off))
				if n != want {
					t.Fatalf("step %d: WriteAt(%d, %d bytes) = %d, want %d (room %d)", step, off, len(p), n, want, len(pend))
				}
				copy(pend[min(off, len(pend)):], p[:n])
				for i := off; i < off+n; i++ {
					known[i] = true
				}
			case 5: // Commit, of bytes WriteAt stored only
				k := min(next(), len(pend))
				for i := 0; i < k; i++ {
					if !known[i] {
						k = i
						break
					}
				}
				b.Commit(k)
				data = append(data, pend[:k]...)
				pend, known = pend[k:], known[k:]
			}
			if b.Len() != len(data) || b.Free() != size-len(data) || len(pend) != b.Free() {
				t.Fatalf("step %d: Len %d Free %d, model %d bytes", step, b.Len(), b.Free(), len(data))
			}
		}
		// Everything published reads back.
		rest := make([]byte, size+1)
		if n := b.Read(rest); n != len(data) || !bytes.Equal(rest[:n], data) {
			t.Fatalf("final Read %d % x, want % x", n, rest[:n], data)
		}
	})
}
