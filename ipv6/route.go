package ipv6

import (
	"errors"
	"net/netip"
	"slices"
)

// Route is one entry of a Table.
type Route struct {
	// Prefix is the destinations the route covers; the table stores it
	// masked.
	Prefix netip.Prefix
	// Gateway is the next hop (often a router's link-local address); the
	// zero Addr means on-link.
	Gateway netip.Addr
	// Metric orders routes of equal prefix: the lowest wins.
	Metric int
	// Src is the preferred source address; may be the zero Addr.
	Src netip.Addr
}

// ErrTableFull: the table holds its capacity of routes.
var ErrTableFull = errors.New("ipv6: route table full")

// Table is a longest-prefix-match IPv6 route table of fixed capacity,
// kept sorted longest prefix first (then by metric), so that Lookup
// returns the first route that contains the destination. It is a linear
// scan, built for the few routes an engine of its own addresses holds:
// its prefixes, the link-local prefix, a default route. Nothing
// allocates after NewTable. A Table is not safe for concurrent use: one
// engine owns it.
type Table struct {
	routes []Route // len: routes in use; cap: capacity
}

// NewTable returns an empty table for capacity routes.
func NewTable(capacity int) *Table {
	return &Table{routes: make([]Route, 0, max(capacity, 1))}
}

// Len returns the number of routes.
func (t *Table) Len() int { return len(t.routes) }

// Add adds r, or replaces the route with the same prefix and metric. The
// prefix is stored masked. Errors: ErrNotIPv6 (a prefix that is not IPv6,
// a gateway or source neither IPv6 nor zero), ErrTableFull.
func (t *Table) Add(r Route) error {
	if !r.Prefix.IsValid() || !r.Prefix.Addr().Is6() || r.Prefix.Addr().Is4In6() ||
		r.Gateway.IsValid() && (!r.Gateway.Is6() || r.Gateway.Is4In6()) || r.Src.IsValid() && (!r.Src.Is6() || r.Src.Is4In6()) {
		return ErrNotIPv6
	}
	r.Prefix = r.Prefix.Masked()
	r.Gateway, r.Src = r.Gateway.WithZone(""), r.Src.WithZone("")
	i := 0
	for ; i < len(t.routes); i++ {
		o := t.routes[i]
		if o.Prefix == r.Prefix && o.Metric == r.Metric {
			t.routes[i] = r
			return nil
		}
		if o.Prefix.Bits() < r.Prefix.Bits() || o.Prefix.Bits() == r.Prefix.Bits() && o.Metric > r.Metric {
			break
		}
	}
	if len(t.routes) == cap(t.routes) {
		return ErrTableFull
	}
	t.routes = slices.Insert(t.routes, i, r)
	return nil
}

// Remove removes the routes for p (any metric) and reports whether there
// were any.
func (t *Table) Remove(p netip.Prefix) bool {
	p = p.Masked()
	n := len(t.routes)
	t.routes = slices.DeleteFunc(t.routes, func(r Route) bool { return r.Prefix == p })
	return len(t.routes) < n
}

// RemoveRoute removes the route of r's prefix and metric and reports
// whether there was one.
func (t *Table) RemoveRoute(r Route) bool {
	p := r.Prefix.Masked()
	n := len(t.routes)
	t.routes = slices.DeleteFunc(t.routes, func(o Route) bool { return o.Prefix == p && o.Metric == r.Metric })
	return len(t.routes) < n
}

// Reset empties the table.
func (t *Table) Reset() { t.routes = t.routes[:0] }

// Lookup returns the route for dst: the longest prefix containing it, of
// the lowest metric.
func (t *Table) Lookup(dst netip.Addr) (Route, bool) {
	dst = dst.WithZone("")
	for i := range t.routes {
		if t.routes[i].Prefix.Contains(dst) {
			return t.routes[i], true
		}
	}
	return Route{}, false
}

// NextHop returns where to send a packet for dst: the route's gateway, or
// dst itself when the route is on-link, and the route.
func (t *Table) NextHop(dst netip.Addr) (hop netip.Addr, r Route, ok bool) {
	r, ok = t.Lookup(dst)
	if !ok {
		return netip.Addr{}, Route{}, false
	}
	if r.Gateway.IsValid() {
		return r.Gateway, r, true
	}
	return dst.WithZone(""), r, true
}

// Routes returns a copy of the routes, longest prefix first. It
// allocates; it is for display.
func (t *Table) Routes() []Route { return slices.Clone(t.routes) }
