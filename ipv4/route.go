package ipv4

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Route is one entry of a Table.
type Route struct {
	// Prefix is the destinations the route covers; the table stores it
	// masked (netip.Prefix.Masked).
	Prefix netip.Prefix
	// Gateway is the next hop; the zero Addr means on-link (the
	// destination itself is the next hop).
	Gateway netip.Addr
	// Metric orders routes of equal prefix: the lowest wins.
	Metric int
	// Src is the preferred source address; may be the zero Addr.
	Src netip.Addr
}

// Table is a longest-prefix-match IPv4 route table of fixed capacity: a
// path-compressed binary trie (a PATRICIA trie) over a node pool allocated
// by NewTable. Lookup walks one root-to-leaf path, at most 33 nodes and
// usually about log2(routes) of them, without branching on whether a node
// holds a route, and never allocates; Add and Remove never allocate either.
// Nodes are 16 bytes, so a table of 1000 routes (under 2000 nodes) fits in
// a 32 KiB L1 data cache. Routes of the same prefix with different metrics
// coexist, kept in a list sorted by metric hanging off the prefix's node.
//
// A Table is not safe for concurrent use: one engine owns it.
type Table struct {
	// nodes is the pool: every prefix adds at most one prefix node and one
	// branch node, and a node without routes always has two children (Add
	// and Remove keep it so), so 2×capacity nodes always suffice.
	nodes    []node
	freeNode int32 // free nodes, linked through child[0]; -1: none
	entries  []entry
	freeEnt  int32 // free entries, linked through next; -1: none
	root     int32 // -1: empty
	n        int   // routes in the table
}

// node is a trie node: the prefix key/len, with the routes for exactly
// that prefix (none for a pure branch node), and the subtrees whose
// prefixes extend it with a 0 or a 1 at bit len.
type node struct {
	key   uint32 // the prefix's bits, masked
	child [2]int32
	// meta: bits 0-5 the prefix length; bits 8-31 the head of the route
	// list (lowest metric first) plus one, 0 for none.
	meta uint32
}

func (nd *node) len() int { return int(nd.meta & 63) }

// head returns the first entry of the node's route list, or -1.
func (nd *node) head() int32 { return int32(nd.meta>>8) - 1 }

func (nd *node) setHead(e int32) { nd.meta = nd.meta&0xff | uint32(e+1)<<8 }

// maxCapacity is the most routes a Table holds: entry indexes plus one
// fit in 24 bits of node.meta.
const maxCapacity = 1<<24 - 1

type entry struct {
	r    Route
	next int32 // next route of the same prefix (higher metric); -1: end
}

// NewTable returns an empty table that holds up to capacity routes
// (counting each metric of a prefix); a capacity below 0 counts as 0, and
// one above 16777215 as that.
func NewTable(capacity int) *Table {
	capacity = min(max(capacity, 0), maxCapacity)
	t := &Table{
		nodes:   make([]node, 2*capacity),
		entries: make([]entry, capacity),
		root:    -1,
	}
	t.freeNode = freeList(len(t.nodes), func(i, next int32) { t.nodes[i].child[0] = next })
	t.freeEnt = freeList(len(t.entries), func(i, next int32) { t.entries[i].next = next })
	return t
}

// freeList links n slots in order through link and returns the head.
func freeList(n int, link func(i, next int32)) int32 {
	for i := range n {
		next := int32(i + 1)
		if i == n-1 {
			next = -1
		}
		link(int32(i), next)
	}
	if n == 0 {
		return -1
	}
	return 0
}

// Reset removes every route, keeping the capacity. It does not allocate.
func (t *Table) Reset() {
	t.freeNode = freeList(len(t.nodes), func(i, next int32) { t.nodes[i] = node{child: [2]int32{next, -1}} })
	t.freeEnt = freeList(len(t.entries), func(i, next int32) { t.entries[i] = entry{next: next} })
	t.root, t.n = -1, 0
}

// Len returns the number of routes in the table.
func (t *Table) Len() int { return t.n }

// Cap returns the table's capacity in routes.
func (t *Table) Cap() int { return len(t.entries) }

// mask returns a netmask of l leading ones, 0 ≤ l ≤ 32 (one shift: the
// count is below 64).
func mask(l int) uint32 { return uint32(uint64(0xffffffff_00000000) >> (uint(l) & 63)) }

// bitAt returns bit i (0: the most significant) of k; i < 32.
func bitAt(k uint32, i int) int { return int(k>>(31-i)) & 1 }

