// Package tcpapp holds TCP applications that run on the engine's
// goroutine through the callback API (tcp.Handler): Echo (RFC 862),
// Discard (RFC 863), HTTP (a small keep-alive responder, a load-test
// target), RR (a request/response server with fixed sizes, as netperf's
// TCP_RR and TCP_CRR) and Sender (a bulk sender that counts what the peer
// acknowledged). They read the receive buffer in place and write straight
// into the send buffer, so a request costs no copy across goroutines. RR
// keeps a small state per connection, in handlers it takes from a free
// list per engine and puts back when the connection is Closed: connection
// churn allocates nothing once warm.
//
// A server is one call before Start:
//
//	st.EnableTCP(tcp.DefaultConfig())
//	tcpapp.ListenEcho(st, 7)
//	tcpapp.ListenHTTP(st, 80, "hello\n")
//	st.Start()
//
// The handlers are for one engine each (they take it to read its clock)
// and must be used on its goroutine only, as every tcp.Handler is.
// fastpath serve --tcp-echo, --tcp-discard and --http, and fastpath tcp,
// are these applications behind flags.
package tcpapp
