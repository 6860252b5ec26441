package gwclient

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
)

func TestLoginReturnsUserDetails(t *testing.T) {
	srv := startSim(t, gwsim.WithContacts("alice", "bob"), gwsim.WithKeepalive(3))
	_, info, _ := login(t, srv, "Alice", "alice-pw")
	if info.DN != "cn=alice"+gwsim.DefaultDNSuffix || info.UserID != "alice" {
		t.Fatalf("info = %+v", info)
	}
	if info.Keepalive != 3*time.Minute {
		t.Fatalf("keepalive = %v, want the server's 3 minutes", info.Keepalive)
	}
	if len(info.Contacts) != 1 || info.Contacts[0].UserID != "bob" || info.Contacts[0].Status != gwproto.StatusOffline {
		t.Fatalf("contacts = %+v", info.Contacts)
	}
}

func TestMessagesCrossBothWays(t *testing.T) {
	srv := startSim(t)
	alice, aliceInfo, aliceEvents := login(t, srv, "alice", "alice-pw")
	bob, bobInfo, bobEvents := login(t, srv, "bob", "bob-pw")

	if err := alice.SendMessage(ctxT(t), "bob", "hello {bob} é 😀"); err != nil {
		t.Fatal(err)
	}
	got := bobEvents.next(t, gwproto.EventReceiveMessage)
	if got.Text != "hello {bob} é 😀" || got.Source != aliceInfo.DN {
		t.Fatalf("bob got %+v", got)
	}
	// Reply to the sender's DN: the conference comes from the IM itself.
	before := srv.Requests("createconf")
	if err := bob.SendMessage(ctxT(t), got.Source, "hi alice"); err != nil {
		t.Fatal(err)
	}
	back := aliceEvents.next(t, gwproto.EventReceiveMessage)
	if back.Text != "hi alice" || back.Source != bobInfo.DN || back.GUID != got.GUID {
		t.Fatalf("alice got %+v, want text from %s in conference %s", back, bobInfo.DN, got.GUID)
	}
	if n := srv.Requests("createconf") - before; n != 0 {
		t.Fatalf("reply created %d conferences, want the received one reused", n)
	}
}

func TestSendMessageTruncatesLongText(t *testing.T) {
	srv := startSim(t)
	alice, _, _ := login(t, srv, "alice", "alice-pw")
	_, _, bobEvents := login(t, srv, "bob", "bob-pw")
	long := strings.Repeat("é", MaxMessageBytes) // 2 bytes each
	if err := alice.SendMessage(ctxT(t), "bob", long); err != nil {
		t.Fatal(err)
	}
	got := bobEvents.next(t, gwproto.EventReceiveMessage)
	if len(got.Text) != MaxMessageBytes || !strings.HasPrefix(long, got.Text) {
		t.Fatalf("received %d bytes, want the first %d", len(got.Text), MaxMessageBytes)
	}
}

func TestSendMessageToUnknownUser(t *testing.T) {
	srv := startSim(t)
	alice, _, _ := login(t, srv, "alice", "alice-pw")
	err := alice.SendMessage(ctxT(t), "nobody", "hi")
	var re *ResultError
	if !errors.Is(err, ErrUserNotFound) || !errors.As(err, &re) || re.Code != gwproto.ResultUserNotFound {
		t.Fatalf("err = %v, want ErrUserNotFound with code 53517", err)
	}
}

func TestStatusChangeReachesWatchers(t *testing.T) {
	srv := startSim(t)
	alice, aliceInfo, _ := login(t, srv, "alice", "alice-pw")
	bob, _, bobEvents := login(t, srv, "bob", "bob-pw")
	if _, err := bob.LookupUser(ctxT(t), "alice"); err != nil { // bob now watches alice
		t.Fatal(err)
	}
	if err := alice.SetStatus(ctxT(t), gwproto.StatusAway, "at lunch", ""); err != nil {
		t.Fatal(err)
	}
	ev := bobEvents.next(t, gwproto.EventStatusChange)
	if ev.Source != aliceInfo.DN || ev.Status != gwproto.StatusAway || ev.Text != "at lunch" {
		t.Fatalf("bob got %+v", ev)
	}
	st, text, err := bob.GetStatus(ctxT(t), aliceInfo.DN)
	if err != nil || st != gwproto.StatusAway || text != "at lunch" {
		t.Fatalf("GetStatus = %v, %q, %v", st, text, err)
	}
}

