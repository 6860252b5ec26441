package gwsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
)

const testTimeout = 5 * time.Second

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	srv, err := New(append([]Option{WithUser("alice", "pw-a"), WithUser("bob", "pw-b")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// raw is a hand-driven client, to see exactly what the server writes.
type raw struct {
	t    *testing.T
	conn *tls.Conn
	br   *bufio.Reader
	txn  int
}

func dialRaw(t *testing.T, srv *Server) *raw {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{RootCAs: srv.CertPool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*tls.Conn)
	_ = tc.SetDeadline(time.Now().Add(testTimeout))
	return &raw{t: t, conn: tc, br: bufio.NewReader(tc)}
}

func (r *raw) encode(cmd string, fs ...gwproto.Field) []byte {
	r.t.Helper()
	r.txn++
	b, err := gwproto.AppendRequest(nil, gwproto.Request{Command: cmd, TransactionID: strconv.Itoa(r.txn), Fields: fs})
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *raw) send(cmd string, fs ...gwproto.Field) {
	r.t.Helper()
	if _, err := r.conn.Write(r.encode(cmd, fs...)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) read() gwproto.Message {
	r.t.Helper()
	m, err := gwproto.ReadMessage(r.br)
	if err != nil {
		r.t.Fatalf("reading a server message: %v", err)
	}
	return m
}

// response reads messages until a response, returning it.
func (r *raw) response() gwproto.Response {
	r.t.Helper()
	for range 10 {
		if m := r.read(); !m.IsEvent {
			return m.Response
		}
	}
	r.t.Fatal("no response among 10 messages")
	return gwproto.Response{}
}

func (r *raw) login(user, pw string) gwproto.Response {
	r.t.Helper()
	r.send("login", gwproto.String(gwproto.TagUserID, user), gwproto.String(gwproto.TagCredentials, pw),
		gwproto.String(gwproto.TagUserAgent, "raw"), gwproto.Number(gwproto.TagBuild, gwproto.ProtocolBuild))
	return r.response()
}

func result(t *testing.T, resp gwproto.Response) gwproto.ResultCode {
	t.Helper()
	code, err := resp.Result()
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestLoginAnswerOrderAndDetails(t *testing.T) {
	srv := start(t, WithContacts("alice", "bob"), WithKeepalive(2))
	resp := dialRaw(t, srv).login("ALICE", "pw-a")
	fs := resp.Fields
	// Pidgin reads a first field that is an array as the user's details.
	if fs[0].Tag != gwproto.TagResultCode || fs[1].Tag != gwproto.TagTransactionID || fs[1].Str != "1" {
		t.Fatalf("first fields = %s, %s", fs[0].Tag, fs[1].Tag)
	}
	for tag, want := range map[string]string{
		gwproto.TagDN: "cn=alice" + DefaultDNSuffix, gwproto.TagAuthAttribute: "alice", gwproto.TagStatus: "2",
	} {
		if got, _ := fs.Str(tag); got != want {
			t.Errorf("%s = %q, want %q", tag, got, want)
		}
	}
	if m, _ := fs.Uint(gwproto.TagKeepalive); m != 2 {
		t.Errorf("keepalive = %d", m)
	}
	list, ok := fs.Find(gwproto.TagContactList)
	if !ok || len(list.Fields.All(gwproto.TagContact)) != 1 {
		t.Fatalf("contact list = %+v", list)
	}
}

func TestCreateConfAnswerStartsWithConversation(t *testing.T) {
	srv := start(t)
	r := dialRaw(t, srv)
	r.login("alice", "pw-a")
	r.send("createconf", gwproto.Array(gwproto.TagConversation, gwproto.String(gwproto.TagObjectID, gwproto.BlankGUID)),
		gwproto.DN(gwproto.TagDN, "cn=bob"+DefaultDNSuffix), gwproto.DN(gwproto.TagDN, "cn=alice"+DefaultDNSuffix))
	resp := r.response()
	// Pidgin takes the GUID from the first field and crashes otherwise.
	first := resp.Fields[0]
	guid, _ := first.Fields.Str(gwproto.TagObjectID)
	if first.Tag != gwproto.TagConversation || len(guid) != len(gwproto.BlankGUID) || guid == gwproto.BlankGUID {
		t.Fatalf("first field = %+v", first)
	}
	if result(t, resp) != gwproto.ResultOK {
		t.Fatal("createconf failed")
	}
}

func TestGetDetailsResolvesIDsAndDNs(t *testing.T) {
	srv := start(t)
	r := dialRaw(t, srv)
	r.login("alice", "pw-a")
	tests := []struct {
		name  string
		field gwproto.Field
		want  gwproto.ResultCode
	}{
		{"user id", gwproto.String(gwproto.TagUserID, "Bob"), gwproto.ResultOK},
		{"DN in the user id field, as Pidgin sends it", gwproto.String(gwproto.TagUserID, "CN=bob"+DefaultDNSuffix), gwproto.ResultOK},
		{"DN field", gwproto.DN(gwproto.TagDN, "cn=bob"+DefaultDNSuffix), gwproto.ResultOK},
		{"unknown user", gwproto.String(gwproto.TagUserID, "carol"), gwproto.ResultUserNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.send("getdetails", tt.field)
			resp := r.response()
			if got := result(t, resp); got != tt.want {
				t.Fatalf("result = %v, want %v", got, tt.want)
			}
			if tt.want != gwproto.ResultOK {
				return
			}
			res, _ := resp.Fields.Find(gwproto.TagResults)
			// Without AUTH_ATTRIBUTE Pidgin shows a dotted DN as the name.
			if id, _ := res.Fields.Str(gwproto.TagAuthAttribute); id != "bob" {
				t.Fatalf("auth attribute = %q", id)
			}
			if dn, _ := res.Fields.Str(gwproto.TagDN); dn != "cn=bob"+DefaultDNSuffix {
				t.Fatalf("DN = %q", dn)
			}
		})
	}
}

func TestRequestInTinyRecordsWithStrayNUL(t *testing.T) {
	srv := start(t)
	r := dialRaw(t, srv)
	req := r.encode("login", gwproto.String(gwproto.TagUserID, "alice"), gwproto.String(gwproto.TagCredentials, "pw-a"))
	req = append([]byte{0}, req...) // a stray NUL before the request
	for i := range req {
		// One TLS record per byte, like Pidgin's many small writes at the extreme.
		if _, err := r.conn.Write(req[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if code := result(t, r.response()); code != gwproto.ResultOK {
		t.Fatalf("result = %v", code)
	}
}

func TestMalformedRequestClosesOnlyThatConnection(t *testing.T) {
	srv := start(t)
	bad := dialRaw(t, srv)
	if _, err := bad.conn.Write([]byte("POST /login HTTP/1.0\r\n\r\n&tag=A&cmd=Z&val=1&type=10\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("read after a malformed request = %v, want EOF", err)
	}
	if code := result(t, dialRaw(t, srv).login("bob", "pw-b")); code != gwproto.ResultOK {
		t.Fatalf("server unusable after a malformed request: %v", code)
	}
}

func TestCommandsBeforeLoginAndUnknownCommands(t *testing.T) {
	srv := start(t)
	early := dialRaw(t, srv)
	early.send("ping")
	if code := result(t, early.response()); code != gwproto.ResultCredentialsMissing {
		t.Fatalf("ping before login = %v", code)
	}
	r := dialRaw(t, srv)
	r.login("alice", "pw-a")
	r.send("createfolder", gwproto.String(gwproto.TagDisplayName, "x"))
	if code := result(t, r.response()); code != gwproto.ResultNotSupported {
		t.Fatalf("unknown command = %v", code)
	}
	if srv.Requests("other") != 1 {
		t.Fatalf("other = %d", srv.Requests("other"))
	}
}

func TestSendMessageRoutesAsEvent108(t *testing.T) {
	srv := start(t)
	a, b := dialRaw(t, srv), dialRaw(t, srv)
	a.login("alice", "pw-a")
	b.login("bob", "pw-b")
	a.send("createconf", gwproto.Array(gwproto.TagConversation, gwproto.String(gwproto.TagObjectID, gwproto.BlankGUID)),
		gwproto.DN(gwproto.TagDN, "cn=bob"+DefaultDNSuffix))
	guid, _ := a.response().Fields[0].Fields.Str(gwproto.TagObjectID)
	a.send("sendmessage", gwproto.Array(gwproto.TagConversation, gwproto.String(gwproto.TagObjectID, guid)),
		gwproto.Array(gwproto.TagMessage, gwproto.String(gwproto.TagMessageBody, gwproto.ToRTF("hi bob")), gwproto.Number(gwproto.TagMessageType, 0)),
		gwproto.DN(gwproto.TagDN, "cn=bob"+DefaultDNSuffix))
	if code := result(t, a.response()); code != gwproto.ResultOK {
		t.Fatalf("sendmessage = %v", code)
	}
	m := b.read()
	if !m.IsEvent || m.Event.Type != gwproto.EventReceiveMessage || m.Event.GUID != guid ||
		m.Event.Source != "cn=alice"+DefaultDNSuffix || gwproto.PlainText(m.Event.Text) != "hi bob" {
		t.Fatalf("bob got %+v", m)
	}
	a.send("sendmessage", gwproto.Array(gwproto.TagConversation, gwproto.String(gwproto.TagObjectID, "[NOPE]")))
	if code := result(t, a.response()); code != gwproto.ResultConferenceNotFound {
		t.Fatalf("unknown conference = %v", code)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"user without password", WithUser("x", "")},
		{"user name with a comma", WithUser("a,b", "pw")},
		{"too many demo users", WithDemoUsers(MaxDemoUsers + 1)},
		{"negative max connections", WithMaxConnections(-1)},
		{"negative login delay", WithLoginDelay(-time.Second)},
		{"zero write timeout", WithWriteTimeout(0)},
		{"stall without a command", WithStall("", time.Second)},
		{"nil logger", WithLogger(nil)},
		{"contact list naming an unknown user", WithContacts("alice", "nobody")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(WithUser("alice", "pw"), tt.opt); !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v, want ErrBadOption", err)
			}
		})
	}
}

func TestDemoUsersAndCAFile(t *testing.T) {
	srv := start(t, WithDemoUsers(3))
	if code := result(t, dialRaw(t, srv).login("user0003", DemoPassword)); code != gwproto.ResultOK {
		t.Fatalf("demo login = %v", code)
	}
	path := t.TempDir() + "/ca.pem"
	if err := srv.WriteCA(path); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(srv.CACertPEM()), "-----BEGIN CERTIFICATE-----") {
		t.Fatal("CA is not PEM")
	}
}

func TestLoginsAndSessionsPerUser(t *testing.T) {
	srv := start(t)
	a1, a2 := dialRaw(t, srv), dialRaw(t, srv)
	if code := result(t, a1.login("alice", "pw-a")); code != gwproto.ResultOK {
		t.Fatalf("login: %v", code)
	}
	if code := result(t, dialRaw(t, srv).login("alice", "wrong")); code != gwproto.ResultPasswordInvalid {
		t.Fatalf("bad password: %v", code)
	}
	if code := result(t, a2.login("ALICE", "pw-a")); code != gwproto.ResultOK {
		t.Fatalf("second login: %v", code)
	}
	for _, tt := range []struct {
		user             string
		logins, sessions int
	}{
		{"alice", 2, 2},
		{"cn=alice" + DefaultDNSuffix, 2, 2},
		{"bob", 0, 0},
		{"nobody", 0, 0},
	} {
		t.Run(tt.user, func(t *testing.T) {
			if got := srv.Logins(tt.user); got != tt.logins {
				t.Errorf("Logins = %d, want %d", got, tt.logins)
			}
			if got := srv.SessionsOf(tt.user); got != tt.sessions {
				t.Errorf("SessionsOf = %d, want %d", got, tt.sessions)
			}
		})
	}
	a1.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.SessionsOf("alice") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("SessionsOf after a hang-up = %d, want 1", srv.SessionsOf("alice"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := srv.Logins("alice"); got != 2 {
		t.Fatalf("Logins after a hang-up = %d, want 2 (logins are counted, not held)", got)
	}
}
