package arp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/fastpathnet/fastpath/ether"
)

// State is a neighbour entry's state.
//
//	none --Resolve--> incomplete --ARP from it--> reachable --ReachableTime--> stale --StaleTime--> none
//	incomplete --MaxRetries requests unanswered--> none (queued frames dropped)
//	stale --Resolve (used)--> probe --ARP from it--> reachable
//	probe --MaxRetries requests unanswered--> none
//
// Reachable, Stale and Probe entries are usable: Resolve returns their MAC.
// NDP (RFC 4861 7.2.3, 7.2.5) adds ways into Stale: a solicitation from a
// neighbour, or an unsolicited advertisement of a new MAC; a solicited
// advertisement confirms (reachable) as ARP's reply does. Stale then
// Probe is RFC 4861's STALE, DELAY and PROBE with no delay.
type State uint8

const (
	// StateNone: no entry.
	StateNone State = iota
	// StateIncomplete: a request is out; frames wait in the entry's queue.
	StateIncomplete
	// StateReachable: confirmed less than ReachableTime ago.
	StateReachable
	// StateStale: not confirmed for ReachableTime; still used, and its
	// first use asks for re-confirmation (Probe). Removed StaleTime after
	// it went stale.
	StateStale
	// StateProbe: stale and in use: requests go out every RetryInterval,
	// up to MaxRetries, while frames still go to the old MAC (as Linux's
	// PROBE state); without an answer the entry is removed.
	StateProbe
	numStates
)

var stateNames = [numStates]string{"none", "incomplete", "reachable", "stale", "probe"}

// String returns the state's name, as `ip neigh` spells it.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler with String.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Config configures a Cache. Zero or negative fields take their defaults.
type Config struct {
	// Capacity is the number of entries. Default 1024.
	Capacity int
	// QueueLen is the number of frames that may wait per incomplete entry.
	// Default 8.
	QueueLen int
	// ReachableTime is how long (ns) a confirmed entry stays Reachable.
	// Default 30 s.
	ReachableTime int64
	// StaleTime is how long (ns) a Stale entry is kept unused before its
	// removal. Default 10 min.
	StaleTime int64
	// RetryInterval is the time (ns) between requests while Incomplete or
	// Probe. Default 1 s.
	RetryInterval int64
	// MaxRetries is the number of requests sent before giving up (the
	// first included). Default 3.
	MaxRetries int
	// MAC is this host's address, optional. An ARP packet from one of our
	// own IPs is a conflict unless its sender MAC is MAC (our own frame
	// looped back). Zero: every such packet is a conflict.
	MAC ether.Addr
	// HashSeed perturbs the table's hash so that hosts on the link cannot
	// choose addresses that collide. Set a random value in production;
	// zero is a fixed, valid seed.
	HashSeed uint64
}

// Defaults.
const (
	DefaultCapacity      = 1024
	DefaultQueueLen      = 8
	DefaultReachableTime = int64(30e9)
	DefaultStaleTime     = int64(600e9)
	DefaultRetryInterval = int64(1e9)
	DefaultMaxRetries    = 3
)

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		Capacity:      DefaultCapacity,
		QueueLen:      DefaultQueueLen,
		ReachableTime: DefaultReachableTime,
		StaleTime:     DefaultStaleTime,
		RetryInterval: DefaultRetryInterval,
		MaxRetries:    DefaultMaxRetries,
	}
}

// withDefaults replaces zero or negative fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Capacity <= 0 {
		c.Capacity = d.Capacity
	}
	if c.QueueLen <= 0 {
		c.QueueLen = d.QueueLen
	}
	if c.ReachableTime <= 0 {
		c.ReachableTime = d.ReachableTime
	}
	if c.StaleTime <= 0 {
		c.StaleTime = d.StaleTime
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = d.RetryInterval
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = d.MaxRetries
	}
	return c
}

