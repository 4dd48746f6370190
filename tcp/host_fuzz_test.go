package tcp

import (
	"testing"
	"time"
)

// FuzzHost feeds arbitrary segments, with valid checksums, to a Host that
// listens and has an established connection with data in flight (over
// IPv6 when mode has bit 2; bit 3 adds packet-too-big messages with
// the segment's acknowledgment number and window as quote and MTU): nothing
// panics, the table stays bounded, and the connection's invariants hold
// (SND.UNA <= SND.NXT <= SND.MAX, the send buffer never holds more than
// written, RACK's marks bounded and in order).
func FuzzHost(f *testing.F) {
	seed := func(flags Flags, seq, ack uint32, wnd uint16, opts []byte, payload []byte) []byte {
		b := make([]byte, 20+len(opts)+len(payload))
		b[0], b[1], b[2], b[3] = 0x9c, 0x40, 0, 80
		b[4], b[5], b[6], b[7] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
		b[8], b[9], b[10], b[11] = byte(ack>>24), byte(ack>>16), byte(ack>>8), byte(ack)
		b[12] = byte((20+len(opts))/4) << 4
		b[13] = byte(flags)
		b[14], b[15] = byte(wnd>>8), byte(wnd)
		copy(b[20:], opts)
		copy(b[20+len(opts):], payload)
		return b
	}
	f.Add(seed(FlagSYN, 1000, 0, 65535, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0}, nil), uint8(0))
	f.Add(seed(FlagACK, 1001, 0, 65535, nil, []byte("data")), uint8(1))
	f.Add(seed(FlagACK, 1001, 0, 65535, []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9}, nil), uint8(2))
	f.Add(seed(FlagRST, 1001, 0, 0, nil, nil), uint8(3))
	f.Add(seed(FlagFIN|FlagACK, 1001, 0, 0, nil, []byte("bye")), uint8(4))
	f.Add(seed(FlagSYN|FlagACK, 5, 6, 1, nil, nil), uint8(5))
	f.Add(seed(FlagACK, 1001, 0, 65535, nil, []byte("data")), uint8(5))
	f.Add(seed(FlagACK, 1001, 0, 1300, nil, nil), uint8(13))
	f.Fuzz(func(t *testing.T, seg []byte, mode uint8) {
		cfg := testConfig()
		cfg.MaxConns, cfg.SynBacklog = 4, 1
		cfg.RACK = mode&2 != 0
		if mode&4 != 0 {
			withIPv6(t)
		}
		r := newRig(t, cfg)
		iss := r.accept(synOpts())
		c := r.conn
		c.Send.Write(make([]byte, 5000))
		c.Update(r.now)
		r.link.take()
		if len(seg) >= 12 && mode&1 != 0 {
			// Aim at the connection: our ports, sequence numbers near the
			// live ones.
			seg[0], seg[1], seg[2], seg[3] = byte(peerAddr.Port()>>8), byte(peerAddr.Port()), byte(hostAddr.Port()>>8), byte(hostAddr.Port())
			seq := uint32(peerISS+1) + uint32(seg[4]&0x0f)*512
			ack := uint32(iss+1) + uint32(seg[8]&0x1f)*512
			seg[4], seg[5], seg[6], seg[7] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
			seg[8], seg[9], seg[10], seg[11] = byte(ack>>24), byte(ack>>16), byte(ack>>8), byte(ack)
		}
		h := Header(seg)
		if len(seg) >= HeaderLen {
			h.SetChecksum(peerAddr.Addr(), hostAddr.Addr())
		}
		for i := 0; i < 3; i++ {
			r.h.Input(peerAddr.Addr(), hostAddr.Addr(), h, r.now)
			if mode&8 != 0 && len(seg) >= HeaderLen {
				r.h.PacketTooBig(hostAddr, peerAddr, h.Ack(), int(h.Window()), r.now)
			}
			r.advance(time.Duration(mode) * 10 * time.Millisecond)
		}
		r.advance(2 * time.Second)
		if n := len(r.h.Conns()); n > cfg.MaxConns {
			t.Fatalf("%d connections in a table of %d", n, cfg.MaxConns)
		}
		if c.State() != StateClosed {
			if c.sndNxt.LessThan(c.sndUna) || c.sndMax.LessThan(c.sndNxt) {
				t.Fatalf("SND.UNA %d SND.NXT %d SND.MAX %d", c.sndUna, c.sndNxt, c.sndMax)
			}
			if c.Send.Len() > 5000 {
				t.Fatalf("send buffer holds %d of 5000 bytes written", c.Send.Len())
			}
			// RACK's send-time marks: bounded, sequence and time rising.
			if want := map[bool]int{true: sentCap, false: 0}[cfg.RACK]; cap(c.sent) != want {
				t.Fatalf("marks capacity %d, want %d", cap(c.sent), want)
			}
			for i := c.sentHead + 1; i < len(c.sent); i++ {
				if a, b := c.sent[i-1], c.sent[i]; !a.seq.LessThan(b.seq) || a.first > a.last || a.last > b.first || b.first > b.last {
					t.Fatalf("marks out of order: %v", c.sent[c.sentHead:])
				}
			}
		}
	})
}
