package load

import (
	"errors"
	"fmt"
)

// AppendRequest appends an HTTP/1.1 GET of path on host to dst: a request
// line, Host, User-Agent: fastpath-load, and Connection: close when close
// is set (otherwise none: HTTP/1.1 connections persist by default, RFC
// 9112 9.3). It is built once per kind of connection and sent as is.
//
// host and path are written as given: check them first with CheckRequest.
func AppendRequest(dst []byte, host, path string, close bool) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUser-Agent: fastpath-load\r\n"...)
	if close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// CheckRequest reports whether host and path make a valid request for
// AppendRequest: host a host name or address with an optional port (RFC
// 9110 7.2; an IPv6 address in brackets), path an absolute path with an
// optional query (RFC 9112 3.2.1), both of printable ASCII with no space.
func CheckRequest(host, path string) error {
	if host == "" {
		return errors.New("load: empty HTTP host: give the server's name or address (host or host:port)")
	}
	for i := 0; i < len(host); i++ {
		if !hostByte(host[i]) {
			return fmt.Errorf("load: HTTP host %q: byte %q is not allowed in a host (use a name, an IPv4 address or a bracketed IPv6 address, with an optional :port)", host, host[i])
		}
	}
	if path == "" || path[0] != '/' {
		return fmt.Errorf("load: HTTP path %q: must start with / (for example /index.html)", path)
	}
	for i := 0; i < len(path); i++ {
		if !pathByte(path[i]) {
			return fmt.Errorf("load: HTTP path %q: byte %q is not allowed in a request target (percent-encode it)", path, path[i])
		}
	}
	return nil
}

// hostByte: unreserved, sub-delims, ':' (port, IPv6), '[' ']' (IPv6) and
// '%' (pct-encoded, zone IDs).
func hostByte(c byte) bool {
	return unreservedByte(c) || subDelimByte(c) || c == ':' || c == '[' || c == ']' || c == '%'
}

// pathByte: pchar, '/' and '?' (RFC 3986 3.3, 3.4).
func pathByte(c byte) bool {
	return unreservedByte(c) || subDelimByte(c) || c == ':' || c == '@' || c == '%' || c == '/' || c == '?'
}

func unreservedByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func subDelimByte(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}
