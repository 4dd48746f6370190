package xsk_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/xsk"
)

// BenchmarkKick measures the TX kick Kick makes with a raw system call
// against the same call through the runtime's Syscall (which tells the
// scheduler, so that sysmon may hand the P to another thread while the
// call runs): copy mode on veth, where the kick itself copies and sends
// the frames. Each op transmits a batch of 64 UDP frames to the kernel in
// the other namespace (which drops them: nothing listens), kicks, and
// reclaims what completed; with 2 queues, one sender per queue, each on
// its own locked thread, so that every P is busy (where a P taken during
// a Syscall costs most). Alternate the two by name:
//
//	go test -c -o /tmp/xsk.test ./xsk
//	for m in raw syscall; do /tmp/xsk.test -test.run '^$' -test.bench "Kick/$m/"; done
func BenchmarkKick(b *testing.B) {
	l := lab.NewT(b, lab.Options{Queues: 2})
	for _, m := range []struct {
		name string
		kick func(*xsk.Socket)
	}{
		{"raw", (*xsk.Socket).Kick},
		{"syscall", (*xsk.Socket).KickSyscall},
	} {
		for _, queues := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/queues=%d", m.name, queues), func(b *testing.B) {
				socks := make([]*xsk.Socket, queues)
				for q := range socks {
					socks[q] = newSocket(b, l.A, q, xsk.DefaultOptions())
				}
				f := flowAB(l.A, l.B)
				var before uint64
				for _, s := range socks {
					before += s.Counters().Completed
				}
				b.ResetTimer()
				var wg sync.WaitGroup
				for _, s := range socks {
					wg.Add(1)
					go func() {
						defer wg.Done()
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						sendBatches(s, f, b.N, m.kick)
					}()
				}
				wg.Wait()
				b.StopTimer()
				var sent uint64
				for _, s := range socks {
					sent += s.Counters().Completed
				}
				b.ReportMetric(float64(sent-before)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}

// sendBatches transmits n batches of 64 minimum-size frames on s, kicking
// after each with kick.
func sendBatches(s *xsk.Socket, f *flow, n int, kick func(*xsk.Socket)) {
	const batch = 64
	descs := make([]rings.Desc, batch)
	addrs := make([]uint64, batch)
	u := s.UMEM()
	for i := 0; i < n; i++ {
		s.Complete()
		got := s.Frames.AllocN(addrs)
		for j := 0; j < got; j++ {
			descs[j] = rings.Desc{Addr: addrs[j], Len: uint32(buildUDP(u.Frame(addrs[j]), f, uint64(j), 60))}
		}
		put := s.Transmit(descs[:got])
		s.Frames.FreeN(addrs[put:got])
		kick(s)
	}
}
