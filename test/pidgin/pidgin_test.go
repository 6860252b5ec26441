package pidgin

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
)

const (
	pidginUser, pidginPassword = "pidgin", "pidgin pw!" // punctuation exercises escaping
	goUser, goPassword         = "gouser", "go-pw"
	fromPidgin                 = "hello from pidgin & friends"
	fromGo                     = "hello back from go <3"
	harnessTimeout             = 30 * time.Second
)

// buildHarness compiles harness.c against the installed libpurple.
func buildHarness(t *testing.T) string {
	t.Helper()
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "purple", "glib-2.0").CombinedOutput()
	if err != nil {
		t.Fatalf("libpurple is not installed (run scripts/deps.sh or apt-get install libpurple-dev): pkg-config: %v\n%s", err, flags)
	}
	bin := filepath.Join(t.TempDir(), "harness")
	args := append([]string{"-Wall", "-o", bin, filepath.Join("testdata", "harness.c")}, strings.Fields(string(flags))...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("building the harness: %v\n%s", err, out)
	}
	return bin
}

// purpleDir makes a libpurple user directory in which the simulator's
// certificate is already a trusted peer, as if a user had accepted it.
func purpleDir(t *testing.T, srv *gwsim.Server, host string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "purple")
	peers := filepath.Join(dir, "certificates", "x509", "tls_peers")
	if err := os.MkdirAll(peers, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(peers, host), srv.ServerCertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPidginExchangesIMsWithGoClient(t *testing.T) {
	start := time.Now()
	bin := buildHarness(t)
	srv, err := gwsim.New(gwsim.WithUser(pidginUser, pidginPassword), gwsim.WithUser(goUser, goPassword))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*harnessTimeout)
	defer cancel()
	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// The Go side: log in, and answer Pidgin's IM in the same conversation.
	got := make(chan gwproto.Event, 4)
	goClient, err := gwclient.Dial(ctx, srv.Addr(), gwclient.WithRootCAs(srv.CertPool()),
		gwclient.WithEventHandler(func(ev gwproto.Event) {
			if ev.Type == gwproto.EventReceiveMessage {
				got <- ev
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer goClient.Close()
	if _, err := goClient.Login(ctx, goUser, goPassword, "collabgw-pidgin-test", ""); err != nil {
		t.Fatal(err)
	}
	replied := make(chan error, 1)
	go func() {
		select {
		case ev := <-got:
			if ev.Text != fromPidgin {
				replied <- errors.New("Go client received " + strconv.Quote(ev.Text))
				return
			}
			// Pidgin sent first, so it already knows us: its getdetails
			// answer makes our reply display (Pidgin shows an IM only
			// from a user it has details of).
			replied <- goClient.SendMessage(ctx, ev.Source, fromGo)
		case <-ctx.Done():
			replied <- errors.New("Go client received no IM from Pidgin")
		}
	}()

	stdout, stderr, runErr := runHarness(ctx, t, bin, srv, pidginPassword)
	if runErr != nil {
		t.Fatalf("Pidgin's GroupWise client did not complete the exchange: %v\nlibpurple stderr (last 4 KiB):\n%s", runErr, tail(stderr, 4096))
	}
	if err := <-replied; err != nil {
		t.Fatal(err)
	}
	// AUTH_ATTRIBUTE in getdetails makes Pidgin name the sender "gouser",
	// not a dotted DN.
	if want := "received IM from=" + goUser + " text=" + fromGo; !strings.Contains(stdout, want) {
		t.Fatalf("harness output lacks %q", want)
	}
	t.Logf("Pidgin and the Go client exchanged IMs through the simulator in %v", time.Since(start).Round(time.Millisecond))
}

// TestPidginReportsBadPassword checks the simulator's refusal reads to
// Pidgin as an authentication failure, which it does not retry.
func TestPidginReportsBadPassword(t *testing.T) {
	bin := buildHarness(t)
	srv, err := gwsim.New(gwsim.WithUser(pidginUser, pidginPassword), gwsim.WithUser(goUser, goPassword))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*harnessTimeout)
	defer cancel()
	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	stdout, _, runErr := runHarness(ctx, t, bin, srv, "wrong")
	var exit *exec.ExitError
	if !errors.As(runErr, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("harness ended with %v, want exit 2 (connection error)\n%s", runErr, stdout)
	}
	// 2 is PURPLE_CONNECTION_ERROR_AUTHENTICATION_FAILED.
	if !strings.Contains(stdout, "connection error 2:") {
		t.Fatalf("Pidgin did not report an authentication failure:\n%s", stdout)
	}
}

// runHarness runs the harness as the Pidgin user against srv. Set
// HARNESS_DEBUG=1 to get libpurple's debug log on stderr.
func runHarness(ctx context.Context, t *testing.T, bin string, srv *gwsim.Server, password string) (string, string, error) {
	t.Helper()
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithTimeout(ctx, harnessTimeout+5*time.Second)
	defer cancel()
	args := []string{
		"--userdir", purpleDir(t, srv, host), "--server", host, "--port", port,
		"--user", pidginUser, "--password", password, "--peer", goUser,
		"--send", fromPidgin, "--expect", fromGo,
		"--timeout", strconv.Itoa(int(harnessTimeout / time.Second)),
	}
	if os.Getenv("HARNESS_DEBUG") != "" {
		args = append(args, "--debug")
	}
	cmd := exec.CommandContext(hctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("harness output:\n%s", stdout.String())
	return stdout.String(), stderr.String(), err
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
