package load

// The client side of HTTP/1.1 on the wire: the request the load generator
// sends is in request.go; this file parses the response. Pure protocol
// code: no I/O, no clock. RFC numbers below: RFC 9110 (semantics) and RFC
// 9112 (HTTP/1.1 message syntax).

import (
	"bytes"
	"errors"
)

// Limits of Response.
const (
	// MaxHeadLen bounds a response head: its status line, its field lines
	// and the blank line that ends them (an interim 1xx head counts on its
	// own). It bounds a chunked body's trailer section likewise. Beyond it
	// Feed returns ErrHeaderTooLarge.
	MaxHeadLen = 16 << 10

	// MaxFieldLen bounds the field lines Response interprets rather than
	// skips (Content-Length, Transfer-Encoding, Connection), without their
	// line end: a longer one is ErrHeaderTooLarge. Other field lines, and
	// the reason phrase of a status line, may be longer: they are skipped
	// without being stored.
	MaxFieldLen = 256

	// maxChunkLine bounds a chunk-size line with its extensions, as in
	// net/http.
	maxChunkLine = 4096

	// maxChunkSize bounds one chunk so the decoded length cannot overflow.
	maxChunkSize = 1 << 56
)

// Errors of Response.Feed. After one, Feed reads no further: the rest of
// the response is still on the connection, so close it.
var (
	// ErrBadStatusLine: the status line is not "HTTP/1.x NNN reason" with
	// a status code from 100 to 599 (RFC 9112 4, RFC 9110 15).
	ErrBadStatusLine = errors.New(`load: malformed HTTP status line (want "HTTP/1.x NNN reason"): is the target an HTTP/1.1 server?`)
	// ErrBadHeader: a field line is malformed (no colon, a bad field name,
	// a line folded onto a framing field), or the framing fields cannot be
	// trusted: an invalid Content-Length, two that differ, a transfer
	// coding other than chunked, Transfer-Encoding in an HTTP/1.0
	// response, or both Transfer-Encoding and Content-Length (RFC 9112 6).
	ErrBadHeader = errors.New("load: malformed HTTP response header, or framing fields that disagree: check the server's response headers")
	// ErrHeaderTooLarge: the head or the trailer section is over
	// MaxHeadLen, or a framing field line over MaxFieldLen.
	ErrHeaderTooLarge = errors.New("load: HTTP response header too large (head over 16 KiB, or a Content-Length, Transfer-Encoding or Connection line over 256 bytes)")
	// ErrBadChunk: the chunked body is malformed: a chunk-size line that is
	// not hexadecimal (with optional extensions) ending in CR LF, a chunk
	// not followed by CR LF, or a chunk-size line over 4 KiB.
	ErrBadChunk = errors.New("load: malformed chunked encoding in HTTP response: check the server or the proxy in front of it")
	// ErrNoLength: the response may have a body but has neither
	// Content-Length nor chunked Transfer-Encoding, so its body runs until
	// the server closes the connection (RFC 9112 6.3 item 8). A load test
	// that keeps connections alive cannot frame that: configure the
	// server to send Content-Length or chunked responses.
	ErrNoLength = errors.New("load: HTTP response has neither Content-Length nor chunked encoding (body until close): configure the server to send Content-Length")
	// ErrBadLength: the body's length is not the one Reset was given.
	ErrBadLength = errors.New("load: HTTP response body length differs from the expected length: check the request path and the expected size")
	// ErrBadBody: with the pattern check on, a body byte i is not
	// byte(i % 251); BodyLen says which.
	ErrBadBody = errors.New("load: HTTP response body differs from the expected pattern (byte i is i mod 251): check that the server serves the pattern file")
)

