// Package lambdalocal runs collabgw's function binaries the way Lambda does,
// without Docker: each function gets a small pool of AWS Lambda Runtime
// Interface Emulator processes (one invoke at a time each, as the emulator
// crashes on overlapping invokes), and Handler serves Lambda's Invoke API
// over them, so the AWS SDK's Invoke with a BaseEndpoint override works
// against it as it does against `sam local start-lambda`.
package lambdalocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults.
const (
	DefaultInstances = 2
	// DefaultTimeout bounds one invoke, like a function's configured timeout.
	DefaultTimeout = 30 * time.Second
	maxPayload     = 6 << 20 // Lambda's synchronous payload limit
)

// ErrUnknownFunction means no function of that name is served.
var ErrUnknownFunction = errors.New("lambdalocal: unknown function")

// Function is one function to serve.
type Function struct {
	Name string
	// Bootstrap is the path of the function binary.
	Bootstrap string
	// Env is the function's environment (KEY=VALUE), on top of the basic
	// Lambda variables the emulator sets.
	Env []string
	// Instances is the number of emulator processes (default 2).
	Instances int
}

// Config says what to run.
type Config struct {
	// Emulator is the path of the aws-lambda-rie binary.
	Emulator  string
	Functions []Function
	Log       *slog.Logger
	// Output receives the functions' own output (their JSON log lines);
	// nil discards it.
	Output io.Writer
}

// Result is one invoke's answer.
type Result struct {
	Payload []byte
	// FunctionError is "Unhandled" when the handler returned an error, as
	// Lambda's X-Amz-Function-Error header says; the payload then holds
	// errorType and errorMessage.
	FunctionError string
}

// Runtime serves the functions.
type Runtime struct {
	log   *slog.Logger
	pools map[string]*pool

	mu    sync.Mutex // guards colds
	colds map[string][]time.Duration
}

type pool struct {
	name string
	idle chan *instance // instances free for an invoke
	all  []*instance
}

type instance struct {
	warm   bool // has served an invoke; only touched by the invoke holding it
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
	err    error // why it exited; read after exited is closed
}

// Start starts every function's emulators.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	if _, err := os.Stat(cfg.Emulator); err != nil {
		return nil, fmt.Errorf("lambdalocal: emulator: %w", err)
	}
	r := &Runtime{log: cfg.Log, pools: map[string]*pool{}, colds: map[string][]time.Duration{}}
	for _, fn := range cfg.Functions {
		if _, err := os.Stat(fn.Bootstrap); err != nil {
			r.Close()
			return nil, fmt.Errorf("lambdalocal: function %s: %w", fn.Name, err)
		}
		n := fn.Instances
		if n <= 0 {
			n = DefaultInstances
		}
		p := &pool{name: fn.Name, idle: make(chan *instance, n)}
		r.pools[fn.Name] = p
		for range n {
			inst, err := r.startInstance(ctx, cfg, fn)
			if err != nil {
				r.Close()
				return nil, err
			}
			p.all = append(p.all, inst)
			p.idle <- inst
		}
	}
	return r, nil
}

func (r *Runtime) startInstance(ctx context.Context, cfg Config, fn Function) (*instance, error) {
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	rieAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.Emulator,
		"--runtime-interface-emulator-address", rieAddr,
		"--runtime-api-address", apiAddr,
		"--log-level", "error",
		fn.Bootstrap)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_FUNCTION_NAME=" + fn.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(DefaultTimeout.Seconds())),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	}, fn.Env...)
	// Its own process group keeps a terminal's Ctrl-C from reaching it
	// before the stack has stopped what depends on it; Pdeathsig still ends
	// it if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("lambdalocal: %w", err)
	}
	cmd.Stderr = cfg.Output
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lambdalocal: start emulator for %s: %w", fn.Name, err)
	}
	inst := &instance{cmd: cmd, url: "http://" + rieAddr + "/2015-03-31/functions/function/invocations", exited: make(chan struct{})}
	go func() {
		_, _ = io.Copy(cfg.Output, out)
		inst.err = cmd.Wait()
		close(inst.exited)
	}()
	if err := waitListening(ctx, rieAddr, inst.exited); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("lambdalocal: emulator for %s: %w", fn.Name, err)
	}
	return inst, nil
}

