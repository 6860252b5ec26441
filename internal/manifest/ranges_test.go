package manifest

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Terraform validation blocks and the SAM parameters of the ranged
// settings are generated from Settings(). These tests fail when a file
// differs from what the settings generate; `go test ./internal/manifest
// -run Ranges -update` rewrites the files. infra/infratest then proves with
// `tofu test` that Terraform really refuses a value just outside each range
// and accepts the bounds.

var update = flag.Bool("update", false, "rewrite the Terraform validations and SAM parameters from Settings()")

// generatedNote marks what the tests rewrite.
const generatedNote = "# Generated from internal/manifest: go test ./internal/manifest -run Ranges -update"

// TerraformCondition is the HCL condition that accepts exactly the values
// s accepts ("" for a setting without a range or choices).
func terraformCondition(s Setting) string {
	v := "var." + s.Terraform
	switch {
	case s.Kind == KindChoice:
		q := make([]string, len(s.Choices))
		for i, c := range s.Choices {
			q[i] = fmt.Sprintf("%q", c)
		}
		return fmt.Sprintf("contains([%s], %s)", strings.Join(q, ", "), v)
	case s.Whole():
		return fmt.Sprintf("%s >= %s && %s <= %s && floor(%s) == %s", v, FormatNumber(s.Min), v, FormatNumber(s.Max), v, v)
	case s.Numeric():
		return fmt.Sprintf("%s >= %s && %s <= %s", v, FormatNumber(s.Min), v, FormatNumber(s.Max))
	}
	return ""
}

func terraformValidation(s Setting) string {
	cond := terraformCondition(s)
	if cond == "" {
		return ""
	}
	return fmt.Sprintf("  validation {\n    %s\n    condition     = %s\n    error_message = %q\n  }\n",
		generatedNote, cond, fmt.Sprintf("%s must be %s.", s.Terraform, s.Want()))
}

func terraformDefault(s Setting) string {
	if s.Numeric() {
		return s.Default
	}
	return fmt.Sprintf("%q", s.Default)
}

var (
	reValidation = regexp.MustCompile(`(?ms)^  validation \{\n.*?^  \}\n`)
	reDefault    = regexp.MustCompile(`(?m)^(  default\s*=\s*)(.*)$`)
)

// variableBlock locates `variable "name" { ... }` in src.
func variableBlock(src, name string) (start, end int, ok bool) {
	loc := regexp.MustCompile(`(?m)^variable "` + regexp.QuoteMeta(name) + `" \{\n`).FindStringIndex(src)
	if loc == nil {
		return 0, 0, false
	}
	closing := regexp.MustCompile(`(?m)^\}\n`).FindStringIndex(src[loc[1]:])
	if closing == nil {
		return 0, 0, false
	}
	return loc[0], loc[1] + closing[1], true
}

// renderVariable returns block with its default and validation as s
// generates them.
func renderVariable(block string, s Setting) string {
	block = reDefault.ReplaceAllString(block, "${1}"+strings.ReplaceAll(terraformDefault(s), "$", "$$"))
	want := terraformValidation(s)
	if want == "" {
		return block
	}
	first := true
	block = reValidation.ReplaceAllStringFunc(block, func(string) string {
		if first {
			first = false
			return want
		}
		return ""
	})
	if first { // none yet: add one before the closing brace
		block = strings.TrimSuffix(block, "}\n") + "\n" + want + "}\n"
	}
	return strings.ReplaceAll(block, "\n\n\n", "\n\n")
}

func TestTerraformRangesMatchTheSettings(t *testing.T) {
	files := map[string]string{} // path -> content
	for _, s := range Settings() {
		if s.Terraform == "" {
			continue
		}
		for _, m := range s.TerraformModules {
			path := filepath.Join("..", "..", "infra", "modules", m, "variables.tf")
			src, ok := files[path]
			if !ok {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				src = string(b)
			}
			start, end, ok := variableBlock(src, s.Terraform)
			if !ok {
				t.Errorf("%s has no variable %q for %s", path, s.Terraform, s.Env)
				continue
			}
			block := src[start:end]
			want := renderVariable(block, s)
			if m := reDefault.FindStringSubmatch(block); m == nil || m[2] != terraformDefault(s) {
				t.Errorf("%s: variable %q: default differs from %s's %s", path, s.Terraform, s.Env, terraformDefault(s))
			}
			if block != want && !*update {
				t.Errorf("%s: variable %q does not carry the range of %s (%s); run go test ./internal/manifest -run Ranges -update\n--- have\n%s--- want\n%s",
					path, s.Terraform, s.Env, s.Want(), block, want)
			}
			files[path] = src[:start] + want + src[end:]
		}
	}
	writeUpdates(t, files)
}

// samParameter is the template.yaml parameter of s.
func samParameter(s Setting) string {
	var b strings.Builder
	desc, _ := json.Marshal(s.Env + ": " + s.Description)
	fmt.Fprintf(&b, "  %s:\n", s.SAM)
	if s.Numeric() {
		fmt.Fprintf(&b, "    Type: Number\n    Default: %s\n    MinValue: %s\n    MaxValue: %s\n", s.Default, FormatNumber(s.Min), FormatNumber(s.Max))
	} else {
		fmt.Fprintf(&b, "    Type: String\n    Default: %s\n", s.Default)
		if len(s.Choices) > 0 {
			fmt.Fprintf(&b, "    AllowedValues: [%s]\n", strings.Join(s.Choices, ", "))
		}
	}
	fmt.Fprintf(&b, "    Description: %s\n", desc)
	return b.String()
}

func TestSAMRangesMatchTheSettings(t *testing.T) {
	path := filepath.Join("..", "..", "template.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	params := regexp.MustCompile(`(?ms)^Parameters:\n(.*?)^\S`).FindStringSubmatchIndex(src)
	if params == nil {
		t.Fatal("template.yaml has no Parameters section")
	}
	for _, s := range Settings() {
		if s.SAM == "" {
			continue
		}
		section := src[params[2]:params[3]]
		want := samParameter(s)
		loc := regexp.MustCompile(`(?m)^  ` + s.SAM + `:\n(?:    .*\n)*`).FindStringIndex(section)
		switch {
		case loc == nil:
			if !*update {
				t.Errorf("template.yaml has no parameter %s for %s", s.SAM, s.Env)
			}
			section = strings.TrimRight(section, "\n") + "\n" + want + "\n"
		case section[loc[0]:loc[1]] != want:
			if !*update {
				t.Errorf("template.yaml parameter %s differs from %s's settings; run go test ./internal/manifest -run Ranges -update\n--- have\n%s--- want\n%s",
					s.SAM, s.Env, section[loc[0]:loc[1]], want)
			}
			section = section[:loc[0]] + want + section[loc[1]:]
		}
		src = src[:params[2]] + section + src[params[3]:]
		params[3] = params[2] + len(section)
		if !regexp.MustCompile(`(?m)^        ` + s.Env + `: !Ref ` + s.SAM + `$`).MatchString(src) {
			t.Errorf("template.yaml does not set %s from the parameter %s", s.Env, s.SAM)
		}
	}
	writeUpdates(t, map[string]string{path: src})
}

func writeUpdates(t *testing.T, files map[string]string) {
	t.Helper()
	if !*update {
		return
	}
	for path, src := range files {
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(old) == src {
			continue
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", path)
	}
}
