package ipv6

import (
	"encoding/binary"
	"net/netip"

	"github.com/fastpathnet/fastpath/ipv4"
)

// UDP over IPv6 is ipv4.UDP's header and length rules with two changes
// (RFC 8200 8.1): the checksum covers IPv6's pseudo-header, and it is
// mandatory — a zero checksum field is invalid.

// UDPChecksumValid reports whether the UDP datagram u (an ipv4.UDP that
// passed Check) from src to dst carries a valid checksum; a zero field
// never is.
func UDPChecksumValid(u []byte, src, dst netip.Addr) bool {
	d := ipv4.UDP(u)
	if d.Checksum() == 0 {
		return false
	}
	n := d.Length()
	return ipv4.Fold(ipv4.Sum(u[:n], PseudoSum(src, dst, ProtoUDP, n))) == 0xffff
}

// SetUDPChecksum computes the checksum of the UDP datagram u (its length
// field set, within u) from src to dst and stores it; a computed 0 is
// sent as 0xffff.
func SetUDPChecksum(u []byte, src, dst netip.Addr) {
	n := ipv4.UDP(u).Length()
	if n < ipv4.UDPHeaderLen || n > len(u) {
		n = len(u)
	}
	binary.BigEndian.PutUint16(u[6:8], 0)
	c := ipv4.Checksum(u[:n], PseudoSum(src, dst, ProtoUDP, n))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:8], c)
}