func TestAutoReplyWhileAway(t *testing.T) {
	srv := startSim(t)
	alice, _, aliceEvents := login(t, srv, "alice", "alice-pw")
	bob, _, _ := login(t, srv, "bob", "bob-pw")
	if err := bob.SetStatus(ctxT(t), gwproto.StatusBusy, "", "in a meeting"); err != nil {
		t.Fatal(err)
	}
	if err := alice.SendMessage(ctxT(t), "bob", "ping?"); err != nil {
		t.Fatal(err)
	}
	if ev := aliceEvents.next(t, gwproto.EventReceiveAutoReply); ev.Text != "in a meeting" {
		t.Fatalf("auto-reply = %+v", ev)
	}
}

func TestLoginErrorCodes(t *testing.T) {
	srv := startSim(t,
		gwsim.WithUser("locked", "pw"), gwsim.WithLocked("locked"),
		gwsim.WithUser("adminlocked", "pw"), gwsim.WithAdminLocked("adminlocked"),
		gwsim.WithUser("disabled", "pw"), gwsim.WithDisabled("disabled"),
	)
	tests := []struct {
		name, user, password string
		want                 error
		code                 gwproto.ResultCode
	}{
		{"wrong password is bad credentials", "alice", "nope", ErrBadCredentials, gwproto.ResultPasswordInvalid},
		{"missing password is bad credentials", "alice", "", ErrBadCredentials, gwproto.ResultCredentialsMissing},
		{"unknown user is not found", "nobody", "x", ErrUserNotFound, gwproto.ResultUserNotFound},
		{"locked account", "locked", "pw", ErrAccountLocked, gwproto.ResultAccessDenied},
		{"admin locked account", "adminlocked", "pw", ErrAccountLocked, gwproto.ResultAdminLocked},
		{"disabled account", "disabled", "pw", ErrAccountLocked, gwproto.ResultUserDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := dial(t, srv)
			_, err := c.Login(ctxT(t), tt.user, tt.password, userAgent, "")
			var re *ResultError
			if !errors.Is(err, tt.want) || !errors.As(err, &re) || re.Code != tt.code {
				t.Fatalf("err = %v, want %v with code %d", err, tt.want, tt.code)
			}
			if strings.Contains(err.Error(), tt.password) && tt.password != "" {
				t.Fatal("error text holds the password")
			}
			_ = waitDone(t, c) // a failed login ends the client
		})
	}
}

func TestServerBusyBeyondMaxConnections(t *testing.T) {
	srv := startSim(t, gwsim.WithMaxConnections(1))
	login(t, srv, "alice", "alice-pw")
	c, _ := dial(t, srv)
	_, err := c.Login(ctxT(t), "bob", "bob-pw", userAgent, "")
	var re *ResultError
	if !errors.Is(err, ErrServerBusy) || !errors.As(err, &re) || re.Code != gwproto.ResultServerBusy {
		t.Fatalf("err = %v, want ErrServerBusy (53539)", err)
	}
}

func TestOtherResultCodeIsTypedWithoutClass(t *testing.T) {
	err := error(&ResultError{Command: "x", Code: gwproto.ResultDirectoryFailure})
	for _, s := range []error{ErrBadCredentials, ErrAccountLocked, ErrUserNotFound, ErrServerBusy} {
		if errors.Is(err, s) {
			t.Fatalf("%v matched %v", err, s)
		}
	}
	if !strings.Contains(err.Error(), "53521") {
		t.Fatalf("error text %q lacks the code", err)
	}
}

