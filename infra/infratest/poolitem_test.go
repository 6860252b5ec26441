package infratest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/clocktest"
)

// The pool module writes the pool's configuration item and counter that
// the admin CLI writes through admission.Store.PutPool, and mirrors
// PoolConfig.Normalized's rules in its validations. Both are hand-written
// HCL, so TestPoolModuleWritesAdmissionsItems generates a tofu test from a
// table of configurations: for each one Go accepts, the items Terraform
// would write must be admission.PoolItems' byte for byte (the update time
// included: terraform_data.updated is overridden with a time the test
// takes at run time); for each one Go refuses, Terraform must refuse it at
// the variable (or precondition) that names the same field.
//
// Names are NFC: Terraform normalizes every string to NFC, Go stores a
// name as given, so a name in another normal form is the one difference
// this test does not hold (no operator types one).

// poolCase is one configuration, written as Terraform variables the way
// an operator would: a zero Go field is a variable left out (its default),
// unless setEmpty writes the empty strings explicitly.
type poolCase struct {
	name     string
	cfg      admission.PoolConfig
	setEmpty bool
}

func poolCases() []poolCase {
	gw := func(host string) admission.GroupWiseTarget { return admission.GroupWiseTarget{Host: host} }
	pin := strings.Repeat("0123456789abcdef", 4)
	cases := []poolCase{
		{name: "minimal", cfg: admission.PoolConfig{Name: "main", GroupWise: gw("gwim.example.internal")}},
		{name: "everything_set", cfg: admission.PoolConfig{
			Name: "full", MaxSessions: 500, IdleTimeout: 15 * time.Minute, InactivityTimeout: time.Hour, ProtocolLimit: 6000,
			GroupWise: admission.GroupWiseTarget{Host: "10.20.0.5", Port: 8443, CARef: "groupwise/ca.pem", PinSHA256: pin},
		}},
		{name: "pin_in_upper_case_is_stored_lower", cfg: admission.PoolConfig{Name: "pin", GroupWise: admission.GroupWiseTarget{Host: "gw", PinSHA256: strings.ToUpper(pin)}}},
		{name: "fractional_timeouts", cfg: admission.PoolConfig{Name: "frac", MaxSessions: 3, IdleTimeout: 1500 * time.Millisecond, InactivityTimeout: 2250 * time.Millisecond, GroupWise: gw("gw")}},
		{name: "sub_millisecond_is_truncated", cfg: admission.PoolConfig{Name: "trunc", IdleTimeout: 1000500 * time.Microsecond, InactivityTimeout: 2*time.Second + 999*time.Microsecond, GroupWise: gw("gw")}},
		{name: "timeouts_at_30_days", cfg: admission.PoolConfig{Name: "long", IdleTimeout: admission.MaxDuration, InactivityTimeout: admission.MaxDuration, GroupWise: gw("gw")}},
		{name: "timeouts_at_1_second", cfg: admission.PoolConfig{Name: "short", IdleTimeout: time.Second, InactivityTimeout: time.Second, GroupWise: gw("gw")}},
		{name: "max_at_the_protocol_limit", cfg: admission.PoolConfig{Name: "atlimit", MaxSessions: 700, ProtocolLimit: 700, GroupWise: gw("gw")}},
		{name: "max_at_the_default_protocol_limit", cfg: admission.PoolConfig{Name: "atdefault", MaxSessions: admission.DefaultProtocolLimit, GroupWise: gw("gw")}},
		{name: "lowest_port", cfg: admission.PoolConfig{Name: "p1", GroupWise: admission.GroupWiseTarget{Host: "gw", Port: 1}}},
		{name: "highest_port", cfg: admission.PoolConfig{Name: "p65535", GroupWise: admission.GroupWiseTarget{Host: "gw", Port: 65535}}},
		{name: "empty_ca_and_pin_are_none", cfg: admission.PoolConfig{Name: "empty", GroupWise: gw("gw")}, setEmpty: true},
		{name: "ipv6_host", cfg: admission.PoolConfig{Name: "v6", GroupWise: gw("fd00::5")}},
		{name: "name_of_256_two_byte_characters", cfg: admission.PoolConfig{Name: strings.Repeat("é", 128), GroupWise: gw("gw")}},
		{name: "name_of_256_bytes_in_four_byte_characters", cfg: admission.PoolConfig{Name: strings.Repeat("😀", 64), GroupWise: gw("gw")}},
		{name: "name_of_256_bytes_in_three_byte_characters", cfg: admission.PoolConfig{Name: strings.Repeat("€", 85) + "x", GroupWise: gw("gw")}},
		{name: "name_with_hcl_and_json_specials", cfg: admission.PoolConfig{Name: `q"b\s${x}%{y}<&>`, GroupWise: gw("gw")}},

		{name: "refuses_an_empty_name", cfg: admission.PoolConfig{GroupWise: gw("gw")}},
		{name: "refuses_a_hash_in_the_name", cfg: admission.PoolConfig{Name: "a#b", GroupWise: gw("gw")}},
		{name: "refuses_a_nul_in_the_name", cfg: admission.PoolConfig{Name: "a\x00b", GroupWise: gw("gw")}},
		{name: "refuses_a_name_of_257_bytes", cfg: admission.PoolConfig{Name: strings.Repeat("x", 257), GroupWise: gw("gw")}},
		{name: "refuses_129_two_byte_characters", cfg: admission.PoolConfig{Name: strings.Repeat("é", 129), GroupWise: gw("gw")}},
		{name: "refuses_86_three_byte_characters", cfg: admission.PoolConfig{Name: strings.Repeat("€", 86), GroupWise: gw("gw")}},
		{name: "refuses_65_four_byte_characters", cfg: admission.PoolConfig{Name: strings.Repeat("😀", 65), GroupWise: gw("gw")}},
		{name: "refuses_a_negative_max", cfg: admission.PoolConfig{Name: "m", MaxSessions: -1, GroupWise: gw("gw")}},
		{name: "refuses_a_max_above_the_default_protocol_limit", cfg: admission.PoolConfig{Name: "m", MaxSessions: admission.DefaultProtocolLimit + 1, GroupWise: gw("gw")}},
		{name: "refuses_a_max_above_the_protocol_limit", cfg: admission.PoolConfig{Name: "m", MaxSessions: 501, ProtocolLimit: 500, GroupWise: gw("gw")}},
		{name: "refuses_a_negative_protocol_limit", cfg: admission.PoolConfig{Name: "m", ProtocolLimit: -5, GroupWise: gw("gw")}},
		{name: "refuses_no_host", cfg: admission.PoolConfig{Name: "h"}},
		{name: "refuses_a_host_with_a_space", cfg: admission.PoolConfig{Name: "h", GroupWise: gw("gw im")}},
		{name: "refuses_a_host_with_a_slash", cfg: admission.PoolConfig{Name: "h", GroupWise: gw("gw/im")}},
		{name: "refuses_port_65536", cfg: admission.PoolConfig{Name: "p", GroupWise: admission.GroupWiseTarget{Host: "gw", Port: 65536}}},
		{name: "refuses_a_negative_port", cfg: admission.PoolConfig{Name: "p", GroupWise: admission.GroupWiseTarget{Host: "gw", Port: -1}}},
		{name: "refuses_a_short_pin", cfg: admission.PoolConfig{Name: "p", GroupWise: admission.GroupWiseTarget{Host: "gw", PinSHA256: pin[:63]}}},
		{name: "refuses_a_pin_that_is_not_hex", cfg: admission.PoolConfig{Name: "p", GroupWise: admission.GroupWiseTarget{Host: "gw", PinSHA256: "g" + pin[1:]}}},
	}
	for _, timeout := range []struct {
		what string
		set  func(*admission.PoolConfig, time.Duration)
	}{
		{"idle", func(c *admission.PoolConfig, d time.Duration) { c.IdleTimeout = d }},
		{"inactivity", func(c *admission.PoolConfig, d time.Duration) { c.InactivityTimeout = d }},
	} {
		for _, bad := range []struct {
			what string
			d    time.Duration
		}{
			{"negative", -time.Second},
			{"sub_second", 999 * time.Millisecond},
			{"sub_millisecond", 500 * time.Microsecond},
			{"over_30_days", admission.MaxDuration + time.Second},
		} {
			c := admission.PoolConfig{Name: "t", GroupWise: gw("gw")}
			timeout.set(&c, bad.d)
			cases = append(cases, poolCase{name: "refuses_a_" + bad.what + "_" + timeout.what + "_timeout", cfg: c})
		}
	}
	return cases
}