// Response parses one HTTP/1.1 response as its bytes arrive, in any
// split: Feed it what the connection received, it says how much it took
// and whether the response is complete.
//
// It frames the body by Content-Length or chunked Transfer-Encoding (RFC
// 9112 6.3); a response with neither, whose body would run until the
// server closes, is ErrNoLength. Interim 1xx responses (100 Continue, 103
// Early Hints) are skipped; 101 Switching Protocols, 204 and 304 end with
// no body. It expects responses to GET (never to HEAD).
//
// It is stricter than net/http where RFC 9112 allows or asks a recipient
// to be: exactly one space after the version, status codes 100 to 599,
// no space inside a field name, no line folded onto a framing field, an
// error for Transfer-Encoding in an HTTP/1.0 response (RFC 9112 6.1) and
// for Transfer-Encoding with Content-Length (RFC 9112 6.3 item 3). It
// accepts a lone LF as the end of a status or field line (RFC 9112 2.2)
// but not of a chunk line, and treats a CR before a framing field's line
// end as white space. It does not check the values of fields it does not
// interpret; trailer fields are checked as field lines (a token, then a
// colon) and skipped.
//
// The zero Response is ready to parse a response of any length without
// the pattern check. Feed allocates nothing; all accessors are safe to
// call at any time.
type Response struct {
	s   parseState
	buf [MaxFieldLen]byte // the start of a line split across Feed calls
}

type parseState struct {
	err     error
	bodyLen int64 // decoded body bytes so far
	remain  int64 // body (Content-Length) or chunk bytes still to come
	wantLen int64 // with checkLen: the body length to expect

	// The current head's framing fields.
	contentLen int64 // -1: none

	headLen int // bytes of the current head, trailer section or chunk-size line so far
	lineLen int // bytes of the current line so far (buf holds the first ones)
	status  int

	state        uint8
	minor        uint8 // HTTP/1.minor
	prevField    uint8 // the previous field line: fieldNone, fieldSkipped, fieldFraming
	checkLen     bool
	checkPattern bool
	lineCR       bool // the last byte of the current line so far is a CR
	endCR        bool // the line readLine last completed ended in CR LF
	chunked      bool
	teSeen       bool
	connClose    bool
	keepAlive    bool
	close        bool
}

// Parser states.
const (
	stStatus    = iota // the status line
	stFields           // the field lines of a head
	stBody             // a Content-Length body: remain bytes to come
	stChunkSize        // a chunk-size line
	stChunkData        // chunk data: remain bytes to come
	stChunkCR          // the CR after chunk data
	stChunkLF          // the LF after chunk data
	stTrailer          // the trailer section
	stDone
	stError
)

// prevField values.
const (
	fieldNone = iota
	fieldSkipped
	fieldFraming
)

// Reset readies r for the next response. With checkPattern set, body byte
// i must be byte(i % 251) (ErrBadBody); with wantLen >= 0 the body must be
// wantLen bytes long (ErrBadLength, found as soon as a Content-Length or
// an overlong chunk says so). wantLen < 0 accepts any length.
func (r *Response) Reset(checkPattern bool, wantLen int64) {
	r.s = parseState{checkPattern: checkPattern, wantLen: wantLen, checkLen: wantLen >= 0}
}

// Status is the final response's status code, 0 until its status line
// has been read (an interim 1xx does not count).
func (r *Response) Status() int {
	if interim(r.s.status) {
		return 0
	}
	return r.s.status
}

// BodyLen is the number of body bytes seen so far (decoded, for a chunked
// body).
func (r *Response) BodyLen() int64 { return r.s.bodyLen }

// Close reports whether the connection ends with this response: the
// server sent Connection: close, or answered HTTP/1.0 without
// Connection: keep-alive (RFC 9112 9.3), or switched protocols (101). It
// is known once the final response's head has been read.
func (r *Response) Close() bool { return r.s.close }