// Counters count what the cache did. Every refused or dropped handle is in
// exactly one of QueueDrops, FailDrops, Full or Invalid (Resolve).
type Counters struct {
	Requests   uint64 // requests asked for: SendRequest from Resolve, addresses from Tick
	Replies    uint64 // Input results with Reply set
	Learned    uint64 // new bindings: entries inserted by Input, incomplete entries resolved
	Changed    uint64 // an existing entry's MAC replaced by a newer one
	Conflicts  uint64 // ARP packets from one of our addresses, from another MAC
	QueueDrops uint64 // handles refused by Resolve: the entry's queue was full
	Failed     uint64 // resolutions (Incomplete) and probes given up after MaxRetries
	FailDrops  uint64 // handles returned by Tick in dropped: their resolution failed
	Expired    uint64 // stale entries removed after StaleTime
	Evictions  uint64 // entries removed to make room
	Full       uint64 // insertions refused: nothing could be evicted
	Invalid    uint64 // unusable addresses given to Resolve or Set; packets Input ignored: malformed, or from a multicast or zero MAC
}

// Entry describes one neighbour, for display.
type Entry struct {
	IP    netip.Addr
	MAC   ether.Addr // zero while Incomplete
	State State      // as stored: Tick applies the timers
	// Updated is when the entry was last confirmed, or for an Incomplete
	// one when its resolution started (ns, the callers' clock).
	Updated int64
	// Retries is the number of requests sent in the current resolution or
	// probe.
	Retries int
	// Queued is the number of handles waiting.
	Queued int
}

// ResolveResult says what Resolve did with a handle. Exactly one of OK,
// Queued and Dropped is set.
type ResolveResult struct {
	// MAC is the neighbour's address when OK.
	MAC ether.Addr
	// OK: send the frame to MAC now. The cache did not keep the handle.
	OK bool
	// Queued: the cache keeps the handle until Input or Set resolves the
	// address (then it comes back in a ready slice) or Tick gives up (then
	// in Tick's dropped slice).
	Queued bool
	// Dropped: the cache refused the handle (queue full, table full, or an
	// unusable address); the caller still owns it and frees it.
	Dropped bool
	// SendRequest: transmit an ARP request for the address now: the first
	// miss of a resolution, or the first use of a Stale entry. Later
	// requests come from Tick.
	SendRequest bool
}

// InputResult says what Input did with an ARP packet.
type InputResult struct {
	// Reply: the packet is a request for one of our addresses; answer it
	// with Reply. Set for conflicting requests too: answering defends the
	// address (RFC 5227 2.4 (b)).
	Reply bool
	// Conflict: the sender claims one of our addresses from another MAC.
	Conflict bool
	// Learned: the sender's entry was inserted or updated; MAC is its
	// address.
	Learned bool
	// MAC is the sender's hardware address when Learned.
	MAC ether.Addr
	// Ready is the caller's ready slice with the handles that waited for
	// the sender appended, oldest first. Send each to MAC.
	Ready []uint64
}

// Cache is a neighbour cache with a fixed number of entries. It is owned by
// one goroutine (one engine): no method is safe for concurrent use, and
// none locks.
//
// Frames waiting for an address are opaque uint64 handles (the engine's
// UMEM addresses): the cache stores and returns them but never reads
// packet memory. Every handle Resolve takes (Queued) comes back exactly
// once: in a ready slice from Input or Set, or in Tick's dropped slice.
//
// When a new entry needs room and the table is full, the cache evicts the
// least recently touched Stale entry, then (Resolve and Set only) the least
// recently touched Reachable entry, then the least recently touched Probe
// entry. "Touched" is a use by Resolve, a confirmation, or a change of
// state; the order is kept per state in linked lists, so eviction costs
// O(1). Incomplete entries are never evicted: each holds frames it would
// have to hand back, and each leaves by itself within
// MaxRetries*RetryInterval. Input, which inserts for packets that any host
// on the link can send, evicts only Stale entries, so that a flood of
// requests from made-up senders cannot push out the neighbours in use.
// When nothing can be evicted the insertion is refused (counted Full):
// Resolve returns Dropped.
type Cache struct {
	cfg     Config
	entries []entry  // Capacity entries; free ones are on the free list
	queue   []uint64 // Capacity*QueueLen: entry i's ring is queue[i*QueueLen:][:QueueLen]
	slots   []slot   // open addressing, linear probing, backward-shift deletion
	mask    uint64
	free    int32 // first free entry, or -1
	n       int   // entries in use
	lists   [numStates]list
	ctr     Counters
}

