package manifest

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestReaderNumbers(t *testing.T) {
	tests := []struct {
		name    string
		s       Setting
		value   string
		want    float64
		wantErr string // substring; "" for none
	}{
		{"default lease", Lease, "", DefaultLeaseSeconds, ""},
		{"lease at its minimum", Lease, "2", 2, ""},
		{"lease at its maximum", Lease, "3600", 3600, ""},
		{"lease over", Lease, "3601", 0, `COLLABGW_LEASE_SECONDS="3601": want a whole number of seconds between 2 and 3600`},
		{"lease under", Lease, "1", 0, "between 2 and 3600"},
		{"lease as a duration", Lease, "90s", 0, `"90s"`},
		{"lease as a fraction", Lease, "1.5", 0, "whole number"},
		{"lease with spaces", Lease, " 60 ", 60, ""},
		{"heartbeat over half the longest lease", Heartbeat, "1801", 0, "between 1 and 1800"},
		{"drain at the stop timeout", Drain, "30", 0, "COLLABGW_DRAIN_SECONDS=\"30\": want a whole number of seconds between 1 and 29"},
		{"drain just under", Drain, "29", 29, ""},
		{"grace default", CoverageGrace, "", DefaultCoverageGraceSeconds, ""},
		{"grace of a day", CoverageGrace, "86400", 0, "between 1 and 3600"},
		{"rate off", AddrLoginRate, "0", 0, ""},
		{"rate fraction", AddrLoginRate, "0.5", 0.5, ""},
		{"rate negative", AddrLoginRate, "-1", 0, "COLLABGW_ADDR_LOGIN_RATE"},
		{"rate NaN", AddrLoginRate, "NaN", 0, "a number between 0 and 100000"},
		{"rate infinite", AddrLoginRate, "+Inf", 0, "a number between"},
		{"connections", MaxConnections, "10", 10, ""},
		{"connections zero", MaxConnections, "0", 0, "a whole number between 1 and 1000000"},
		{"connections overflow", MaxConnections, "99999999999999999999", 0, "COLLABGW_MAX_CONNECTIONS"},
		{"long value cut in the error", MaxConnections, strings.Repeat("9", 200), 0, `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(env(map[string]string{tt.s.Env: tt.value}))
			var got float64
			switch tt.s.Kind {
			case KindSeconds:
				got = r.Seconds(tt.s).Seconds()
			case KindCount:
				got = float64(r.Count(tt.s))
			case KindRate:
				got = r.Rate(tt.s)
			}
			err := r.Err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrSettingInvalid) {
					t.Fatalf("err = %v, want ErrSettingInvalid containing %q", err, tt.wantErr)
				}
				if len(err.Error()) > 200 {
					t.Fatalf("error of %d bytes: %s", len(err.Error()), err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestReaderTextChoiceAndSecrets(t *testing.T) {
	r := NewReader(env(map[string]string{LogLevel.Env: "DEBUG", GatewayKey.Env: "c2VjcmV0"}))
	if got := r.Text(ListenAddr); got != ":3101" {
		t.Errorf("listen address default = %q", got)
	}
	if got := r.Level(); got != slog.LevelDebug {
		t.Errorf("level = %v", got)
	}
	if got := r.Secret(GatewayKey); got != "c2VjcmV0" {
		t.Errorf("secret = %q", got)
	}
	if got := r.Secret(GatewayKeyNext); got != "" {
		t.Errorf("optional secret = %q", got)
	}
	r.Invalid(GatewayKey, "not a key")
	_ = r.Text(Table) // required, unset
	err := r.Err()
	if !errors.Is(err, ErrSettingMissing) || !errors.Is(err, ErrSettingInvalid) {
		t.Fatalf("err = %v, want both a missing and an invalid setting", err)
	}
	for _, want := range []string{"COLLABGW_TABLE is required: Name of the DynamoDB table", "COLLABGW_GATEWAY_PRIVATE_KEY: not a key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("the error repeats the secret: %v", err)
	}

	r = NewReader(env(map[string]string{LogLevel.Env: "loud"}))
	if r.Level(); r.Err() == nil || !strings.Contains(r.Err().Error(), `COLLABGW_LOG_LEVEL="loud": want one of debug, info, warn or error`) {
		t.Fatalf("err = %v", r.Err())
	}
	r = NewReader(env(nil))
	if got := r.Seconds(MaxConnections); got != 0 || r.Err() == nil {
		t.Fatalf("reading a count as seconds: %v, %v", got, r.Err())
	}
}

func TestReaderLeaseAndHeartbeat(t *testing.T) {
	tests := []struct {
		name          string
		lease, hb     string
		wantL, wantHB time.Duration
		wantErr       string
	}{
		{"defaults", "", "", DefaultLeaseSeconds * time.Second, DefaultHeartbeatSeconds * time.Second, ""},
		{"two heartbeats", "4", "2", 4 * time.Second, 2 * time.Second, ""},
		{"under two heartbeats", "3", "2", 0, 0, "at least twice COLLABGW_HEARTBEAT_SECONDS"},
		{"default heartbeat over a short lease", itoa(2*DefaultHeartbeatSeconds - 1), "", 0, 0, "at least twice"},
		{"both wrong, both named", "x", "y", 0, 0, "COLLABGW_HEARTBEAT_SECONDS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(env(map[string]string{Lease.Env: tt.lease, Heartbeat.Env: tt.hb}))
			l, hb := r.LeaseAndHeartbeat()
			if tt.wantErr != "" {
				if err := r.Err(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if r.Err() != nil || l != tt.wantL || hb != tt.wantHB {
				t.Fatalf("got %v, %v, %v", l, hb, r.Err())
			}
		})
	}
}

// TestSettingsCoverEveryVariable ties the settings table to the programs:
// every variable a program reads has a setting, every default parses and
// lies in its range, and the ranges are what the rest of the code assumes.
func TestSettingsCoverEveryVariable(t *testing.T) {
	var all []string
	for _, p := range append(slices.Clone(Functions), Edge) {
		all = append(all, p.Env...)
		all = append(all, p.OptionalEnv...)
	}
	for _, name := range all {
		s, ok := SettingFor(name)
		if !ok {
			t.Errorf("%s has no entry in Settings(): add its default, range and description in settings.go", name)
			continue
		}
		if s.Required && s.Default != "" {
			t.Errorf("%s is required and has a default", name)
		}
	}
	seen := map[string]bool{}
	for _, s := range Settings() {
		if seen[s.Env] {
			t.Errorf("%s is listed twice", s.Env)
		}
		seen[s.Env] = true
		if !slices.Contains(all, s.Env) {
			t.Errorf("%s is in Settings() but no program reads it", s.Env)
		}
		if s.Default == "" || s.Kind == KindText || s.Kind == KindSecret {
			continue
		}
		r := NewReader(env(nil))
		switch s.Kind {
		case KindSeconds:
			r.Seconds(s)
		case KindCount:
			r.Count(s)
		case KindRate:
			r.Rate(s)
		case KindChoice:
			r.Choice(s)
		}
		if err := r.Err(); err != nil {
			t.Errorf("the default of %s is refused: %v", s.Env, err)
		}
		if s.Numeric() && (s.Min > s.Max || (s.Whole() && (s.Min != float64(int64(s.Min)) || s.Max != float64(int64(s.Max))))) {
			t.Errorf("%s has the range [%v, %v]", s.Env, s.Min, s.Max)
		}
		if (s.Terraform == "") != (len(s.TerraformModules) == 0) {
			t.Errorf("%s: a Terraform variable needs its modules, and modules a variable", s.Env)
		}
	}
	if Drain.Max >= DefaultStopTimeout {
		t.Errorf("the drain may reach the ECS stop timeout")
	}
	if Lease.Max < 2*Heartbeat.Max || Lease.Min < 2*Heartbeat.Min {
		t.Errorf("lease range %v-%v cannot hold two heartbeats of %v-%v", Lease.Min, Lease.Max, Heartbeat.Min, Heartbeat.Max)
	}
}
