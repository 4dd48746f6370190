package ether

import (
	"errors"
	"fmt"
)

// Addr is an Ethernet (IEEE 802 MAC-48) address. It is a comparable value:
// use it as a map key or compare it with ==.
type Addr [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = Addr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ErrInvalidAddr reports text that ParseAddr cannot read as a MAC address.
var ErrInvalidAddr = errors.New("invalid MAC address")

// IsBroadcast reports whether a is ff:ff:ff:ff:ff:ff.
func (a Addr) IsBroadcast() bool { return a == Broadcast }

// IsMulticast reports whether a is a group address: the I/G bit, the least
// significant bit of the first octet, is set. Broadcast is multicast too.
func (a Addr) IsMulticast() bool { return a[0]&1 != 0 }

// IsZero reports whether a is 00:00:00:00:00:00.
func (a Addr) IsZero() bool { return a == Addr{} }

const hexDigits = "0123456789abcdef"

// String returns a in the canonical form: six lower-case hex pairs
// separated by colons, "02:00:5e:10:00:01".
func (a Addr) String() string {
	var buf [17]byte
	return string(a.appendTo(buf[:0]))
}

func (a Addr) appendTo(b []byte) []byte {
	for i, x := range a {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}

// AppendText implements encoding.TextAppender.
func (a Addr) AppendText(b []byte) ([]byte, error) { return a.appendTo(b), nil }

// MarshalText implements encoding.TextMarshaler: the String form, so that
// addresses read well in JSON.
func (a Addr) MarshalText() ([]byte, error) { return a.appendTo(make([]byte, 0, 17)), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseAddr.
func (a *Addr) UnmarshalText(text []byte) error {
	p, err := ParseAddr(string(text))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// ParseAddr parses a MAC address written as six hex pairs separated by
// colons ("02:00:5e:10:00:01") or hyphens ("02-00-5E-10-00-01"), or as
// three groups of four hex digits separated by dots ("0200.5e10.0001").
// Hex digits may be either case. Errors wrap ErrInvalidAddr.
func ParseAddr(s string) (Addr, error) {
	var a Addr
	bad := func() (Addr, error) {
		return Addr{}, fmt.Errorf("ether: %w %q: write six hex pairs such as 02:00:5e:10:00:01", ErrInvalidAddr, s)
	}
	switch {
	case len(s) == 17 && (s[2] == ':' || s[2] == '-'):
		sep := s[2]
		for i := range a {
			if i > 0 && s[3*i-1] != sep {
				return bad()
			}
			x, ok := hexByte(s[3*i], s[3*i+1])
			if !ok {
				return bad()
			}
			a[i] = x
		}
	case len(s) == 14 && s[4] == '.' && s[9] == '.':
		for i := range 3 {
			g := s[5*i : 5*i+4]
			hi, ok1 := hexByte(g[0], g[1])
			lo, ok2 := hexByte(g[2], g[3])
			if !ok1 || !ok2 {
				return bad()
			}
			a[2*i], a[2*i+1] = hi, lo
		}
	default:
		return bad()
	}
	return a, nil
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