// entry is one neighbour. Only the owning engine writes any of it.
type entry struct {
	ip      key // the table's key
	state   State
	mac     ether.Addr
	retries int32 // requests sent in this resolution or probe
	updated int64 // last confirmation; Incomplete: start of resolution
	// at is the entry's next timer: Reachable: when it goes stale; Stale:
	// when it is removed; Incomplete, Probe: when the next request (or the
	// failure) is due.
	at         int64
	qhead      int32 // first queued handle's index in the entry's ring
	qlen       int32 // queued handles; non-zero only while Incomplete
	prev, next int32 // the state's list (next also links the free list); -1: none
}

// list is a doubly linked list of entries, least recently touched first.
type list struct{ head, tail int32 }

// slot is a hash table slot: idx is the entry index plus one, 0 if empty.
type slot struct {
	key key
	idx int32
}

// key is a neighbour's address as the table keys it: an IPv6 address, or
// an IPv4 address in its IPv4-mapped form (RFC 4291 2.5.5.2), which no
// IPv6 neighbour may have, so the families cannot collide.
type key [16]byte

// NewCache returns an empty cache with all its memory allocated.
func NewCache(cfg Config) *Cache {
	cfg = cfg.withDefaults()
	size := 2
	for size < 2*cfg.Capacity { // load factor at most 1/2
		size <<= 1
	}
	c := &Cache{
		cfg:     cfg,
		entries: make([]entry, cfg.Capacity),
		queue:   make([]uint64, cfg.Capacity*cfg.QueueLen),
		slots:   make([]slot, size),
		mask:    uint64(size - 1),
	}
	for s := range c.lists {
		c.lists[s] = list{-1, -1}
	}
	for i := range c.entries {
		c.entries[i] = entry{prev: -1, next: int32(i + 1)}
	}
	c.entries[len(c.entries)-1].next = -1
	return c
}

// Config returns the configuration in use, defaults filled in.
func (c *Cache) Config() Config { return c.cfg }

// Len returns the number of entries in use.
func (c *Cache) Len() int { return c.n }

// Counters returns a copy of the counters.
func (c *Cache) Counters() Counters { return c.ctr }

// Resolve is called when the engine wants to send the frame handle to the
// next hop ip. If the address is usable (Reachable, Stale or Probe) it
// returns OK with the MAC, and the cache keeps nothing; a Stale entry's use
// also starts re-confirmation (SendRequest, state Probe). Otherwise the
// handle is queued (Queued) on a new or Incomplete entry, SendRequest set
// when the resolution starts; or refused (Dropped, counted) when the queue
// or the table is full or ip is not a unicast IPv4 address.
func (c *Cache) Resolve(ip netip.Addr, handle uint64, now int64) ResolveResult {
	k, ok := keyOf(ip)
	if !ok {
		c.ctr.Invalid++
		return ResolveResult{Dropped: true}
	}
	i := c.find(k)
	if i >= 0 {
		e := &c.entries[i]
		switch c.effective(e, now) {
		case StateReachable, StateProbe:
			c.touch(i)
			return ResolveResult{MAC: e.mac, OK: true}
		case StateStale:
			// Used while stale: keep sending to the MAC we have and ask
			// again; Input's answer makes it Reachable, Tick retries.
			c.setState(i, StateProbe)
			e.retries = 1
			e.at = now + c.cfg.RetryInterval
			c.ctr.Requests++
			return ResolveResult{MAC: e.mac, OK: true, SendRequest: true}
		case StateIncomplete:
			if !c.enqueue(i, handle) {
				c.ctr.QueueDrops++
				return ResolveResult{Dropped: true}
			}
			return ResolveResult{Queued: true}
		case StateNone:
			// Expired while Tick had not run yet: start afresh.
			c.ctr.Expired++
			c.remove(i)
		}
	}
	i = c.insert(k, true)
	if i < 0 {
		c.ctr.Full++
		return ResolveResult{Dropped: true}
	}
	e := &c.entries[i]
	c.setState(i, StateIncomplete)
	e.retries = 1
	e.updated = now
	e.at = now + c.cfg.RetryInterval
	c.enqueue(i, handle) // an empty ring of QueueLen >= 1
	c.ctr.Requests++
	return ResolveResult{Queued: true, SendRequest: true}
}