// refusedAt is the Terraform check that must refuse a configuration Go
// refuses with err.
func refusedAt(c admission.PoolConfig, err error) (string, error) {
	var ce *admission.ConfigError
	if !errors.As(err, &ce) {
		return "", fmt.Errorf("Normalized failed without a ConfigError: %w", err)
	}
	switch ce.Field {
	case "name":
		return "var.name", nil
	case "maxSessions":
		if c.MaxSessions < 0 {
			return "var.max_sessions", nil
		}
		return "aws_dynamodb_table_item.config", nil // the precondition against the protocol limit
	case "protocolLimit":
		return "var.protocol_limit", nil
	case "idleTimeout":
		return "var.idle_timeout_seconds", nil
	case "inactivityTimeout":
		return "var.inactivity_timeout_seconds", nil
	case "groupwise.host":
		return "var.groupwise_host", nil
	case "groupwise.port":
		return "var.groupwise_port", nil
	case "groupwise.pinSha256":
		return "var.groupwise_pin_sha256", nil
	}
	return "", fmt.Errorf("Go refuses field %q, which this test does not map to a Terraform check: add it", ce.Field)
}

// hclString writes s as an HCL string literal: JSON's escapes are HCL's,
// and template introductions are doubled.
func hclString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	q := strings.TrimSuffix(b.String(), "\n")
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(q)
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// poolVariablesOf writes c as the module's variables.
func poolVariablesOf(pc poolCase) string {
	c := pc.cfg
	var b strings.Builder
	set := func(name, value string) { fmt.Fprintf(&b, "    %s = %s\n", name, value) }
	set("table_name", `"collabgw"`)
	set("name", hclString(c.Name))
	set("groupwise_host", hclString(c.GroupWise.Host))
	if c.MaxSessions != 0 {
		set("max_sessions", strconv.Itoa(c.MaxSessions))
	}
	if c.IdleTimeout != 0 {
		set("idle_timeout_seconds", seconds(c.IdleTimeout))
	}
	if c.InactivityTimeout != 0 {
		set("inactivity_timeout_seconds", seconds(c.InactivityTimeout))
	}
	if c.ProtocolLimit != 0 {
		set("protocol_limit", strconv.Itoa(c.ProtocolLimit))
	}
	if c.GroupWise.Port != 0 {
		set("groupwise_port", strconv.Itoa(c.GroupWise.Port))
	}
	if c.GroupWise.CARef != "" || pc.setEmpty {
		set("groupwise_ca_ref", hclString(c.GroupWise.CARef))
	}
	if c.GroupWise.PinSHA256 != "" || pc.setEmpty {
		set("groupwise_pin_sha256", hclString(c.GroupWise.PinSHA256))
	}
	return b.String()
}

