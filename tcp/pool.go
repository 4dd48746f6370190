package tcp

// The Host's pools: a connection's memory (its Conn, with its SACK ranges,
// RACK records and congestion control; its send and receive buffers) goes
// back to its Host when the connection is gone and nothing can reach it,
// and the next connection takes it. At steady state, connection churn
// included, opening and closing connections allocates nothing. One Host
// per engine: the pools have no locks and no engine shares them.
//
// When a Conn is reused. Inside the Host, a removed connection may still
// be on the stack of the call that removed it, in the touched list until
// the next Tick, or in the list Tick is walking; its handler hears Closed
// after it left the table. So remove only puts it on the dead list, and
// the end of a Tick (a point no connection's code is running at: Tick is
// not called from a Handler) reclaims it. Outside, the contract is
// Handler.Closed's: once Closed has returned (or, for a connection that
// ends in TIME-WAIT, once it leaves the table), the *Conn belongs to the
// Host again. Whoever keeps one longer (stack's net.Conn adapter, whose
// Read still drains Recv from the application's goroutine after the
// end) calls Keep: that Conn and its buffers go to the garbage collector
// instead, as every connection did before the pools.
//
// When buffers are reused. They go back with their Conn when it leaves
// the table, or before, as it enters TIME-WAIT: once Closed has returned
// (Closed is the last call its handler gets) no data moves in TIME-WAIT,
// and a client closing 10,000 connections a second would otherwise hold
// 60 s × 10,000 × 512 KiB with the defaults. timeWaitBuffers takes them
// then, unless
// Keep was called, and points Send and Recv at the pool's empty Buffer
// (capacity 0, shared by the Host's TIME-WAIT connections, never
// written): what still reads them in TIME-WAIT (the window of the ACK
// that answers a retransmitted FIN, a stray Recv.Len) finds it empty.
// reclaim never pools that one. A kept connection keeps its buffers.

// What a connection costs besides its two buffers' bytes:
// the Conn; its congestion control (the larger of Cubic and NewReno); its
// two SACK range lists (16 blocks of 8 bytes each); its RACK records
// (rackCap of 24 bytes) and marks (sentCap of 24 bytes, with
// Config.RACK); the two Buffer headers; and its places in the Host's
// lists (list, touched, due, dead and the pool's three free lists, a
// pointer each). Its share of the table's slots (table.go) depends on
// MaxConns. TestConnFixedBytes keeps them equal to the sizes the compiler
// gives.
const (
	connStructBytes   = 840
	ccBytes           = 80
	rangesBytes       = 2 * 16 * 8
	rackBytes         = rackCap * 24
	sentBytes         = sentCap * 24
	bufferStructBytes = 56
	listBytes         = 7 * 8
)

// BytesPerConn is the memory one connection of this configuration holds
// at most, established: its Conn, its buffers (rounded up to powers of
// two), its records and its share of the Host's table. A Host holds at
// most MaxConns of them, and keeps up to PoolConns of them for reuse once
// their connections are gone. A connection in TIME-WAIT holds
// BytesPerTimeWait.
func (c Config) BytesPerConn() int {
	return c.BytesPerTimeWait() + 2*bufferStructBytes + bufferCap(c.SendBuffer) + bufferCap(c.RecvBuffer)
}

// BytesPerTimeWait is the memory one connection in TIME-WAIT holds: its
// Conn, its records and its share of the Host's table, without buffers,
// which went back to the Host's pool as it entered TIME-WAIT (pool.go;
// a connection its user keeps, Conn.Keep, holds BytesPerConn). A Host's
// memory is then about BytesPerConn for each connection not in
// TIME-WAIT, BytesPerTimeWait for each one in it, and its pool, up to
// PoolConns × BytesPerConn.
func (c Config) BytesPerTimeWait() int {
	n := connStructBytes + ccBytes + rangesBytes + rackBytes + listBytes
	if c.MaxConns > 0 {
		n += (tableCap(c.MaxConns)*slotBytes + c.MaxConns - 1) / c.MaxConns
	}
	if c.RACK {
		n += sentBytes
	}
	return n
}

// pool is a Host's memory for connections to come. Every list has its
// room from NewHost on (the free lists PoolConns, dead MaxConns), and
// nothing is appended past it: the pool itself never allocates.
type pool struct {
	conns []*Conn   // reset, without buffers
	sends []*Buffer // reset, Config.SendBuffer bytes
	recvs []*Buffer // reset, Config.RecvBuffer bytes
	dead  []*Conn   // removed, for the end of the next Tick to reclaim
	limit int       // PoolConns
	// none is the Send and Recv of the connections in TIME-WAIT whose
	// buffers came back (timeWaitBuffers): capacity 0, never written.
	none *Buffer
}

