package tcp

import "net/netip"

// SYN cookies (used when the SYN backlog is full): the ISN of the SYN-ACK
// carries what the connection needs later, so that no state is kept until
// the client's ACK returns it as SEG.ACK-1. The 32 bits are
//
//	hash(tuple, client ISN, counter) (24 bits) | counter (6 bits) | MSS class (2 bits)
//
// where counter counts 64-second periods. A cookie cannot carry window
// scaling, SACK-permitted or timestamps: a connection made from one has
// none of them.

// cookieMSS are the MSS classes a cookie can name (as Linux's).
var cookieMSS = [4]uint16{536, 1300, 1440, 1460}

const cookiePeriod = int64(64e9) // ns

func (g *ISNGenerator) cookieHash(local, remote netip.AddrPort, clientISN Seq, counter uint64) uint32 {
	m := tuple(local, remote)
	m[4] |= uint64(clientISN) << 32
	m[5] = 2 | counter<<8
	return uint32(sip48(g.k0, g.k1, &m))
}

// Cookie returns the ISN that encodes a SYN from remote with clientISN and
// the peer's MSS, at now.
func (g *ISNGenerator) Cookie(local, remote netip.AddrPort, clientISN Seq, mss uint16, now int64) Seq {
	class := 0
	for i, m := range cookieMSS {
		if m <= mss {
			class = i
		}
	}
	counter := uint64(now / cookiePeriod)
	h := g.cookieHash(local, remote, clientISN, counter)
	return Seq(h&^0xff | uint32(counter&63)<<2 | uint32(class))
}

// CheckCookie checks ack (the client's SEG.ACK, our ISN + 1) against the
// cookie for the tuple and clientISN (its SEG.SEQ - 1). A cookie is good
// for two periods (64 to 128 s). It returns the MSS the cookie carries.
func (g *ISNGenerator) CheckCookie(local, remote netip.AddrPort, clientISN Seq, ack Seq, now int64) (uint16, bool) {
	cookie := uint32(ack - 1)
	now64 := uint64(now / cookiePeriod)
	for age := uint64(0); age < 2; age++ {
		counter := now64 - age
		if uint32(counter&63) != cookie>>2&63 {
			continue
		}
		if g.cookieHash(local, remote, clientISN, counter)&^0xff == cookie&^0xff {
			return cookieMSS[cookie&3], true
		}
	}
	return 0, false
}