// dynamoJSON is an item as the provider's item argument holds it.
func dynamoJSON(item map[string]types.AttributeValue) (string, error) {
	out := map[string]map[string]string{}
	for k, v := range item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out[k] = map[string]string{"S": v.Value}
		case *types.AttributeValueMemberN:
			out[k] = map[string]string{"N": v.Value}
		default:
			return "", fmt.Errorf("attribute %s is a %T, which the pool module cannot write", k, v)
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// poolItemTest is the generated test file; updated is the time the
// configuration item records.
func poolItemTest(t *testing.T, cases []poolCase, updated time.Time) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("mock_provider \"aws\" {}\n")
	for _, pc := range cases {
		fmt.Fprintf(&b, "\nrun %q {\n", pc.name)
		norm, err := pc.cfg.Normalized()
		if err != nil {
			at, merr := refusedAt(pc.cfg, err)
			if merr != nil {
				t.Fatalf("%s: %v", pc.name, merr)
			}
			fmt.Fprintf(&b, "  command = plan\n  variables {\n%s  }\n  expect_failures = [%s]\n}\n", poolVariablesOf(pc), at)
			continue
		}
		config, counter, err := admission.PoolItems(norm, updated)
		if err != nil {
			t.Fatalf("%s: %v", pc.name, err)
		}
		cj, err := dynamoJSON(config)
		if err != nil {
			t.Fatalf("%s: %v", pc.name, err)
		}
		kj, err := dynamoJSON(counter)
		if err != nil {
			t.Fatalf("%s: %v", pc.name, err)
		}
		fmt.Fprintf(&b, "  command = apply\n  variables {\n%s  }\n", poolVariablesOf(pc))
		fmt.Fprintf(&b, "  override_resource {\n    target = terraform_data.updated\n    values = { output = %q }\n  }\n", updated.UTC().Format(time.RFC3339))
		for _, a := range []struct{ what, resource, want string }{
			{"configuration", "aws_dynamodb_table_item.config", cj},
			{"counter", "aws_dynamodb_table_item.counter", kj},
		} {
			fmt.Fprintf(&b, "  assert {\n    condition     = jsonencode(jsondecode(%s.item)) == jsonencode(jsondecode(%s))\n", a.resource, hclString(a.want))
			fmt.Fprintf(&b, "    error_message = %s\n  }\n", hclString("the "+a.what+" item is not admission.PoolItems': "+a.want))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// updateTimes are the update times the items are checked at: now, and the
// day boundaries the days-from-civil conversion in main.tf is most likely
// to get wrong, all taken from the clock (no date is written here).
func updateTimes() []time.Time {
	now := clocktest.Now().UTC().Truncate(time.Second)
	y := now.Year()
	leap := y + 1
	for leap%4 != 0 || leap%100 == 0 && leap%400 != 0 {
		leap++
	}
	return []time.Time{
		now,
		time.Date(y+1, time.January, 1, 0, 0, 0, 0, time.UTC).Add(-time.Second), // the last second of this year
		time.Date(leap, time.February, 29, 23, 59, 59, 0, time.UTC),             // a leap day
		time.Date(leap, time.March, 1, 0, 0, 0, 0, time.UTC),                    // the day after it
	}
}

// TestPoolModuleWritesAdmissionsItems: see the comment at the top.
func TestPoolModuleWritesAdmissionsItems(t *testing.T) {
	if testing.Short() {
		t.Skip("builds OpenTofu on the first run; skipped with -short")
	}
	root := repoRoot(t)
	tl := installTools(t, root)
	module := filepath.Join(root, "infra", "modules", "pool")
	cliConfig := installStandin(t, tl, module)
	env := []string{"TF_CLI_CONFIG_FILE=" + cliConfig, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1", "NO_COLOR=1"}
	work := t.TempDir()
	copyTree(t, module, work)
	// Every configuration Go accepts gets a file of its own, so a fresh
	// state: the counter item is never rewritten after its creation
	// (ignore_changes), so a second run in one file would see the first
	// run's counter. The refusals are plans and share one file. The time
	// conversion is checked at each update time on the first
	// configuration; the others are written at the first time.
	times := updateTimes()
	var (
		files   []string
		refused []poolCase
		total   int
	)
	write := func(cs []poolCase, at time.Time) {
		rel := filepath.Join("tests", fmt.Sprintf("item_%02d.tftest.hcl", len(files)))
		body := "# Generated by infra/infratest (poolitem_test.go) from internal/admission.\n" + poolItemTest(t, cs, at)
		if err := os.WriteFile(filepath.Join(work, rel), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, rel)
		total += len(cs)
	}
	cases := poolCases()
	for _, pc := range cases {
		if _, err := pc.cfg.Normalized(); err != nil {
			refused = append(refused, pc)
			continue
		}
		write([]poolCase{pc}, times[0])
	}
	write(refused, times[0])
	for _, at := range times[1:] {
		write([]poolCase{{name: "updated_at_" + at.Format("2006_01_02T15_04_05"), cfg: cases[0].cfg}}, at)
	}
	run(t, work, env, tl.tofu, "init", "-backend=false", "-no-color")
	args := []string{"test", "-no-color"}
	for _, f := range files {
		args = append(args, "-filter="+f)
	}
	out := run(t, work, env, tl.tofu, args...)
	want := fmt.Sprintf("%d passed, 0 failed", total)
	if !strings.Contains(out, want) {
		t.Fatalf("tofu test did not report %q:\n%s", want, out)
	}
	t.Logf("%s", lastLine(out))
}