// Feed parses the next bytes of the response. It returns how many of p it
// took and whether the response is now complete. It takes all of p unless
// the response completes or fails inside it: bytes after the end of the
// response (the next pipelined response) are left in p[n:]. Once done,
// Feed takes nothing and returns done until Reset.
//
// On an error, n counts the bytes up to where the error was found, and
// Feed returns the same error, taking nothing, until Reset.
func (r *Response) Feed(p []byte) (n int, done bool, err error) {
	s := &r.s
	for n < len(p) {
		switch s.state {
		case stStatus, stFields, stTrailer, stChunkSize:
			line, long, used, ok := r.readLine(p[n:])
			n += used
			s.headLen += used
			if s.state == stChunkSize {
				// headLen counts this line only (with its LF).
				if s.headLen > maxChunkLine+1 {
					return n, false, r.fail(ErrBadChunk)
				}
			} else if s.headLen > MaxHeadLen {
				return n, false, r.fail(ErrHeaderTooLarge)
			}
			if !ok {
				return n, false, nil
			}
			var err error
			switch s.state {
			case stStatus:
				err = r.statusLine(line)
			case stFields:
				err = r.fieldLine(line, long)
			case stChunkSize:
				err = r.chunkLine(line, long)
			default:
				err = r.trailerLine(line, long)
			}
			if err != nil {
				return n, false, r.fail(err)
			}
		case stBody, stChunkData:
			k := len(p) - n
			if int64(k) > s.remain {
				k = int(s.remain)
			}
			if s.checkPattern {
				if good := matchPattern(p[n:n+k], s.bodyLen); good < k {
					// BodyLen says where the body differs.
					n += good
					s.bodyLen += int64(good)
					return n, false, r.fail(ErrBadBody)
				}
			}
			n += k
			s.bodyLen += int64(k)
			s.remain -= int64(k)
			if s.remain == 0 {
				if s.state == stBody {
					s.state = stDone
				} else {
					s.state = stChunkCR
				}
			}
		case stChunkCR:
			if p[n] != '\r' {
				return n, false, r.fail(ErrBadChunk)
			}
			n++
			s.state = stChunkLF
		case stChunkLF:
			if p[n] != '\n' {
				return n, false, r.fail(ErrBadChunk)
			}
			n++
			s.state, s.headLen = stChunkSize, 0
		case stDone:
			return n, true, nil
		default: // stError
			return n, false, s.err
		}
	}
	switch s.state {
	case stDone:
		return n, true, nil
	case stError:
		return n, false, s.err
	}
	return n, false, nil
}

func (r *Response) fail(err error) error {
	r.s.state, r.s.err = stError, err
	return err
}

// readLine takes the bytes of the current line from p. Once the line is
// complete (ok) it returns it without its LF or CR LF, cut to MaxFieldLen
// bytes (long: it was longer); used counts the bytes of p it took. A line
// split across calls is gathered in r.buf, of which only the first
// MaxFieldLen bytes are kept; a line whole in p is not copied. Either way
// the result is the same.
func (r *Response) readLine(p []byte) (line []byte, long bool, used int, ok bool) {
	s := &r.s
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		r.stash(p)
		return nil, false, len(p), false
	}
	line = p[:i]
	total, cr := i, i > 0 && p[i-1] == '\r'
	if s.lineLen > 0 {
		r.stash(line)
		total, cr = s.lineLen, s.lineCR
		line = r.buf[:min(total, len(r.buf))]
	}
	s.lineLen, s.lineCR, s.endCR = 0, false, cr
	if cr {
		total--
	}
	if total > MaxFieldLen {
		return line[:MaxFieldLen], true, i + 1, true
	}
	return line[:total], false, i + 1, true
}

// stash adds b to the current line.
func (r *Response) stash(b []byte) {
	s := &r.s
	if len(b) == 0 {
		return
	}
	if s.lineLen < len(r.buf) {
		copy(r.buf[s.lineLen:], b)
	}
	s.lineLen += len(b)
	s.lineCR = b[len(b)-1] == '\r'
}

// statusLine parses "HTTP/1.x NNN reason" (RFC 9112 4) and starts a head.
// The reason phrase is ignored (so a long one does no harm).
func (r *Response) statusLine(line []byte) error {
	s := &r.s
	if len(line) < len("HTTP/1.x NNN") || string(line[:len("HTTP/1.")]) != "HTTP/1." ||
		!digit(line[7]) || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return ErrBadStatusLine
	}
	code := 0
	for _, c := range line[9:12] {
		if !digit(c) {
			return ErrBadStatusLine
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return ErrBadStatusLine
	}
	s.status, s.minor = code, line[7]-'0'
	s.contentLen, s.chunked, s.teSeen, s.connClose, s.keepAlive = -1, false, false, false, false
	s.prevField = fieldNone
	s.state = stFields
	return nil
}