// Lookup returns ip's MAC and state at time now, with its timers applied
// but without changing anything. The MAC is zero unless the state is
// Reachable, Stale or Probe.
func (c *Cache) Lookup(ip netip.Addr, now int64) (ether.Addr, State) {
	k, ok := keyOf(ip)
	if !ok {
		return ether.Addr{}, StateNone
	}
	i := c.find(k)
	if i < 0 {
		return ether.Addr{}, StateNone
	}
	e := &c.entries[i]
	s := c.effective(e, now)
	if s == StateNone || s == StateIncomplete {
		return ether.Addr{}, s
	}
	return e.mac, s
}

// Input handles a received ARP packet (the caller has Checked it) for an
// engine whose addresses owns reports; owns may be nil (owning nothing).
//
// Following RFC 826's merge rule, it updates the sender's entry if there is
// one, and inserts one if the packet is addressed to us (the target IP is
// owned); the entry becomes Reachable. Senders that cannot be neighbours
// are not learned: IP 0.0.0.0 (a probe), loopback, multicast or broadcast.
// A packet whose sender MAC is multicast or zero is ignored altogether
// (counted Invalid): no host has that address. If the sender's entry was
// Incomplete, the handles waiting on it are appended to ready, oldest
// first, and returned in InputResult.Ready for the caller to send to
// InputResult.MAC: with cap(ready) >= QueueLen, Input does not allocate.
//
// A packet whose sender IP is ours is a conflict and is never learned;
// one that also carries Config.MAC is our own, looped back, and ignored.
// Reply is set for a request whose target IP is ours.
func (c *Cache) Input(p Packet, owns func(netip.Addr) bool, now int64, ready []uint64) InputResult {
	r := InputResult{Ready: ready}
	if p.Check() != nil {
		c.ctr.Invalid++
		return r
	}
	spa, sha := p.SenderIP(), p.SenderMAC()
	if sha.IsMulticast() || sha.IsZero() {
		c.ctr.Invalid++
		return r // no host has that address: nothing to learn, no one to answer
	}
	fromUs := owns != nil && owns(spa)
	if fromUs && sha == c.cfg.MAC { // (sha is not zero)
		return r // our own frame, looped back
	}
	forUs := owns != nil && owns(p.TargetIP())
	if forUs && p.Op() == OpRequest {
		r.Reply = true
		c.ctr.Replies++
	}
	if fromUs {
		r.Conflict = true
		c.ctr.Conflicts++
		return r
	}
	k, ok := keyOf(spa)
	if !ok {
		return r
	}
	i := c.find(k)
	if i < 0 {
		if !forUs {
			return r // RFC 826: unknown senders are added only if the packet is for us
		}
		if i = c.insert(k, false); i < 0 {
			c.ctr.Full++
			return r
		}
		c.ctr.Learned++
	}
	e := &c.entries[i]
	switch {
	case e.state == StateIncomplete:
		c.ctr.Learned++
		r.Ready = c.drain(i, r.Ready)
	case e.state != StateNone && e.mac != sha:
		c.ctr.Changed++
	}
	c.confirm(i, sha, now)
	r.Learned = true
	r.MAC = sha
	return r
}

// Solicitation handles the source link-layer address of a neighbour
// solicitation for one of our addresses (RFC 4861 7.2.3); the caller has
// checked the message (ipv6.CheckND) and that its source is not ::. A new
// sender is inserted Stale (evicting only Stale entries, as Input: anyone
// on the link can send one); a known one whose MAC differs takes the new
// MAC and becomes Stale; the same MAC changes nothing. An Incomplete
// entry becomes Stale with the MAC, and its handles are appended to ready
// and returned in InputResult.Ready, as Input does.
func (c *Cache) Solicitation(ip netip.Addr, mac ether.Addr, now int64, ready []uint64) InputResult {
	r := InputResult{Ready: ready}
	k, ok := keyOf(ip)
	if !ok || !ip.Is6() || mac.IsMulticast() || mac.IsZero() {
		c.ctr.Invalid++
		return r
	}
	i := c.find(k)
	if i >= 0 && c.effective(&c.entries[i], now) == StateNone {
		c.ctr.Expired++
		c.remove(i)
		i = -1
	}
	if i < 0 {
		if i = c.insert(k, false); i < 0 {
			c.ctr.Full++
			return r
		}
		c.ctr.Learned++
		c.stale(i, mac, now)
		return InputResult{Learned: true, MAC: mac, Ready: ready}
	}
	e := &c.entries[i]
	switch {
	case e.state == StateIncomplete:
		c.ctr.Learned++
		r.Ready = c.drain(i, r.Ready)
		c.stale(i, mac, now)
	case e.mac != mac:
		c.ctr.Changed++
		c.stale(i, mac, now)
	default:
		return r
	}
	r.Learned, r.MAC = true, mac
	return r
}