// prefixKey returns p's masked bits and length, or false when p is not a
// valid IPv4 prefix.
func prefixKey(p netip.Prefix) (uint32, int, bool) {
	if !p.IsValid() || !p.Addr().Is4() {
		return 0, 0, false
	}
	l := p.Bits()
	return addrBits(p.Addr()) & mask(l), l, true
}

// Add adds r, or replaces the route with the same prefix and metric. It
// rejects (ErrNotIPv4) a prefix that is not IPv4 and a Gateway or Src that
// is neither IPv4 nor zero, and returns ErrTableFull when the table holds
// Cap routes and r replaces none. The prefix is stored masked.
func (t *Table) Add(r Route) error {
	key, l, ok := prefixKey(r.Prefix)
	if !ok || (r.Gateway.IsValid() && !r.Gateway.Is4()) || (r.Src.IsValid() && !r.Src.Is4()) {
		return ErrNotIPv4
	}
	r.Prefix = netip.PrefixFrom(bitsAddr(key), l)
	// Replace in place, if the prefix and metric are there already.
	if n := t.find(key, l); n >= 0 {
		for e := t.nodes[n].head(); e >= 0; e = t.entries[e].next {
			if t.entries[e].r.Metric == r.Metric {
				t.entries[e].r = r
				return nil
			}
		}
	}
	if t.freeEnt < 0 {
		return ErrTableFull
	}
	e := t.freeEnt
	t.freeEnt = t.entries[e].next
	t.entries[e] = entry{r: r, next: -1}
	n := t.insert(key, l)
	// Link the entry in, by metric.
	nd := &t.nodes[n]
	if h := nd.head(); h < 0 || t.entries[h].r.Metric > r.Metric {
		t.entries[e].next = h
		nd.setHead(e)
	} else {
		link := &t.entries[h].next
		for *link >= 0 && t.entries[*link].r.Metric < r.Metric {
			link = &t.entries[*link].next
		}
		t.entries[e].next = *link
		*link = e
	}
	t.n++
	return nil
}

// find returns the node of exactly key/l, or -1.
func (t *Table) find(key uint32, l int) int32 {
	n := t.root
	for n >= 0 {
		nd := &t.nodes[n]
		if nd.len() > l || key&mask(nd.len()) != nd.key {
			return -1
		}
		if nd.len() == l {
			return n
		}
		n = nd.child[bitAt(key, nd.len())]
	}
	return -1
}

// allocNode takes a node from the pool (never empty: see Table.nodes).
func (t *Table) allocNode(key uint32, l int) int32 {
	n := t.freeNode
	t.freeNode = t.nodes[n].child[0]
	t.nodes[n] = node{key: key & mask(l), child: [2]int32{-1, -1}, meta: uint32(l)}
	return n
}

func (t *Table) freeNodeAt(n int32) {
	t.nodes[n] = node{child: [2]int32{t.freeNode, -1}}
	t.freeNode = n
}

// insert returns the node of exactly key/l, adding it (and a branch node
// above it, when two subtrees part there) if needed.
func (t *Table) insert(key uint32, l int) int32 {
	link := &t.root // the slot that points at n; the pool never moves
	for {
		n := *link
		if n < 0 {
			m := t.allocNode(key, l)
			*link = m
			return m
		}
		nd := &t.nodes[n]
		// c: the length of the longest prefix common to key/l and the node.
		c := min(l, nd.len(), bits.LeadingZeros32(key^nd.key))
		switch {
		case c == nd.len() && c == l:
			return n
		case c == nd.len():
			link = &nd.child[bitAt(key, c)]
		case c == l:
			// The new prefix sits above the node.
			m := t.allocNode(key, l)
			t.nodes[m].child[bitAt(nd.key, l)] = n
			*link = m
			return m
		default:
			// They part at bit c: a branch node with both below it.
			b := t.allocNode(key, c)
			m := t.allocNode(key, l)
			t.nodes[b].child[bitAt(key, c)] = m
			t.nodes[b].child[bitAt(nd.key, c)] = n
			*link = b
			return m
		}
	}
}

// Remove removes every route (every metric) of prefix p, and reports
// whether there was one.
func (t *Table) Remove(p netip.Prefix) bool {
	return t.remove(p, false, 0)
}

// RemoveRoute removes the route with r's prefix and metric, and reports
// whether there was one; r's other fields are ignored.
func (t *Table) RemoveRoute(r Route) bool {
	return t.remove(r.Prefix, true, r.Metric)
}