func newPool(cfg *Config) pool {
	p := pool{
		conns: make([]*Conn, 0, cfg.PoolConns),
		sends: make([]*Buffer, 0, cfg.PoolConns),
		recvs: make([]*Buffer, 0, cfg.PoolConns),
		dead:  make([]*Conn, 0, cfg.MaxConns),
		limit: cfg.PoolConns,
		none:  &Buffer{},
	}
	for range cfg.Prealloc {
		// All a connection may need: SACK's and RACK's records too.
		cc, _ := NewCongestionControl(cfg.CongestionControl) // checked by NewHost
		c := &Conn{cc: cc, ooo: newRanges(16), sacked: newRanges(16), rackMem: make([]rackSent, 0, rackCap)}
		if cfg.RACK {
			c.sentMem = make([]sentMark, 0, sentCap)
		}
		p.conns = append(p.conns, c)
		p.sends = append(p.sends, NewBuffer(cfg.SendBuffer))
		p.recvs = append(p.recvs, NewBuffer(cfg.RecvBuffer))
	}
	return p
}

// takeConn returns a reset Conn: the pool's, or a new one.
func (h *Host) takeConn() *Conn {
	p := &h.pool
	if n := len(p.conns); n > 0 {
		c := p.conns[n-1]
		p.conns[n-1] = nil
		p.conns = p.conns[:n-1]
		return c
	}
	h.counters[ConnAllocs]++
	return &Conn{}
}

// takeBuffers returns a reset send and receive buffer: the pool's, or
// new ones.
func (h *Host) takeBuffers() (send, recv *Buffer) {
	p := &h.pool
	if n := len(p.sends); n > 0 {
		send, recv = p.sends[n-1], p.recvs[n-1]
		p.sends[n-1], p.recvs[n-1] = nil, nil
		p.sends, p.recvs = p.sends[:n-1], p.recvs[:n-1]
		return send, recv
	}
	h.counters[BufferAllocs]++
	return NewBuffer(h.cfg.SendBuffer), NewBuffer(h.cfg.RecvBuffer)
}

// bury notes that c left the table: the end of the next Tick reclaims
// it. Past MaxConns removals between two Ticks, the rest go to the
// garbage collector.
func (h *Host) bury(c *Conn) {
	p := &h.pool
	if len(p.dead) < cap(p.dead) {
		p.dead = append(p.dead, c)
	}
}

// reclaim resets the dead connections and their buffers into the pool, up
// to its limit. One still in the touched list waits for the next Tick.
func (h *Host) reclaim() {
	p := &h.pool
	keep := p.dead[:0]
	for i, c := range p.dead {
		p.dead[i] = nil
		if c.kept {
			continue
		}
		if c.touched {
			keep = append(keep, c)
			continue
		}
		if c.Send != nil && c.Send != p.none && len(p.sends) < p.limit {
			c.Send.reset()
			c.Recv.reset()
			p.sends = append(p.sends, c.Send)
			p.recvs = append(p.recvs, c.Recv)
		}
		if len(p.conns) < p.limit {
			c.reset()
			p.conns = append(p.conns, c)
		}
	}
	p.dead = keep
}

// timeWaitBuffers takes c's buffers back as it enters TIME-WAIT, Closed
// having returned: reset into the pool, as far as it has room (beyond,
// to the garbage collector); c's Send and Recv are the pool's empty
// Buffer from then on. A kept connection keeps its own.
func (h *Host) timeWaitBuffers(c *Conn) {
	p := &h.pool
	if c.kept || c.Send == nil || c.Send == p.none {
		return
	}
	if len(p.sends) < p.limit {
		c.Send.reset()
		c.Recv.reset()
		p.sends = append(p.sends, c.Send)
		p.recvs = append(p.recvs, c.Recv)
	}
	c.Send, c.Recv = p.none, p.none
}

// reset empties c for its next life: every field zero, as &Conn{} has it,
// but for the memory it keeps (SACK ranges, RACK records, the congestion
// controller's state), emptied.
func (c *Conn) reset() {
	ooo, sacked := c.ooo.r[:0], c.sacked.r[:0]
	rack, sent := c.rackMem[:cap(c.rackMem)], c.sentMem[:cap(c.sentMem)]
	clear(ooo[:cap(ooo)])
	clear(sacked[:cap(sacked)])
	clear(rack)
	clear(sent)
	var cc CongestionControl
	switch x := c.cc.(type) {
	case *Cubic:
		*x = Cubic{}
		cc = x
	case *NewReno:
		*x = NewReno{}
		cc = x
	}
	*c = Conn{ooo: ranges{ooo}, sacked: ranges{sacked}, rackMem: rack[:0], sentMem: sent[:0], cc: cc}
}

// Keep tells the Host that c's user holds on to it after it ends (reads
// what is left in Recv from another goroutine, say): the Host will not
// reuse c or its buffers for another connection, nor take the buffers
// back in TIME-WAIT, and leaves them to the garbage collector. Call it
// on the Host's goroutine, before the connection is gone (at the latest
// in Handler.Closed).
func (c *Conn) Keep() { c.kept = true }
