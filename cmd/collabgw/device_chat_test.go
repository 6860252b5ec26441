package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

const chatTestTimeout = 10 * time.Second

// syncBuffer is an output the test reads while the command writes it.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) await(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(chatTestTimeout)
	for !strings.Contains(s.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q:\n%s", text, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeviceChat drives `collabgw device chat` against a gateway in the
// test: the login (password from standard input), an IM each way, and
// /quit with the gateway's acknowledgement.
func TestDeviceChat(t *testing.T) {
	dir := t.TempDir()
	devKey, gwKey := devprototest.Key("chat device"), devprototest.Key("chat gateway")
	for prefix, key := range map[string]devproto.PrivateKey{"device": devKey, "gateway": gwKey} {
		if err := devproto.WriteKeyFiles(filepath.Join(dir, prefix), key); err != nil {
			t.Fatal(err)
		}
	}
	verifier := devprototest.NewVerifier()
	verifier.Register(demo.DeviceID(1), devprototest.PublicKey("chat device"))
	resp, err := devproto.NewResponder(gwKey, verifier)
	if err != nil {
		t.Fatal(err)
	}
	acceptor, err := devconn.NewAcceptor(resp)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sessions := make(chan *devconn.Session, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := acceptor.Accept(context.Background(), conn, func(_ context.Context, h *devproto.Hello) *devproto.ServerStatus {
			if l := h.Request.(*devproto.Login); l.UserID != demo.UserID(1) || l.Password != "demo" {
				return &devproto.ServerStatus{Code: status.BadCredentials, Message: status.BadCredentials.Text()}
			}
			return &devproto.ServerStatus{Code: status.Accepted, SessionID: "s-chat", ResumeToken: devproto.ResumeToken{1}, Message: status.Accepted.Text(), StatusInterval: time.Hour}
		})
		if err == nil {
			sessions <- s
		}
	}()

	stdin, typing := io.Pipe()
	var out syncBuffer
	root := newRootCmd()
	root.SetIn(stdin)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"device", "chat", "--edge", ln.Addr().String(), "--gateway-key", filepath.Join(dir, "gateway.pub"),
		"--key", filepath.Join(dir, "device.key"), "--user", demo.UserID(1), "--password-file", "-"})
	done := make(chan error, 1)
	go func() { done <- root.Execute() }()
	ctx, cancel := context.WithTimeout(context.Background(), chatTestTimeout)
	defer cancel()
	write := func(line string) {
		t.Helper()
		if _, err := io.WriteString(typing, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(gw *devconn.Session, want devproto.MsgType) devproto.Message {
		t.Helper()
		for {
			m, err := gw.Receive(ctx)
			if err != nil {
				t.Fatalf("gateway waiting for %v: %v", want, err)
			}
			if m.Type() == want {
				return m
			}
		}
	}

	write("demo")
	var gw *devconn.Session
	select {
	case gw = <-sessions:
		defer gw.Close()
	case <-ctx.Done():
		t.Fatalf("no login; output:\n%s", out.String())
	}
	out.await(t, "ACCEPTED (Accepted) session s-chat")

	write("@jdoe hello there")
	if im := receive(gw, devproto.TypeSendIM).(*devproto.SendIM); im.To != "jdoe" || im.Text != "hello there" {
		t.Fatalf("gateway got %+v", im)
	}
	if err := gw.Send(ctx, &devproto.ReceiveIM{From: "jdoe", Text: "hi back", ServerTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out.await(t, "[jdoe] hi back")

	write("/status busy In a meeting")
	if st := receive(gw, devproto.TypeStatus).(*devproto.Status); st.Presence != devproto.PresenceBusy || st.Text != "In a meeting" {
		t.Fatalf("gateway got %+v", st)
	}

	write("/quit")
	receive(gw, devproto.TypeLogout)
	if err := gw.Send(ctx, &devproto.ServerStatus{Code: status.LoggedOut, Message: devproto.LogoutText}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chat: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("chat did not end after /quit:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "logged out\n") || strings.Contains(out.String(), "did not confirm") {
		t.Fatalf("output:\n%s", out.String())
	}
	if strings.Contains(out.String(), "demo\n") {
		t.Fatal("the password was echoed")
	}
	typing.Close()
}
