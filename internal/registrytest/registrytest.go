// Package registrytest runs a real container registry for tests: Debian's
// docker-registry (the CNCF distribution registry, which scripts/deps.sh
// installs) on a free loopback port, with its own storage in a test
// folder, stopped when the test ends. Test code only.
package registrytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// startTimeout bounds the registry's start on a busy machine.
const startTimeout = 30 * time.Second

// Start runs a registry and returns its host:port. With a user, the
// registry requires basic authentication with that user and password
// (htpasswd); without, it serves anyone.
func Start(t testing.TB, user, password string) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("docker-registry is missing (Debian package docker-registry): run make deps")
	}
	dir := t.TempDir()
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: collabgw-test\n    path: %s\n", htpasswd)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n%s",
		filepath.Join(dir, "storage"), addr, auth)
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", configFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", logs.String())
		}
	})
	want := http.StatusOK
	if user != "" {
		want = http.StatusUnauthorized
	}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get("http://" + addr + "/v2/") //nolint:noctx // a readiness poll with its own deadline
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return addr
			}
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry not ready on %s after %s (last: %v)", addr, startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
