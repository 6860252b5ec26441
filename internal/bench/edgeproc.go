package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/collabgw/collabgw/internal/lambdabuild"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/manifest"
)

// edgeStopTimeout bounds the edge's drain at the end of a run: every
// phase's sessions are released already, so it has nothing to drain.
const edgeStopTimeout = 30 * time.Second

// edgeProcess is the real edge binary, built from this module and
// configured by environment as ECS configures it, in a process of its own
// so that its CPU time is its own.
type edgeProcess struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	err    error // why it exited; read after exited is closed
	logf   *os.File
}

// buildEdge builds this module's edge binary into the data dir.
func buildEdge(ctx context.Context, cfg StackConfig) (string, error) {
	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		return "", err
	}
	bin, err := absJoin(cfg.DataDir, "bin", "edge")
	if err != nil {
		return "", err
	}
	cfg.Log.Info("building the edge", "out", bin)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./edge")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: go build ./edge: %w\n%s", err, out)
	}
	return bin, nil
}

func startEdge(ctx context.Context, st *localstack.Stack, cfg StackConfig, v EdgeVariant, bin string) (*edgeProcess, error) {
	key, err := keyText(st.GatewayKeyFile)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	health, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath, err := absJoin(cfg.DataDir, "edge-"+v.Name+".log")
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: edge log: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		manifest.EnvListenAddr + "=" + addr,
		manifest.EnvHealthAddr + "=" + health,
		manifest.EnvAuthorizeFunction + "=" + manifest.FunctionAuthorize,
		manifest.EnvReleaseFunction + "=" + manifest.FunctionRelease,
		manifest.EnvGatewayKey + "=" + key,
		manifest.EnvTable + "=" + st.Config.Table,
		manifest.EnvLeaseSeconds + "=" + strconv.Itoa(int(st.Config.Lease.Seconds())),
		manifest.EnvHeartbeatSeconds + "=" + strconv.Itoa(int(st.Config.Heartbeat.Seconds())),
		manifest.EnvLogLevel + "=info",
		// The load generator runs from one address.
		manifest.EnvAddrLoginRate + "=0",
		"AWS_REGION=" + localstack.LocalRegion,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_LAMBDA=" + st.LambdaEndpoint,
		"AWS_ENDPOINT_URL_DYNAMODB=" + st.DynamoEndpoint,
	}
	cmd.Env = append(cmd.Env, v.Env...) // later entries win
	cmd.Stdout, cmd.Stderr = logf, logf // EMF metrics and JSON logs, for a look after the run
	// Pdeathsig ends it if this process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start edge %s: %w", v.Name, err)
	}
	e := &edgeProcess{cmd: cmd, addr: addr, exited: make(chan struct{}), logf: logf}
	go func() {
		e.err = cmd.Wait()
		close(e.exited)
	}()
	if err := e.waitListening(ctx); err != nil {
		_ = e.stop()
		return nil, fmt.Errorf("%w (its log: %s)", err, logPath)
	}
	return e, nil
}

func (e *edgeProcess) waitListening(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", e.addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("bench: the edge exited during start-up: %w", e.err)
		case <-ctx.Done():
			return fmt.Errorf("bench: the edge is not listening on %s: %w", e.addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop drains the edge with SIGTERM, as ECS stops a task.
func (e *edgeProcess) stop() error {
	defer e.logf.Close()
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(edgeStopTimeout):
		_ = e.cmd.Process.Kill()
		<-e.exited
		return errors.New("bench: the edge did not stop within its drain time; killed")
	}
	var exit *exec.ExitError
	if e.err != nil && !errors.As(e.err, &exit) {
		return e.err
	}
	return nil
}
