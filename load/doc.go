// Package load is fastpath's stateful load generator: on each engine of a
// stack, a Client opens TCP connections at a paced rate (or keeps a number
// open), sends requests on them (HTTP/1.1 GETs, or fixed-size raw
// requests), checks every response (status, length, body) and records the
// latency of the connect, the first byte and the whole response. Each
// engine owns its connections: no locks, no allocation at steady state.
package load