// Advert is what a neighbour advertisement says (RFC 4861 4.4).
type Advert struct {
	// Target is the address advertised.
	Target netip.Addr
	// MAC is the target link-layer address option's, when HasMAC.
	MAC    ether.Addr
	HasMAC bool
	// Solicited: an answer to a solicitation (the S flag). Override: the
	// MAC replaces a cached one (the O flag).
	Solicited, Override bool
}

// Advertisement handles a neighbour advertisement (RFC 4861 7.2.5); the
// caller has checked the message (ipv6.CheckND). Only a known target is
// updated: an advertisement never inserts. An Incomplete entry takes the
// MAC (none: ignored) and becomes Reachable if solicited, else Stale, and
// its handles are appended to ready and returned in InputResult.Ready. An
// entry with a MAC: without Override, another MAC only turns a Reachable
// entry Stale and is not taken; otherwise the MAC is taken, and the entry
// becomes Reachable if solicited, or Stale if its MAC changed.
func (c *Cache) Advertisement(a Advert, now int64, ready []uint64) InputResult {
	r := InputResult{Ready: ready}
	k, ok := keyOf(a.Target)
	if !ok || !a.Target.Is6() || a.HasMAC && (a.MAC.IsMulticast() || a.MAC.IsZero()) {
		c.ctr.Invalid++
		return r
	}
	i := c.find(k)
	if i < 0 {
		return r
	}
	e := &c.entries[i]
	st := c.effective(e, now)
	switch {
	case st == StateNone:
		c.ctr.Expired++
		c.remove(i)
		return r
	case st == StateIncomplete:
		if !a.HasMAC {
			return r
		}
		c.ctr.Learned++
		r.Ready = c.drain(i, r.Ready)
		if a.Solicited {
			c.confirm(i, a.MAC, now)
		} else {
			c.stale(i, a.MAC, now)
		}
	case !a.Override && a.HasMAC && a.MAC != e.mac:
		if st == StateReachable {
			c.stale(i, e.mac, now)
		}
		return r
	default:
		mac, changed := e.mac, a.HasMAC && a.MAC != e.mac
		if changed {
			c.ctr.Changed++
			mac = a.MAC
		}
		switch {
		case a.Solicited:
			c.confirm(i, mac, now)
		case changed:
			c.stale(i, mac, now)
		default:
			return r
		}
	}
	r.Learned, r.MAC = true, e.mac
	return r
}

// Set inserts or overwrites a confirmed (Reachable) entry, for example one
// read from the kernel's neighbour table. Handles waiting on the address
// are appended to ready, oldest first, and returned: send them to mac. A
// table with nothing to evict refuses the entry (counted Full); a non
// unicast IPv4 address is ignored (counted Invalid).
func (c *Cache) Set(ip netip.Addr, mac ether.Addr, now int64, ready []uint64) []uint64 {
	k, ok := keyOf(ip)
	if !ok {
		c.ctr.Invalid++
		return ready
	}
	i := c.find(k)
	if i < 0 {
		if i = c.insert(k, true); i < 0 {
			c.ctr.Full++
			return ready
		}
	}
	if c.entries[i].state == StateIncomplete {
		ready = c.drain(i, ready)
	}
	c.confirm(i, mac, now)
	return ready
}

