// Package metricstest checks what a collabgw program writes to its log
// streams, for tests of any package: every EMF document is valid against
// the CloudWatch EMF JSON schema (internal/metrics/testdata) and names only
// catalog metrics, and no secret appears anywhere in logs or metrics.
package metricstest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/collabgw/collabgw/internal/metrics"
)

// SchemaPath is the EMF JSON schema shipped in internal/metrics/testdata.
func SchemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "emf.schema.json")
}

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	errSchema  error
)

func emfSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		schema, errSchema = c.Compile(SchemaPath())
	})
	if errSchema != nil {
		t.Fatalf("compile the EMF schema: %v", errSchema)
	}
	return schema
}

// Document is one decoded EMF document or log line.
type Document map[string]any

// Split separates output into EMF documents (lines with an _aws member)
// and other JSON lines (the structured logs); a line that is not a JSON
// object fails the test.
func Split(t testing.TB, out []byte) (emf, logs []Document) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), metrics.MaxDocumentBytes+1)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var d Document
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("output line is not a JSON object: %v\n%s", err, line)
		}
		if _, ok := d["_aws"]; ok {
			emf = append(emf, d)
		} else {
			logs = append(logs, d)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read output: %v", err)
	}
	return emf, logs
}

// ValidateEMF checks every EMF document in out and returns them: valid
// against the schema, every target member present with the right type and
// size (what the schema cannot express), within CloudWatch's event size,
// in the collabgw namespace, and naming only catalog metrics with their
// catalog unit and dimension sets.
func ValidateEMF(t testing.TB, out []byte) []Document {
	t.Helper()
	for line := range bytes.Lines(out) {
		if len(line) > metrics.MaxDocumentBytes {
			t.Errorf("EMF line of %d bytes exceeds %d", len(line), metrics.MaxDocumentBytes)
		}
	}
	docs, _ := Split(t, out)
	for _, d := range docs {
		if err := ValidateDocument(t, d); err != nil {
			b, _ := json.Marshal(d)
			t.Errorf("%v\n%s", err, b)
		}
	}
	return docs
}

// ValidateDocument checks one decoded EMF document (see ValidateEMF).
func ValidateDocument(t testing.TB, d Document) error {
	t.Helper()
	if err := emfSchema(t).Validate(map[string]any(d)); err != nil {
		return fmt.Errorf("EMF schema: %w", err)
	}
	meta := d["_aws"].(map[string]any)
	for _, dir := range meta["CloudWatchMetrics"].([]any) {
		dir := dir.(map[string]any)
		if ns := dir["Namespace"]; ns != metrics.Namespace {
			return fmt.Errorf("namespace %v, want %s", ns, metrics.Namespace)
		}
		var sets [][]string
		for _, set := range dir["Dimensions"].([]any) {
			var names []string
			for _, name := range set.([]any) {
				name := name.(string)
				v, ok := d[name].(string)
				if !ok {
					return fmt.Errorf("dimension %s: no string target member", name)
				}
				if len(v) > metrics.MaxDimensionValueLen || strings.TrimSpace(v) == "" {
					return fmt.Errorf("dimension %s: value %q is empty or too long", name, v)
				}
				names = append(names, name)
			}
			sets = append(sets, names)
		}
		for _, def := range dir["Metrics"].([]any) {
			def := def.(map[string]any)
			name := def["Name"].(string)
			if err := checkValue(d[name]); err != nil {
				return fmt.Errorf("metric %s: %w", name, err)
			}
			m, ok := metrics.Lookup(name)
			if !ok || m.Source != metrics.SourceEMF {
				return fmt.Errorf("metric %s is not an EMF metric of the catalog", name)
			}
			if u, _ := def["Unit"].(string); u != string(m.Unit) {
				return fmt.Errorf("metric %s: unit %q, catalog says %q", name, u, m.Unit)
			}
			for _, set := range sets {
				if !slices.ContainsFunc(m.Sets, func(s []string) bool { return slices.Equal(s, set) }) {
					return fmt.Errorf("metric %s: dimension set %v is not in the catalog's %v", name, set, m.Sets)
				}
			}
		}
	}
	return nil
}

func checkValue(v any) error {
	switch v := v.(type) {
	case float64:
		return nil
	case []any:
		if len(v) > metrics.MaxValuesPerSeries {
			return fmt.Errorf("%d values, at most %d", len(v), metrics.MaxValuesPerSeries)
		}
		for _, x := range v {
			if _, ok := x.(float64); !ok {
				return fmt.Errorf("value %v is not a number", x)
			}
		}
		return nil
	case nil:
		return fmt.Errorf("no target member")
	}
	return fmt.Errorf("value %v is neither a number nor an array of numbers", v)
}

// Secret is a value that must never be written: a password, a resume
// token, a private key.
type Secret struct {
	Name  string
	Value []byte
}

// forms returns the ways a secret could appear in text output: raw, JSON
// escaped, base64 (standard, URL, unpadded), hex; and, for secrets long
// enough, a 12-byte prefix of the raw form (a truncated leak is a leak).
func (s Secret) forms() map[string]string {
	out := map[string]string{
		"raw":        string(s.Value),
		"base64":     base64.StdEncoding.EncodeToString(s.Value),
		"base64url":  base64.URLEncoding.EncodeToString(s.Value),
		"base64raw":  base64.RawStdEncoding.EncodeToString(s.Value),
		"base64rurl": base64.RawURLEncoding.EncodeToString(s.Value),
		"hex":        hex.EncodeToString(s.Value),
		"HEX":        strings.ToUpper(hex.EncodeToString(s.Value)),
	}
	if q, err := json.Marshal(string(s.Value)); err == nil {
		out["json"] = strings.Trim(string(q), `"`)
	}
	if len(s.Value) >= 24 {
		out["prefix"] = string(s.Value[:12])
	}
	return out
}

// Leaks returns, for each secret found in out, the form it was found in.
func Leaks(out []byte, secrets ...Secret) []string {
	var found []string
	for _, s := range secrets {
		for form, v := range s.forms() {
			if len(v) >= 6 && bytes.Contains(out, []byte(v)) {
				found = append(found, s.Name+" ("+form+")")
			}
		}
	}
	slices.Sort(found)
	return found
}

// AssertNoSecrets fails the test when any secret, in any form Leaks
// knows, appears in out.
func AssertNoSecrets(t testing.TB, out []byte, secrets ...Secret) {
	t.Helper()
	if leaks := Leaks(out, secrets...); len(leaks) > 0 {
		t.Errorf("secrets in the output: %v\n%s", leaks, out)
	}
}

// SyncBuffer is a bytes.Buffer safe for the concurrent writers a logger
// and a Recorder are.
type SyncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of everything written.
func (b *SyncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