func TestSecondLoginKicksFirstWith114(t *testing.T) {
	srv := startSim(t, gwsim.WithKickDuplicate(true))
	first, info, firstEvents := login(t, srv, "alice", "alice-pw")
	second, _, _ := login(t, srv, "alice", "alice-pw")
	ev := firstEvents.next(t, gwproto.EventUserDisconnect)
	if ev.Source != info.DN {
		t.Fatalf("114 source = %q, want the user's DN", ev.Source)
	}
	if err := waitDone(t, first); !errors.Is(err, ErrSignedOnElsewhere) {
		t.Fatalf("first ended with %v, want ErrSignedOnElsewhere", err)
	}
	if err := second.Ping(ctxT(t)); err != nil {
		t.Fatalf("second session: %v", err)
	}
	if srv.LoggedIn() != 1 {
		t.Fatalf("logged in = %d, want 1", srv.LoggedIn())
	}
}

func TestSecondLoginCoexistsByDefault(t *testing.T) {
	srv := startSim(t)
	first, _, _ := login(t, srv, "alice", "alice-pw")
	second, _, _ := login(t, srv, "alice", "alice-pw")
	for _, c := range []*Client{first, second} {
		if err := c.Ping(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerShutdownSends115(t *testing.T) {
	srv := startSim(t)
	c, _, evs := login(t, srv, "alice", "alice-pw")
	srv.Close()
	evs.next(t, gwproto.EventServerDisconnect)
	if err := waitDone(t, c); !errors.Is(err, ErrServerDisconnect) {
		t.Fatalf("ended with %v, want ErrServerDisconnect", err)
	}
	if err := c.Ping(ctxT(t)); !errors.Is(err, ErrServerDisconnect) {
		t.Fatalf("call after the end = %v", err)
	}
}

func TestKeepalivePingsOnInterval(t *testing.T) {
	srv := startSim(t)
	_, info, _ := login(t, srv, "alice", "alice-pw", WithKeepalive(20*time.Millisecond))
	if info.Keepalive != 20*time.Millisecond {
		t.Fatalf("keepalive = %v, want the option when the server gives none", info.Keepalive)
	}
	deadline := time.Now().Add(testTimeout)
	for srv.Requests("ping") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d pings", srv.Requests("ping"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentCallsAreMatchedByTransaction(t *testing.T) {
	srv := startSim(t)
	alice, _, _ := login(t, srv, "alice", "alice-pw")
	_, _, bobEvents := login(t, srv, "bob", "bob-pw")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- alice.Ping(ctxT(t)) }()
		go func() {
			defer wg.Done()
			errs <- alice.SendMessage(ctxT(t), "bob", strings.Repeat("x", i+1))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		bobEvents.next(t, gwproto.EventReceiveMessage)
	}
}

func TestCallsBeforeLoginAndAfterClose(t *testing.T) {
	srv := startSim(t)
	c, _ := dial(t, srv)
	if err := c.Ping(ctxT(t)); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("ping before login = %v", err)
	}
	if _, err := c.Login(ctxT(t), "alice", "alice-pw", userAgent, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctxT(t), "alice", "alice-pw", userAgent, ""); !errors.Is(err, ErrAlreadyLoggedIn) {
		t.Fatalf("second login = %v", err)
	}
	c.Close()
	c.Close()
	if err := c.Ping(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("ping after close = %v", err)
	}
	if err := waitDone(t, c); !errors.Is(err, ErrClosed) {
		t.Fatalf("Err() = %v", err)
	}
}

func TestCancelledContextFailsFast(t *testing.T) {
	srv := startSim(t)
	c, _, _ := login(t, srv, "alice", "alice-pw")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if err := c.Ping(ctxT(t)); err != nil {
		t.Fatalf("client unusable after a cancelled call: %v", err)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"nil CA pool", WithRootCAs(nil)},
		{"CA bundle without certificates", WithCACertPEM([]byte("junk"))},
		{"short pin", WithPinnedSHA256("abcd")},
		{"pin that is not hex", WithPinnedSHA256(strings.Repeat("zz", 32))},
		{"empty server name", WithServerName("")},
		{"zero request timeout", WithRequestTimeout(0)},
		{"negative handshake timeout", WithHandshakeTimeout(-time.Second)},
		{"zero message timeout", WithMessageTimeout(0)},
		{"keepalive below the minimum", WithKeepalive(time.Microsecond)},
		{"nil event handler", WithEventHandler(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Dial(context.Background(), "127.0.0.1:1", tt.opt); !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v, want ErrBadOption", err)
			}
		})
	}
}
