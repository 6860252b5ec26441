package edge

import (
	"container/list"
	"errors"
	"net"
	"sync"
)

// errShed ends a handshake whose slot under the connection cap went to a
// newer connection before its HELLO arrived.
var errShed = errors.New("edge: handshake shed at the connection cap")

// connCap caps open device connections. At the cap, a new connection takes
// the slot of the oldest connection still waiting for its HELLO (which is
// closed): a flood of silent connections then only ever displaces itself,
// and a device that sends its HELLO within the time the flood takes to
// cycle through the cap gets in. Only when every slot holds a connection
// that has spoken (a handshake deciding, or a session) is the newest
// refused.
type connCap struct {
	limit int

	mu      sync.Mutex // guards open, waiting, byConn and every slot's shed
	open    int        // slots held
	waiting list.List  // *connSlot of connections waiting for their HELLO, oldest first
	byConn  map[net.Conn]*list.Element
}

// connSlot is one connection's place under the cap.
type connSlot struct {
	conn net.Conn
	// shed: the slot went to a newer connection, which now accounts
	// for it; this connection was closed.
	shed bool
}

func newConnCap(limit int) *connCap {
	return &connCap{limit: limit, byConn: make(map[net.Conn]*list.Element)}
}

// acquire takes a slot for conn, which counts as waiting for its HELLO
// until helloArrived. At the cap it takes the oldest waiting connection's
// slot and returns that connection, for the caller to close and count. ok
// is false when the cap is reached and nothing waits: conn must be refused.
func (c *connCap) acquire(conn net.Conn) (slot *connSlot, shed net.Conn, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open >= c.limit {
		oldest := c.waiting.Front()
		if oldest == nil {
			return nil, nil, false
		}
		victim := c.waiting.Remove(oldest).(*connSlot)
		delete(c.byConn, victim.conn)
		victim.shed = true
		shed = victim.conn
	} else {
		c.open++
	}
	slot = &connSlot{conn: conn}
	c.byConn[conn] = c.waiting.PushBack(slot)
	return slot, shed, true
}

// helloArrived takes conn off the sheddable list: it is a device's
// handshake now. errShed if it was shed first.
func (c *connCap) helloArrived(conn net.Conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byConn[conn]
	if !ok {
		return errShed
	}
	c.waiting.Remove(el)
	delete(c.byConn, conn)
	return nil
}

// wasShed reports whether slot went to a newer connection.
func (c *connCap) wasShed(slot *connSlot) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slot.shed
}

// release gives slot back, unless it was shed (its slot lives on in the
// connection that took it). It reports whether a slot was freed.
func (c *connCap) release(slot *connSlot) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slot.shed {
		return false
	}
	if el, ok := c.byConn[slot.conn]; ok {
		c.waiting.Remove(el)
		delete(c.byConn, slot.conn)
	}
	c.open--
	return true
}

// counts returns the slots held and, of them, the connections waiting for
// their HELLO.
func (c *connCap) counts() (open, waiting int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.waiting.Len()
}
