// Package tcpapp holds TCP applications that run on the engine's
// goroutine through the callback API (tcp.Handler): Echo (RFC 862),
// Discard (RFC 863), HTTP (a small keep-alive responder, a load-test
// target), HTTPPattern (the same with bodies of a given size, up to
// 1 MiB, streamed), RR (a request/response server with fixed sizes, as
// netperf's TCP_RR and TCP_CRR) and Sender (a bulk sender that counts
// what the peer acknowledged). They read the receive buffer in place and
// write straight into the send buffer, so a request costs no copy across
// goroutines. RR and HTTPPattern keep a small state per connection, in
// handlers they take from a free list per engine and put back when the
// connection is Closed: connection churn allocates nothing once warm.
//
// A server is one call before Start:
//
//	st.EnableTCP(tcp.DefaultConfig())
//	tcpapp.ListenEcho(st, 7)
//	tcpapp.ListenHTTP(st, 80, "hello\n")
//	tcpapp.ListenRR(st, 9000, tcpapp.RRConfig{RequestSize: 100, ResponseSize: 1000})
//	st.Start()
//
// The handlers are for one engine each (they take it to read its clock)
// and must be used on its goroutine only, as every tcp.Handler is.
// fastpath serve --tcp-echo, --tcp-discard, --http (with --http-body or
// --response-size) and --rr, and fastpath tcp, are these applications
// behind flags.
package tcpapp
