package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/registrytest"
)

// fakeTerraform records its arguments and answers what the script asks:
// the variables through console, success for init and apply (keeping a
// copy of the image variables each apply saw), and the outputs.
const fakeTerraform = `#!/usr/bin/env bash
echo "terraform $*" >>"$FAKE_LOG"
case "$1" in
init) ;;
console)
	read -r expr
	case "$expr" in
	var.name) echo '"collabgw"' ;;
	var.region) echo '"eu-west-1"' ;;
	*) echo "unexpected console input $expr" >&2; exit 1 ;;
	esac ;;
apply)
	n=$(ls "$FAKE_DIR"/apply-* 2>/dev/null | wc -l)
	cp edge.auto.tfvars.json "$FAKE_DIR/apply-$n.json" 2>/dev/null || echo '{}' >"$FAKE_DIR/apply-$n.json" ;;
output)
	case "$2 $3" in
	"-raw load_balancer_dns_name") printf 'collabgw-edge-0123456789.elb.eu-west-1.amazonaws.com' ;;
	"-raw table_name") printf 'collabgw' ;;
	*) echo "unexpected output $*" >&2; exit 1 ;;
	esac ;;
*) echo "unexpected terraform $*" >&2; exit 1 ;;
esac
`

// fakeAWS records its arguments and stands in for the AWS CLI v2: the
// caller's account (unless FAKE_NO_CREDENTIALS), the repository (the test
// registry), no secrets yet, and create-secret keeping the value it read
// from the file:// argument.
const fakeAWS = `#!/usr/bin/env bash
echo "aws $*" >>"$FAKE_LOG"
if [ "$1" = --version ]; then echo "aws-cli/2.9.19 Python/3.11.2 fake"; exit 0; fi
case "$1 $2" in
"sts get-caller-identity")
	if [ -n "${FAKE_NO_CREDENTIALS:-}" ]; then echo "Unable to locate credentials." >&2; exit 253; fi
	echo 123456789012 ;;
"ecr describe-repositories") echo "$FAKE_REPO" ;;
"secretsmanager describe-secret") echo "ResourceNotFoundException" >&2; exit 254 ;;
"secretsmanager create-secret")
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--name) secret=$2; shift ;;
		--secret-string) value=$2; shift ;;
		esac
		shift
	done
	case "$value" in
	file://*) cp "${value#file://}" "$FAKE_DIR/secret-${secret//\//_}" ;;
	*) echo "secret value not passed by file://" >&2; exit 1 ;;
	esac
	echo "arn:aws:secretsmanager:eu-west-1:123456789012:secret:$secret-AbCdEf" ;;
*) echo "unexpected aws $*" >&2; exit 1 ;;
esac
`

type deployRun struct {
	t                    *testing.T
	root, fake, example  string
	dist, keys, log, bin string
}

func newRun(t *testing.T) *deployRun {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	r := &deployRun{t: t, root: root, fake: filepath.Join(tmp, "fake"), example: filepath.Join(tmp, "example"),
		dist: filepath.Join(tmp, "dist"), keys: filepath.Join(tmp, "keys"), bin: filepath.Join(tmp, "bin")}
	r.log = filepath.Join(r.fake, "calls.log")
	for _, d := range []string{r.fake, r.example, r.bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"terraform": fakeTerraform, "aws": fakeAWS} {
		if err := os.WriteFile(filepath.Join(r.bin, name), []byte(body), 0o755); err != nil { //nolint:gosec // an executable
			t.Fatal(err)
		}
	}
	example, err := os.ReadFile(filepath.Join(root, "infra", "examples", "complete", "terraform.tfvars.example"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.example, "terraform.tfvars.example"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// deploy runs make deploy's script with the stand-ins first in PATH and
// nothing of the caller's AWS configuration.
func (r *deployRun) deploy(extraEnv ...string) (stdout, stderr string, code int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(r.root, "scripts", "deploy.sh"))
	cmd.Dir = r.root
	home := filepath.Join(r.fake, "home")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "TERRAFORM=") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, goEnv(r.t)...)
	cmd.Env = append(cmd.Env, "PATH="+r.bin+":"+os.Getenv("PATH"), "HOME="+home,
		"FAKE_LOG="+r.log, "FAKE_DIR="+r.fake, "AUTO_APPROVE=1",
		"COLLABGW_DEPLOY_DIR="+r.example, "COLLABGW_DIST_DIR="+r.dist, "COLLABGW_KEYS_DIR="+r.keys)
	cmd.Env = append(cmd.Env, extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		r.t.Fatalf("deploy.sh: %v\n%s", err, errb.String())
	}
	return out.String(), errb.String(), code
}

