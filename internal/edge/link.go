package edge

import (
	"context"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/peerlink"
)

// deviceLink is a session's connection to its device: the device's own
// connection to this task, or — when its RESUME reached another task — the
// link that task relays it over. Attach, detach, the coverage grace, the
// queue and its writer work on either alike; a relayed link that drops is a
// coverage loss like any other.
type deviceLink interface {
	// Send writes one message for the device within the link's write
	// deadline (or ctx's, if sooner).
	Send(ctx context.Context, m devproto.Message) error
	// Receive returns the device's next message; an error ends the link.
	Receive(ctx context.Context) (devproto.Message, error)
	// Close ends the link at once; it is safe to call more than once.
	Close() error
}

var (
	_ deviceLink = (*devconn.Session)(nil)
	_ deviceLink = (*peerlink.Conn)(nil)
)