// Tick applies the timers at time now: Reachable entries past
// ReachableTime become Stale; Stale entries past StaleTime are removed;
// Incomplete and Probe entries due a retry have their address appended to
// requests (send a request for each), and those that have had MaxRetries
// requests are removed, an Incomplete entry's handles appended to dropped
// for the caller to free. Tick visits every entry: call it every 100 ms or
// so. It does not allocate if requests has room for Capacity addresses and
// dropped for Capacity*QueueLen handles (far less in practice).
func (c *Cache) Tick(now int64, requests []netip.Addr, dropped []uint64) ([]netip.Addr, []uint64) {
	for idx := range c.entries {
		i := int32(idx)
		e := &c.entries[i]
		switch e.state {
		case StateReachable:
			if now < e.at {
				continue
			}
			c.setState(i, StateStale)
			e.at += c.cfg.StaleTime
			if now >= e.at {
				c.ctr.Expired++
				c.remove(i)
			}
		case StateStale:
			if now >= e.at {
				c.ctr.Expired++
				c.remove(i)
			}
		case StateIncomplete, StateProbe:
			if now < e.at {
				continue
			}
			if int(e.retries) < c.cfg.MaxRetries {
				requests = append(requests, e.ip.addr())
				e.retries++
				e.at = now + c.cfg.RetryInterval
				c.ctr.Requests++
				continue
			}
			c.ctr.Failed++
			c.ctr.FailDrops += uint64(e.qlen)
			dropped = c.drain(i, dropped)
			c.remove(i)
		}
	}
	return requests, dropped
}

// Entries returns a copy of the entries, sorted by IP, for display. It
// allocates.
func (c *Cache) Entries() []Entry {
	out := make([]Entry, 0, c.n)
	for i := range c.entries {
		e := &c.entries[i]
		if e.state == StateNone {
			continue
		}
		en := Entry{IP: e.ip.addr(), State: e.state, Updated: e.updated, Retries: int(e.retries), Queued: int(e.qlen)}
		if e.state != StateIncomplete {
			en.MAC = e.mac
		}
		out = append(out, en)
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.IP.Compare(b.IP) })
	return out
}

// effective returns e's state at now, its timers applied.
func (c *Cache) effective(e *entry, now int64) State {
	switch e.state {
	case StateReachable:
		if now >= e.at+c.cfg.StaleTime {
			return StateNone
		}
		if now >= e.at {
			return StateStale
		}
	case StateStale:
		if now >= e.at {
			return StateNone
		}
	}
	return e.state
}

// confirm makes entry i Reachable at mac as of now.
func (c *Cache) confirm(i int32, mac ether.Addr, now int64) {
	e := &c.entries[i]
	e.mac = mac
	e.retries = 0
	e.updated = now
	e.at = now + c.cfg.ReachableTime
	if e.state == StateReachable {
		c.touch(i)
	} else {
		c.setState(i, StateReachable)
	}
}

// stale makes entry i Stale at mac as of now: used, it is probed again;
// unused for StaleTime, removed.
func (c *Cache) stale(i int32, mac ether.Addr, now int64) {
	e := &c.entries[i]
	e.mac = mac
	e.retries = 0
	e.updated = now
	e.at = now + c.cfg.StaleTime
	c.setState(i, StateStale)
}

// keyOf returns ip as a table key, or false unless it is an address a
// neighbour can have: IPv4 but 0.0.0.0, loopback, multicast and
// 255.255.255.255; IPv6 but ::, loopback, multicast and IPv4-mapped
// addresses. An IPv6 zone is ignored: a cache serves one link.
func keyOf(ip netip.Addr) (key, bool) {
	switch {
	case ip.Is4():
		a := ip.As4()
		switch {
		case a == [4]byte{}, a == [4]byte{255, 255, 255, 255}, a[0] == 127, a[0]&0xf0 == 224:
			return key{}, false
		}
	case ip.Is6():
		if ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() || ip.Is4In6() {
			return key{}, false
		}
	default:
		return key{}, false
	}
	return ip.As16(), true
}

// addr returns the address k keys.
func (k key) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// Queue: entry i's ring of QueueLen handles in the slab.

// enqueue appends h to entry i's ring, or returns false if it is full.
func (c *Cache) enqueue(i int32, h uint64) bool {
	e := &c.entries[i]
	ql := int32(c.cfg.QueueLen)
	if e.qlen == ql {
		return false
	}
	c.queue[int(i)*c.cfg.QueueLen+int((e.qhead+e.qlen)%ql)] = h
	e.qlen++
	return true
}

