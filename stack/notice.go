package stack

import (
	"fmt"

	"github.com/fastpathnet/fastpath/internal/veth"
)

// Notice is advice for the user about something the engines met, for
// Config.Notice.
type Notice struct {
	// Counter counts what happened (PartialChecksum).
	Counter Counter
	// Message says what happened, in a sentence.
	Message string
	// Fix is the command that fixes it, to run where it says.
	Fix string
}

// partialNotice is the advice about partial checksums on the veth dev,
// whose peer it names when it can find it. Call it in dev's namespace.
func partialNotice(dev string) Notice {
	p, err := veth.PeerOf(dev)
	if err != nil {
		p = veth.Peer{Device: dev}
	}
	return Notice{
		Counter: PartialChecksum,
		Message: fmt.Sprintf("TCP and UDP frames from %s's peer (%s) carry partial checksums: its TX checksum offload is on, which leaves them for a device to complete, and a veth does not; the engines drop them (counted as %s)",
			dev, p.Where(), PartialChecksum),
		Fix: p.TXOffCommand(),
	}
}

// watchNotices passes the engines' news to Config.Notice until quit is
// closed (after the engines stopped: what they said last is passed on
// too); it closes done when it returns.
func (s *Stack) watchNotices(quit, done chan struct{}) {
	defer close(done)
	select {
	case <-s.partialSeen:
	case <-quit:
		select {
		case <-s.partialSeen:
		default:
			return
		}
	}
	s.cfg.Notice(s.partialNotice)
}
