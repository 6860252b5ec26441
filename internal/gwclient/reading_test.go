package gwclient

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/idlepoll"
)

// readingModes are the two ways a client reads: parked on a poller while
// idle (the default on Linux), or with a reader goroutine for life (the
// path everywhere else, and when the poller refuses).
func readingModes(t *testing.T) []struct {
	name string
	opts []Option
} {
	return []struct {
		name string
		opts []Option
	}{
		{"parked", []Option{withPoller(newPoller(t))}},
		{"reader goroutine", []Option{withReaderGoroutine()}},
	}
}

func newPoller(t *testing.T) *idlepoll.Poller {
	t.Helper()
	p, err := idlepoll.New()
	if errors.Is(err, idlepoll.ErrUnsupported) {
		t.Skip("no poller on this platform")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// scriptedServer is a TLS server with a certificate made now that runs
// script on its first connection once the client's login request is read:
// fault injection for how bytes arrive, which the simulator does not vary.
// It returns the address and the certificate's pin.
func scriptedServer(t *testing.T, script func(conn *tls.Conn, login gwproto.Request)) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := clocktest.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		conn := nc.(*tls.Conn)
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(testTimeout))
		req, err := gwproto.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			t.Errorf("scripted server: reading the login: %v", err)
			return
		}
		script(conn, req)
		_, _ = io.Copy(io.Discard, conn) // until the client closes
	}()
	sum := sha256.Sum256(der)
	return ln.Addr().String(), hex.EncodeToString(sum[:])
}