// fieldLine handles one line of a head: a field, or the blank line that
// ends the head.
func (r *Response) fieldLine(line []byte, long bool) error {
	s := &r.s
	if len(line) == 0 {
		return r.endHead()
	}
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (RFC 9112 5.2): a continuation of the previous field.
		// Skipped after a field we skip; before any field (RFC 9112 2.2
		// allows rejecting) or after a framing field, an error.
		if s.prevField != fieldSkipped {
			return ErrBadHeader
		}
		return nil
	}
	name, value, err := splitField(line, long)
	if err != nil {
		return err
	}
	kind := framingField(name)
	if kind == fieldOther {
		s.prevField = fieldSkipped
		return nil
	}
	s.prevField = fieldFraming
	if long {
		return ErrHeaderTooLarge
	}
	value = trimOWS(value)
	switch kind {
	case fieldContentLength:
		// RFC 9110 8.6: 1*DIGIT; several equal ones count as one.
		v, ok := parseDecimal(value)
		if !ok || s.contentLen >= 0 && v != s.contentLen {
			return ErrBadHeader
		}
		s.contentLen = v
	case fieldTransferEncoding:
		// Like net/http and nginx: one field, and only "chunked".
		if s.teSeen || !equalFold(value, "chunked") {
			return ErrBadHeader
		}
		s.teSeen, s.chunked = true, true
	case fieldConnection:
		// A comma-separated list of options (RFC 9110 7.6.1).
		for len(value) > 0 {
			opt := value
			if i := bytes.IndexByte(value, ','); i >= 0 {
				opt, value = value[:i], value[i+1:]
			} else {
				value = nil
			}
			opt = trimOWS(opt)
			if equalFold(opt, "close") {
				s.connClose = true
			} else if equalFold(opt, "keep-alive") {
				s.keepAlive = true
			}
		}
	}
	return nil
}

// endHead decides how the body is framed, once the head is read (RFC 9112
// 6.3).
func (r *Response) endHead() error {
	s := &r.s
	if s.teSeen && s.minor == 0 {
		return ErrBadHeader // RFC 9112 6.1: faulty framing
	}
	if s.teSeen && s.contentLen >= 0 {
		return ErrBadHeader // RFC 9112 6.3 item 3: ought to be an error
	}
	if interim(s.status) {
		// RFC 9110 15.2: a final response follows.
		s.state, s.headLen = stStatus, 0
		return nil
	}
	s.close = s.connClose || s.minor == 0 && !s.keepAlive || s.status == 101
	switch {
	case s.status == 101 || s.status == 204 || s.status == 304:
		// No body, whatever the framing fields say (RFC 9112 6.3 item 1).
		return r.finish()
	case s.chunked:
		s.state, s.headLen = stChunkSize, 0
		return nil
	case s.contentLen >= 0:
		if s.checkLen && s.contentLen != s.wantLen {
			return ErrBadLength
		}
		if s.contentLen == 0 {
			s.state = stDone
			return nil
		}
		s.state, s.remain = stBody, s.contentLen
		return nil
	}
	return ErrNoLength
}

// finish ends a response whose body is complete.
func (r *Response) finish() error {
	s := &r.s
	if s.checkLen && s.bodyLen != s.wantLen {
		return ErrBadLength
	}
	s.state = stDone
	return nil
}

