package load

// Counter names one of a Client's counts.
type Counter int

const (
	// Dialed: connections opened (SYN sent).
	Dialed Counter = iota
	// Established: handshakes completed.
	Established
	// Completed: connections that carried every request, each answered
	// correctly, and closed.
	Completed
	// Failed: connections that ended any other way (the errors below say
	// why), aborted at the end of the run excluded.
	Failed
	// Requests: requests written in full.
	Requests
	// Responses: responses received in full and correct.
	Responses
	// RequestBytes, ResponseBytes: the bytes of the requests written and
	// of the responses received (an HTTP response's head included).
	RequestBytes
	ResponseBytes
	// The errors, one per failed connection (or refused dial), by kind.
	// ErrRefused: the server answered the SYN with a RST.
	ErrRefused
	// ErrReset: the server reset an established connection.
	ErrReset
	// ErrTimeout: no handshake, or no complete response, within the
	// timeout; or TCP gave up retransmitting.
	ErrTimeout
	// ErrBadResponse: a response with the wrong status, length or
	// content, or one that cannot be parsed; or bytes nobody asked for.
	ErrBadResponse
	// ErrClosed: the server closed the connection before answering every
	// request.
	ErrClosed
	// ErrLocal: the engine could not open a connection: no free port
	// towards the server, or its connection table full.
	ErrLocal
	// Aborted: connections still open when the run ended, reset then
	// (not failures).
	Aborted
	numCounters
)

// NumCounters is the number of counters.
const NumCounters = int(numCounters)

var counterNames = [...]string{
	Dialed: "connections_dialed", Established: "connections_opened", Completed: "connections_completed",
	Failed: "connections_failed", Requests: "requests", Responses: "responses_ok",
	RequestBytes: "request_bytes", ResponseBytes: "response_bytes",
	ErrRefused: "refused", ErrReset: "reset", ErrTimeout: "timeout", ErrBadResponse: "bad_response",
	ErrClosed: "closed_early", ErrLocal: "local", Aborted: "aborted_at_end",
}

func (c Counter) String() string { return counterNames[c] }

// IsError reports whether c counts an error kind.
func (c Counter) IsError() bool { return c >= ErrRefused && c <= ErrLocal }

// Counters are a Client's counts, indexed by Counter.
type Counters [numCounters]uint64

// Open is the number of connections open (dialed, not yet ended).
func (c *Counters) Open() uint64 {
	return c[Dialed] - c[Completed] - c[Failed] - c[Aborted]
}

// Errors sums the error kinds.
func (c *Counters) Errors() uint64 {
	var n uint64
	for k := ErrRefused; k <= ErrLocal; k++ {
		n += c[k]
	}
	return n
}

// Add adds o to c.
func (c *Counters) Add(o *Counters) {
	for i := range c {
		c[i] += o[i]
	}
}