// ColdStarts returns how long each emulator's first invoke of a function
// took: the function process's start-up and init plus one invoke. (The
// emulator's own "Init Duration" only times its bookkeeping.)
func (r *Runtime) ColdStarts(name string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.colds[name]...)
}

// Invoke runs one synchronous invoke of a function.
func (r *Runtime) Invoke(ctx context.Context, name string, payload []byte) (Result, error) {
	p, ok := r.pools[name]
	if !ok {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownFunction, name)
	}
	var inst *instance
	select {
	case inst = <-p.idle:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("lambdalocal: wait for a free %s emulator: %w", name, ctx.Err())
	}
	defer func() { p.idle <- inst }()
	select {
	case <-inst.exited:
		return Result{}, fmt.Errorf("lambdalocal: %s emulator exited: %w", name, errors.Join(inst.err, errors.New("no longer serving")))
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inst.url, bytes.NewReader(payload))
	if err != nil {
		return Result{}, fmt.Errorf("lambdalocal: %w", err)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("lambdalocal: invoke %s: %w", name, err)
	}
	if !inst.warm {
		inst.warm = true
		r.mu.Lock()
		r.colds[name] = append(r.colds[name], time.Since(start))
		r.mu.Unlock()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPayload+1))
	if err != nil {
		return Result{}, fmt.Errorf("lambdalocal: read %s answer: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Result{Payload: body, FunctionError: "Unhandled"}, nil
	}
	return Result{Payload: body, FunctionError: functionError(body)}, nil
}

// functionError recognises the runtime's error document.
func functionError(body []byte) string {
	var doc struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.ErrorType != nil && doc.ErrorMessage != nil {
		return "Unhandled"
	}
	return ""
}

// Close stops every emulator.
func (r *Runtime) Close() {
	for _, p := range r.pools {
		for _, inst := range p.all {
			_ = inst.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, inst := range p.all {
			select {
			case <-inst.exited:
			case <-time.After(3 * time.Second):
				_ = inst.cmd.Process.Kill()
				<-inst.exited
			}
		}
	}
}

// Handler serves Lambda's Invoke API:
// POST /2015-03-31/functions/{name or ARN}/invocations.
func (r *Runtime) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{function}/invocations", func(w http.ResponseWriter, req *http.Request) {
		name := req.PathValue("function")
		if i := strings.LastIndex(name, ":function:"); i >= 0 {
			name = name[i+len(":function:"):]
		}
		if t := req.Header.Get("X-Amz-Invocation-Type"); t != "" && t != "RequestResponse" {
			writeAPIError(w, http.StatusBadRequest, "InvalidParameterValueException", "only RequestResponse invocations are served locally")
			return
		}
		payload, err := io.ReadAll(io.LimitReader(req.Body, maxPayload+1))
		if err != nil || len(payload) > maxPayload {
			writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "payload too large")
			return
		}
		if len(payload) == 0 {
			payload = []byte("{}")
		}
		res, err := r.Invoke(req.Context(), name, payload)
		switch {
		case errors.Is(err, ErrUnknownFunction):
			writeAPIError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
			return
		case err != nil:
			r.log.Error("invoke failed", "function", name, "err", err)
			writeAPIError(w, http.StatusBadGateway, "ServiceException", "the local emulator failed")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		if res.FunctionError != "" {
			w.Header().Set("X-Amz-Function-Error", res.FunctionError)
		}
		_, _ = w.Write(res.Payload)
	})
	return mux
}

func writeAPIError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("lambdalocal: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w", addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