func loginResponse(t *testing.T, req gwproto.Request) []byte {
	t.Helper()
	b, err := gwproto.AppendResponse(nil, gwproto.Fields{
		gwproto.String(gwproto.TagResultCode, "0"),
		gwproto.String(gwproto.TagTransactionID, req.TransactionID),
		gwproto.DN(gwproto.TagDN, "cn=alice,o=test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func event(t *testing.T, text string) []byte {
	t.Helper()
	b, err := gwproto.AppendEvent(nil, gwproto.Event{Type: gwproto.EventReceiveMessage, Source: "cn=bob,o=test", GUID: "{g}", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAll(t *testing.T, conn *tls.Conn, parts ...[]byte) {
	t.Helper()
	for _, p := range parts {
		if _, err := conn.Write(p); err != nil {
			t.Errorf("scripted server: write: %v", err)
			return
		}
	}
}

// TestMessagesArriveHoweverTheyAreCut checks that messages are read whole
// and in order whether a TLS record carries a byte of one, several at once,
// or the server pauses inside a message's first four bytes, in both
// reading modes.
func TestMessagesArriveHoweverTheyAreCut(t *testing.T) {
	for _, mode := range readingModes(t) {
		t.Run(mode.name, func(t *testing.T) {
			addr, pin := scriptedServer(t, func(conn *tls.Conn, login gwproto.Request) {
				// The login answer, one byte per record.
				for _, b := range loginResponse(t, login) {
					writeAll(t, conn, []byte{b})
				}
				time.Sleep(20 * time.Millisecond) // let the client park
				// Two events in one record.
				writeAll(t, conn, append(event(t, "one"), event(t, "two")...))
				time.Sleep(20 * time.Millisecond)
				// A pause after two bytes of a message's first four.
				three := event(t, "three")
				writeAll(t, conn, three[:2])
				time.Sleep(50 * time.Millisecond)
				writeAll(t, conn, three[2:])
				bye, _ := gwproto.AppendEvent(nil, gwproto.Event{Type: gwproto.EventServerDisconnect, Source: "cn=server"})
				writeAll(t, conn, bye)
			})
			evs := make(events, 8)
			opts := append([]Option{WithPinnedSHA256(pin), WithEventHandler(evs.handler)}, mode.opts...)
			c, err := Dial(ctxT(t), addr, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Login(ctxT(t), "alice", "pw", userAgent, ""); err != nil {
				t.Fatal(err)
			}
			var got []string
			for range 3 {
				got = append(got, evs.next(t, gwproto.EventReceiveMessage).Text)
			}
			if want := []string{"one", "two", "three"}; !slices.Equal(got, want) {
				t.Fatalf("events %q, want %q", got, want)
			}
			if err := waitDone(t, c); !errors.Is(err, ErrServerDisconnect) {
				t.Fatalf("ended with %v, want ErrServerDisconnect", err)
			}
		})
	}
}

// TestParkedClientsHoldNoGoroutine checks that idle clients park on the
// poller instead of each keeping a reader goroutine, still receive what
// comes, and leave no watch behind when closed.
func TestParkedClientsHoldNoGoroutine(t *testing.T) {
	const n = 20
	p := newPoller(t)
	srv := startSim(t, gwsim.WithDemoUsers(n))
	base := runtime.NumGoroutine()
	clients := make([]*Client, n)
	evs := make([]events, n)
	for i := range clients {
		evs[i] = make(events, 8)
		c, err := Dial(ctxT(t), srv.Addr(), WithRootCAs(srv.CertPool()), WithEventHandler(evs[i].handler), withPoller(p))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Login(ctxT(t), demo.UserID(i+1), demo.Password, userAgent, ""); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	// The simulator runs two goroutines per connection in this process;
	// the clients, parked, none.
	want := base + 2*n + 2
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with %d parked clients, want at most %d", runtime.NumGoroutine(), n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := clients[0].SendMessage(ctxT(t), "user0002", "wake up"); err != nil {
		t.Fatal(err)
	}
	if got := evs[1].next(t, gwproto.EventReceiveMessage); got.Text != "wake up" {
		t.Fatalf("parked client got %+v", got)
	}
	for _, c := range clients {
		c.Close()
	}
	for _, c := range clients {
		if err := waitDone(t, c); !errors.Is(err, ErrClosed) {
			t.Fatalf("ended with %v, want ErrClosed", err)
		}
	}
	if w := p.Watching(); w != 0 {
		t.Fatalf("%d watches left after every client closed", w)
	}
}

// TestClientsFallBackWhenThePollerStops checks that parked clients whose
// poller fails go on with reader goroutines of their own.
func TestClientsFallBackWhenThePollerStops(t *testing.T) {
	p := newPoller(t)
	srv := startSim(t)
	alice, _, _ := login(t, srv, "alice", "alice-pw", withPoller(p))
	_, _, bobEvents := login(t, srv, "bob", "bob-pw", withPoller(p))
	p.Close()
	time.Sleep(20 * time.Millisecond) // let them find out
	if err := alice.SendMessage(ctxT(t), "bob", "still here"); err != nil {
		t.Fatal(err)
	}
	if got := bobEvents.next(t, gwproto.EventReceiveMessage); got.Text != "still here" {
		t.Fatalf("bob got %+v", got)
	}
	alice.Close()
	if err := waitDone(t, alice); !errors.Is(err, ErrClosed) {
		t.Fatalf("ended with %v, want ErrClosed", err)
	}
}

// TestReaderGoroutineMode runs the behaviour tests again with a reader
// goroutine per client, the path where there is no poller.
func TestReaderGoroutineMode(t *testing.T) {
	testOpts = []Option{withReaderGoroutine()}
	t.Cleanup(func() { testOpts = nil })
	tests := []struct {
		name string
		test func(*testing.T)
	}{
		{"messages", TestMessagesCrossBothWays},
		{"status", TestStatusChangeReachesWatchers},
		{"114", TestSecondLoginKicksFirstWith114},
		{"115", TestServerShutdownSends115},
		{"keepalive", TestKeepalivePingsOnInterval},
		{"concurrent calls", TestConcurrentCallsAreMatchedByTransaction},
		{"close", TestCallsBeforeLoginAndAfterClose},
		{"dropped", TestDroppedConnectionEndsClient},
		{"stalled", TestStalledResponseTimesOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.test)
	}
}

// chunkConn serves data in reads of the given sizes (cycling), as a
// network might cut it.
type chunkConn struct {
	net.Conn
	data   []byte
	chunks []int
	i      int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data))
	if len(c.chunks) > 0 {
		n = min(n, max(1, c.chunks[c.i%len(c.chunks)]))
		c.i++
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// boundaries returns where TLS record headers and bodies start and end in
// stream, parsed independently of recordConn.
func boundaries(stream []byte) map[int]bool {
	b := map[int]bool{}
	for pos := 0; pos < len(stream); {
		b[pos] = true
		if pos+recordHeaderLen > len(stream) {
			break
		}
		body := int(stream[pos+3])<<8 | int(stream[pos+4])
		b[pos+recordHeaderLen] = true
		pos += recordHeaderLen + body
	}
	return b
}

// checkRecordReads reads stream through a recordConn with big buffers and
// checks nothing is lost and no read crosses a record boundary.
func checkRecordReads(t *testing.T, stream []byte, chunks []int) {
	t.Helper()
	c := &recordConn{Conn: &chunkConn{data: slices.Clone(stream), chunks: chunks}}
	bounds := boundaries(stream)
	var got []byte
	buf := make([]byte, 1<<15)
	for {
		n, err := c.Read(buf)
		for i := len(got) + 1; i < len(got)+n; i++ {
			if bounds[i] {
				t.Fatalf("a read of [%d,%d) crosses the boundary at %d", len(got), len(got)+n, i)
			}
		}
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !slices.Equal(got, stream) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(stream))
	}
}

func record(typ byte, body int) []byte {
	r := []byte{typ, 3, 3, byte(body >> 8), byte(body)}
	for i := range body {
		r = append(r, byte(i))
	}
	return r
}

func TestRecordConnReadsStopAtRecordEnds(t *testing.T) {
	flight := slices.Concat(record(22, 122), record(20, 1), record(23, 1100), record(23, 300))
	tests := []struct {
		name   string
		stream []byte
		chunks []int
	}{
		{"whole flight at once", flight, nil},
		{"byte by byte", flight, []int{1}},
		{"cut inside headers", flight, []int{3, 7, 2, 500}},
		{"empty record", slices.Concat(record(23, 0), record(23, 10)), nil},
		{"largest record", record(23, 16384+256), []int{4000}},
		{"truncated header", []byte{23, 3, 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRecordReads(t, tt.stream, tt.chunks) })
	}
}

func FuzzRecordConn(f *testing.F) {
	f.Add(slices.Concat(record(22, 122), record(23, 300)), []byte{1, 3, 200})
	f.Add(record(23, 0), []byte{})
	f.Add([]byte{23, 3, 3, 255, 255, 1, 2}, []byte{2})
	f.Fuzz(func(t *testing.T, stream, chunkBytes []byte) {
		chunks := make([]int, len(chunkBytes))
		for i, b := range chunkBytes {
			chunks[i] = int(b)
		}
		checkRecordReads(t, stream, chunks)
	})
}