// chunkLine parses chunk-size [ BWS ";" chunk-ext ] (RFC 9112 7.1); the
// extensions are ignored. The line must end in CR LF.
func (r *Response) chunkLine(line []byte, long bool) error {
	s := &r.s
	if !s.endCR {
		return ErrBadChunk
	}
	var size int64
	i := 0
	for ; i < len(line); i++ {
		v, ok := hexValue(line[i])
		if !ok {
			break
		}
		if size >= maxChunkSize>>4 {
			return ErrBadChunk
		}
		size = size<<4 | int64(v)
	}
	if i == 0 {
		return ErrBadChunk
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i < len(line) && line[i] != ';' || i == len(line) && long {
		// Not an extension, or an extension that does not start within
		// the MaxFieldLen bytes kept.
		return ErrBadChunk
	}
	if size == 0 {
		// last-chunk: the trailer section follows (RFC 9112 7.1.2).
		s.state, s.headLen = stTrailer, 0
		if s.checkLen && s.bodyLen != s.wantLen {
			return ErrBadLength
		}
		return nil
	}
	if s.checkLen && s.bodyLen+size > s.wantLen {
		return ErrBadLength
	}
	s.state, s.remain = stChunkData, size
	return nil
}

// trailerLine handles one line of the trailer section: a field, skipped,
// or the blank line that ends the response.
func (r *Response) trailerLine(line []byte, long bool) error {
	if len(line) == 0 {
		r.s.state = stDone
		return nil
	}
	if line[0] == ' ' || line[0] == '\t' {
		return nil // obs-fold of a trailer field: skipped with it
	}
	_, _, err := splitField(line, long)
	return err
}

// Field names Response interprets.
const (
	fieldOther = iota
	fieldContentLength
	fieldTransferEncoding
	fieldConnection
)

// splitField splits a field line at its colon (RFC 9112 5.1): the name a
// token with nothing between it and the colon, the value what follows
// (untrimmed). A line cut to MaxFieldLen (long) whose colon is past the
// cut has a name too long to be one Response interprets: it is returned
// with a nil name after checking the bytes kept.
func splitField(line []byte, long bool) (name, value []byte, err error) {
	i := 0
	for i < len(line) && tchar[line[i]] {
		i++
	}
	switch {
	case i < len(line) && line[i] == ':' && i > 0:
		return line[:i], line[i+1:], nil
	case i == len(line) && long:
		return nil, nil, nil
	}
	return nil, nil, ErrBadHeader
}

// framingField says which field the name (a token) is, case-insensitively.
func framingField(name []byte) int {
	switch len(name) {
	case len("content-length"):
		if tokenEqualFold(name, "content-length") {
			return fieldContentLength
		}
	case len("transfer-encoding"):
		if tokenEqualFold(name, "transfer-encoding") {
			return fieldTransferEncoding
		}
	case len("connection"):
		if tokenEqualFold(name, "connection") {
			return fieldConnection
		}
	}
	return fieldOther
}

// tokenEqualFold is equalFold for a token of len(lower) bytes and a lower
// made of letters and '-': setting bit 0x20 lower-cases a token's letters,
// keeps '-', and makes no other token byte a letter or '-'.
func tokenEqualFold(token []byte, lower string) bool {
	token = token[:len(lower)]
	for i := range len(lower) {
		if token[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// equalFold reports whether b is lower, ignoring ASCII case; lower is in
// lower case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// trimOWS trims white space (RFC 9110 5.6.3) from both ends of a field
// value, and CRs with it: RFC 9112 2.2 lets a recipient read a bare CR as
// a space.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && owsByte(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && owsByte(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func owsByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// parseDecimal parses 1*DIGIT into a non-negative int64.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if !digit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if v > (1<<63-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func digit(c byte) bool { return '0' <= c && c <= '9' }

func hexValue(c byte) (byte, bool) {
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

// interim reports whether status is an interim response, which a final
// one follows: 1xx but 101 (RFC 9110 15.2).
func interim(status int) bool { return status >= 100 && status < 200 && status != 101 }

// tchar marks the bytes of a token (RFC 9110 5.6.2), the field names.
var tchar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = unreservedByte(byte(c)) || bytes.IndexByte([]byte("!#$%&'*+^`|"), byte(c)) >= 0
	}
	return t
}()

// The body pattern: byte i of a body is byte(i % 251). pattern holds it
// from offset 0 for several periods, so any body run compares against
// pattern[i%251:] in a few long bytes.Equal calls.
const patternPeriod = 251

var pattern = func() (p [patternPeriod * 16]byte) {
	for i := range p {
		p[i] = byte(i % patternPeriod)
	}
	return p
}()

// matchPattern returns how many bytes at the start of b are the
// pattern's bytes from offset off on: len(b) if all are.
func matchPattern(b []byte, off int64) int {
	o := int(off % patternPeriod)
	done := 0
	for done < len(b) {
		k := min(len(b)-done, len(pattern)-o)
		if run := b[done : done+k]; !bytes.Equal(run, pattern[o:o+k]) {
			for i := range run {
				if run[i] != pattern[o+i] {
					return done + i
				}
			}
		}
		done += k
		o = (o + k) % patternPeriod
	}
	return done
}
