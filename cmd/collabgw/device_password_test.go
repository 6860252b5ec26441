package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPasswordSources(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		flags    passwordFlags
		stdin    string
		terminal bool
		typed    string
		want     string
		wantErr  string
		warns    bool
		prompted bool
	}{
		{"file, first line", passwordFlags{file: file("pw", "s3cret\nsecond line\n")}, "", false, "", "s3cret", "", false, false},
		{"file without a newline", passwordFlags{file: file("pw2", "s3cret")}, "", false, "", "s3cret", "", false, false},
		{"file with CRLF", passwordFlags{file: file("pw3", "s3cret\r\n")}, "", false, "", "s3cret", "", false, false},
		{"file is standard input", passwordFlags{file: "-"}, "from stdin\nchat line\n", false, "", "from stdin", "", false, false},
		{"file missing", passwordFlags{file: filepath.Join(dir, "nope")}, "", false, "", "", "no such file", false, false},
		{"file empty", passwordFlags{file: file("empty", "\n")}, "", false, "", "", "empty", false, false},
		{"file line too long", passwordFlags{file: file("long", strings.Repeat("p", 300))}, "", false, "", "", "longer than", false, false},
		{"flag warns", passwordFlags{flag: "demo"}, "", true, "", "demo", "", true, false},
		{"prompt on a terminal", passwordFlags{}, "", true, "typed", "typed", "", false, true},
		{"empty at the prompt", passwordFlags{}, "", true, "", "", "empty", false, true},
		{"no terminal, no flag", passwordFlags{}, "piped\n", false, "", "", "--password-file", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompt, warn bytes.Buffer
			tty := terminal{
				isTerminal: func() bool { return tt.terminal },
				readNoEcho: func() ([]byte, error) { return []byte(tt.typed), nil },
				prompt:     &prompt, warn: &warn,
			}
			stdin := strings.NewReader(tt.stdin)
			got, err := tt.flags.password("user0001", stdin, tty)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case string(got) != tt.want:
				t.Fatalf("password %q, want %q", string(got), tt.want)
			}
			if (warn.Len() > 0) != tt.warns {
				t.Errorf("warning %q, want one: %v", warn.String(), tt.warns)
			}
			if strings.Contains(prompt.String(), "user0001") != tt.prompted {
				t.Errorf("prompt %q, want one: %v", prompt.String(), tt.prompted)
			}
			if strings.Contains(prompt.String()+warn.String(), tt.want) && tt.want != "" {
				t.Errorf("the password was echoed: %q", prompt.String()+warn.String())
			}
			if tt.flags.file == "-" {
				// The rest of standard input is left for the chat.
				rest, _ := io.ReadAll(stdin)
				if string(rest) != "chat line\n" {
					t.Errorf("left %q on standard input", rest)
				}
			}
		})
	}
}

func TestPasswordFlagsAreExclusive(t *testing.T) {
	root := newRootCmd()
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"device", "login", "--user", "user0001", "--password", "a", "--password-file", "b"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("both password flags: %v", err)
	}
}