// drain appends entry i's handles to out, oldest first, and empties the
// ring.
func (c *Cache) drain(i int32, out []uint64) []uint64 {
	e := &c.entries[i]
	ring := c.queue[int(i)*c.cfg.QueueLen:][:c.cfg.QueueLen]
	for k := int32(0); k < e.qlen; k++ {
		out = append(out, ring[(e.qhead+k)%int32(len(ring))])
	}
	e.qhead, e.qlen = 0, 0
	return out
}

// Lists: one per state, least recently touched first.

func (c *Cache) unlink(i int32) {
	e := &c.entries[i]
	l := &c.lists[e.state]
	if e.prev >= 0 {
		c.entries[e.prev].next = e.next
	} else {
		l.head = e.next
	}
	if e.next >= 0 {
		c.entries[e.next].prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (c *Cache) pushBack(i int32) {
	e := &c.entries[i]
	l := &c.lists[e.state]
	e.prev, e.next = l.tail, -1
	if l.tail >= 0 {
		c.entries[l.tail].next = i
	} else {
		l.head = i
	}
	l.tail = i
}

// setState moves entry i, in use, to state s, at the back of s's list.
func (c *Cache) setState(i int32, s State) {
	if c.entries[i].state != StateNone {
		c.unlink(i)
	}
	c.entries[i].state = s
	c.pushBack(i)
}

// touch moves entry i to the back of its state's list.
func (c *Cache) touch(i int32) {
	if c.lists[c.entries[i].state].tail == i {
		return // the common case: the same next hop again
	}
	c.unlink(i)
	c.pushBack(i)
}

// insert takes an entry for key (which must be absent), evicting one if
// the table is full (Reachable and Probe entries only if evictInUse), and
// returns its index, state still none and on no list; -1 if nothing can be
// evicted.
func (c *Cache) insert(k key, evictInUse bool) int32 {
	if c.free < 0 {
		v := c.lists[StateStale].head
		if v < 0 && evictInUse {
			if v = c.lists[StateReachable].head; v < 0 {
				v = c.lists[StateProbe].head
			}
		}
		if v < 0 {
			return -1
		}
		c.ctr.Evictions++
		c.remove(v)
	}
	i := c.free
	e := &c.entries[i]
	c.free = e.next
	*e = entry{ip: k, prev: -1, next: -1}
	c.n++
	s := c.home(k)
	for c.slots[s].idx != 0 {
		s = (s + 1) & c.mask
	}
	c.slots[s] = slot{key: k, idx: i + 1}
	return i
}

// remove deletes entry i, which must hold no handles, from the table and
// its list, and frees it.
func (c *Cache) remove(i int32) {
	e := &c.entries[i]
	if e.state != StateNone {
		c.unlink(i)
	}
	c.deleteSlot(e.ip)
	*e = entry{prev: -1, next: c.free}
	c.free = i
	c.n--
}

// Hash table.

// home returns k's first slot: a splitmix64 finalizer over the key's two
// halves and the seed.
func (c *Cache) home(k key) uint64 {
	x := binary.LittleEndian.Uint64(k[:8]) ^ c.cfg.HashSeed
	x = mix(x) ^ binary.LittleEndian.Uint64(k[8:])
	return mix(x) & c.mask
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// find returns key's entry index, or -1. The table is at most half full,
// so the probe ends at an empty slot.
func (c *Cache) find(k key) int32 {
	for s := c.home(k); ; s = (s + 1) & c.mask {
		sl := c.slots[s]
		if sl.idx == 0 {
			return -1
		}
		if sl.key == k {
			return sl.idx - 1
		}
	}
}

// deleteSlot removes key, which must be present, and shifts back the
// slots after it that would otherwise be cut off from their home (Knuth
// 6.4 Algorithm R), so that no tombstones are needed.
func (c *Cache) deleteSlot(k key) {
	s := c.home(k)
	for c.slots[s].idx == 0 || c.slots[s].key != k {
		s = (s + 1) & c.mask
	}
	hole := s
	for j := (hole + 1) & c.mask; c.slots[j].idx != 0; j = (j + 1) & c.mask {
		h := c.home(c.slots[j].key)
		// Slot j may stay unless its home lies cyclically in (hole, j].
		if (j-h)&c.mask < (j-hole)&c.mask {
			continue
		}
		c.slots[hole] = c.slots[j]
		hole = j
	}
	c.slots[hole] = slot{}
}