func (t *Table) remove(p netip.Prefix, oneMetric bool, metric int) bool {
	key, l, ok := prefixKey(p)
	if !ok {
		return false
	}
	// Walk down, keeping the slots that point at the node and its parent.
	var parentLink *int32
	parent, link := int32(-1), &t.root
	n := t.root
	for n >= 0 {
		nd := &t.nodes[n]
		if nd.len() > l || key&mask(nd.len()) != nd.key {
			return false
		}
		if nd.len() == l {
			break
		}
		parentLink, parent, link = link, n, &nd.child[bitAt(key, nd.len())]
		n = *link
	}
	if n < 0 {
		return false
	}
	nd := &t.nodes[n]
	// Rebuild the list without the removed entries.
	removed := false
	head, tail := int32(-1), int32(-1)
	for e := nd.head(); e >= 0; {
		next := t.entries[e].next
		if oneMetric && t.entries[e].r.Metric != metric {
			if tail < 0 {
				head = e
			} else {
				t.entries[tail].next = e
			}
			tail = e
		} else {
			t.entries[e] = entry{next: t.freeEnt}
			t.freeEnt = e
			t.n--
			removed = true
		}
		e = next
	}
	if tail >= 0 {
		t.entries[tail].next = -1
	}
	nd.setHead(head)
	if head >= 0 {
		return removed
	}
	// The node has no routes left: keep it only as a branch of two.
	switch {
	case nd.child[0] >= 0 && nd.child[1] >= 0:
	case nd.child[0] >= 0 || nd.child[1] >= 0:
		*link = nd.child[0] + nd.child[1] + 1 // the one that is not -1
		t.freeNodeAt(n)
	default:
		*link = -1
		t.freeNodeAt(n)
		// A route-less parent had two children and now has one: splice
		// it out too.
		if parent >= 0 && t.nodes[parent].head() < 0 {
			pn := &t.nodes[parent]
			*parentLink = pn.child[0] + pn.child[1] + 1
			t.freeNodeAt(parent)
		}
	}
	return removed
}

// Lookup returns the route for dst: of the routes whose prefix contains
// dst, one with the longest prefix, and of those the lowest metric. It
// returns false when no route matches or dst is not IPv4. It does not
// allocate.
func (t *Table) Lookup(dst netip.Addr) (Route, bool) {
	if !dst.Is4() {
		return Route{}, false
	}
	a := dst.As4()
	e := t.lookup(binary.BigEndian.Uint32(a[:]))
	if e < 0 {
		return Route{}, false
	}
	return t.entries[e].r, true
}

// lookup returns the entry of the best route for a, or -1.
func (t *Table) lookup(a uint32) int32 {
	var best uint32 // entry + 1; 0: none
	nodes := t.nodes
	for n := t.root; n >= 0; {
		nd := &nodes[n]
		l := uint(nd.meta & 63)
		if a&uint32(uint64(0xffffffff_00000000)>>l) != nd.key {
			break
		}
		// best = r if the node holds routes, without a branch (which
		// would mispredict about as often as not): m is all ones when
		// r != 0 (r < 2^24, so r|-r has its sign bit set), else zero.
		r := nd.meta >> 8
		m := uint32(int32(r|-r) >> 31)
		best = best&^m | r&m
		// The bit after the prefix picks the child. A /32 has no
		// children, so whichever bit this reads, the walk ends.
		n = nd.child[(a<<(l&31))>>31]
	}
	return int32(best) - 1
}

// NextHop returns where to send a datagram for dst: the route's gateway,
// or dst itself when the route is on-link, and the route.
func (t *Table) NextHop(dst netip.Addr) (hop netip.Addr, r Route, ok bool) {
	r, ok = t.Lookup(dst)
	if !ok {
		return netip.Addr{}, Route{}, false
	}
	if r.Gateway.IsValid() {
		return r.Gateway, r, true
	}
	return dst, r, true
}

// Routes returns a copy of the routes, ordered by prefix address, then
// prefix length, then metric. It allocates; it is for display.
func (t *Table) Routes() []Route {
	out := make([]Route, 0, t.n)
	var walk func(n int32)
	walk = func(n int32) {
		if n < 0 {
			return
		}
		for e := t.nodes[n].head(); e >= 0; e = t.entries[e].next {
			out = append(out, t.entries[e].r)
		}
		walk(t.nodes[n].child[0])
		walk(t.nodes[n].child[1])
	}
	walk(t.root)
	return out
}