// goEnv pins Go's caches to the caller's: the script runs with a HOME of
// its own (no ~/.aws, no ~/.docker), and Go would otherwise build and
// download everything again under it.
func goEnv(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(v) != 3 {
		t.Fatalf("go env printed %q", out)
	}
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOPATH=" + v[2]}
}

func (r *deployRun) calls() []string {
	b, err := os.ReadFile(r.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (r *deployRun) builtWithoutAWS() {
	r.t.Helper()
	for _, f := range []string{"authorize.zip", "release.zip", "sweep.zip", "edge-image/oci-layout", "edge-image.digest"} {
		if _, err := os.Stat(filepath.Join(r.dist, f)); err != nil {
			r.t.Errorf("not built before the stop: %v", err)
		}
	}
}

func TestMakeDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the functions and the edge image; skipped with -short")
	}
	r := newRun(t)

	// 1. A fresh checkout: everything that needs no AWS account is built,
	// then the script stops and says how to describe the deployment.
	_, stderr, code := r.deploy()
	if code != 2 || !strings.Contains(stderr, "terraform.tfvars.example") {
		t.Fatalf("without terraform.tfvars: exit %d, stderr:\n%s", code, stderr)
	}
	r.builtWithoutAWS()
	if c := r.calls(); len(c) != 0 {
		t.Fatalf("AWS or Terraform called before the tfvars check: %v", c)
	}

	// 2. With the settings but no AWS credentials: it stops at the first
	// step that needs the account, having touched nothing.
	tfvars, err := os.ReadFile(filepath.Join(r.example, "terraform.tfvars.example"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.example, "terraform.tfvars"), tfvars, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = r.deploy("FAKE_NO_CREDENTIALS=1")
	if code != 2 || !strings.Contains(stderr, "no AWS credentials") {
		t.Fatalf("without credentials: exit %d, stderr:\n%s", code, stderr)
	}
	if c := r.calls(); len(c) != 2 || c[0] != "aws --version" || c[1] != "aws sts get-caller-identity --query Account --output text" {
		t.Fatalf("calls without credentials: %q; want only the version and identity checks", c)
	}
	if err := os.Remove(r.log); err != nil {
		t.Fatal(err)
	}

	// 3. With (stand-in) credentials: the whole flow, in order.
	host := registrytest.Start(t, "", "")
	repo := host + "/collabgw-edge"
	stdout, stderr, code := r.deploy("FAKE_REPO=" + repo)
	calls := r.calls()
	keysCmd := exec.Command(filepath.Join(r.dist, "bin", "collabgw"), "keys", "gateway", "--help")
	if keysCmd.Run() != nil {
		// `collabgw keys gateway` comes with the gateway key rotation work;
		// until it is in this checkout the flow stops at the secrets.
		if code == 0 || !strings.Contains(stderr, "keys") {
			t.Fatalf("without collabgw keys gateway: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		t.Logf("collabgw keys gateway is not in this checkout: flow checked up to the secrets step")
	} else if code != 0 {
		t.Fatalf("deploy failed: exit %d\nstdout:\n%s\nstderr:\n%s\ncalls:\n%s", code, stdout, stderr, strings.Join(calls, "\n"))
	}
	want := []string{
		"aws --version",
		"aws sts get-caller-identity",
		"terraform init",
		"terraform console",
		"terraform console",
		"terraform apply -input=false -auto-approve -target=module.edge.aws_ecr_repository.this -target=module.edge.aws_ecr_lifecycle_policy.this",
		"aws ecr describe-repositories --repository-names collabgw-edge",
		"aws secretsmanager describe-secret --secret-id collabgw/gateway-key",
	}
	if code == 0 {
		want = append(want,
			"aws secretsmanager create-secret --name collabgw/gateway-key",
			"aws secretsmanager describe-secret --secret-id collabgw/peer-key",
			"aws secretsmanager create-secret --name collabgw/peer-key",
			"terraform apply -input=false -auto-approve",
			"terraform output -raw load_balancer_dns_name",
			"terraform output -raw table_name",
		)
	}
	if len(calls) != len(want) {
		t.Fatalf("calls:\n%s\nwant (prefixes):\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(calls[i], want[i]) {
			t.Errorf("call %d = %q, want %q...", i, calls[i], want[i])
		}
	}

	// The image in the registry is the one the final apply deploys.
	digest := strings.TrimSpace(readFile(t, filepath.Join(r.dist, "edge-image.digest")))
	ref, err := name.NewDigest(repo + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref); err != nil {
		t.Fatalf("the pushed image %s is not in the registry: %v", ref, err)
	}
	var vars struct {
		Digest string `json:"edge_image_digest"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(r.example, "edge.auto.tfvars.json"))), &vars); err != nil || vars.Digest != digest {
		t.Fatalf("edge.auto.tfvars.json has %q (%v), want %s", vars.Digest, err, digest)
	}
	if code != 0 {
		return
	}
	var applied struct {
		Digest string `json:"edge_image_digest"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(r.fake, "apply-1.json"))), &applied); err != nil || applied.Digest != digest {
		t.Errorf("the final apply saw edge_image_digest %q (%v), want %s", applied.Digest, err, digest)
	}

	// The secrets: a gateway key the edge can parse, whose public half is
	// kept for devices, and a 32-byte task-to-task key; no private key is
	// left on disk or ever on a command line.
	gw, err := devproto.ParsePrivateKey(readFile(t, filepath.Join(r.fake, "secret-collabgw_gateway-key")))
	if err != nil {
		t.Fatalf("gateway key secret: %v", err)
	}
	pub, err := devproto.LoadPublicKey(filepath.Join(r.keys, "gateway.pub"))
	if err != nil {
		t.Fatalf("gateway.pub for devices: %v", err)
	}
	if got, _ := gw.Public(); got != pub {
		t.Error("gateway.pub is not the public half of the stored gateway key")
	}
	peerRaw := readFile(t, filepath.Join(r.fake, "secret-collabgw_peer-key"))
	peer, err := base64.StdEncoding.DecodeString(peerRaw)
	if err != nil || len(peer) != 32 {
		t.Errorf("peer key secret: %d bytes, %v; want base64 of 32 bytes", len(peer), err)
	}
	left, err := filepath.Glob(filepath.Join(r.keys, "*.key*"))
	if err != nil || len(left) != 0 {
		t.Errorf("private key files left on disk: %v %v", left, err)
	}
	gwText := strings.TrimSpace(readFile(t, filepath.Join(r.fake, "secret-collabgw_gateway-key")))
	for _, c := range calls {
		if strings.Contains(c, gwText) || strings.Contains(c, peerRaw) {
			t.Errorf("a key was on a command line: %q", c)
		}
	}
	if !strings.Contains(stdout, "device login --edge collabgw-edge-0123456789.elb.eu-west-1.amazonaws.com:3101") {
		t.Errorf("the closing instructions do not show the login against the load balancer:\n%s", stdout)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
