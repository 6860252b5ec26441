package gwproto

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// rtfSeeds are RTF inputs with their plain text; the fuzz target starts from them.
var rtfSeeds = []struct {
	name, rtf, want string
}{
	{"pidgin template", "{\\rtf1\\ansi\n{\\fonttbl{\\f0\\fnil Unknown;}}\n{\\colortbl ;\\red0\\green0\\blue0;}\n\\uc1\\cf1\\f0\\fs24 hello there\\par\n}", "hello there"},
	{"not rtf is returned as is", "plain auto-reply", "plain auto-reply"},
	{"escaped braces and backslash", "{\\rtf1 a\\{b\\}c\\\\d}", "a{b}c\\d"},
	{"hex escape", "{\\rtf1 caf\\'e9}", "café"},
	{"unicode escape with fallback", "{\\rtf1\\uc1 \\u233?t\\u233?}", "été"},
	{"surrogate pair", "{\\rtf1\\uc1 \\u-10179?\\u-8704?}", "😀"},
	{"ignorable destination", "{\\rtf1{\\*\\generator x;}ok}", "ok"},
	{"line breaks", "{\\rtf1 a\\par b\\line c}", "a\nb\nc"},
	{"unbalanced braces", "{\\rtf1 a}}}{{b", "ab"},
	{"raw utf8 survives", "{\\rtf1 ž}", "ž"},
}

func TestPlainText(t *testing.T) {
	for _, tt := range rtfSeeds {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlainText(tt.rtf); got != tt.want {
				t.Fatalf("PlainText(%q) = %q, want %q", tt.rtf, got, tt.want)
			}
		})
	}
}

func TestRTFRoundTrip(t *testing.T) {
	tests := []struct{ name, text string }{
		{"ascii", "hello world"},
		{"rtf control characters", `a{b}c\d`},
		{"latin", "déjà vu"},
		{"emoji", "ok 😀 fine"},
		{"multi line", "one\ntwo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rtf := ToRTF(tt.text)
			if !strings.HasPrefix(rtf, "{\\rtf1") {
				t.Fatalf("not RTF: %q", rtf)
			}
			for i := 0; i < len(rtf); i++ {
				if rtf[i] >= 0x80 {
					t.Fatalf("RTF holds a raw non-ASCII byte: %q", rtf)
				}
			}
			if got := PlainText(rtf); got != tt.text {
				t.Fatalf("round trip = %q, want %q", got, tt.text)
			}
		})
	}
}

func FuzzPlainText(f *testing.F) {
	for _, s := range rtfSeeds {
		f.Add(s.rtf)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := PlainText(s)
		if len(out) > 4*len(s)+4 {
			t.Fatalf("output of %d bytes from %d bytes of input", len(out), len(s))
		}
		if utf8.ValidString(s) && !strings.HasPrefix(s, "{\\rtf") && out != s {
			t.Fatal("non-RTF input was changed")
		}
		// Text we wrap must come back unchanged (line endings aside).
		if utf8.ValidString(s) && !strings.ContainsRune(s, '\r') && !strings.HasSuffix(s, "\n") {
			if back := PlainText(ToRTF(s)); back != s {
				t.Fatalf("PlainText(ToRTF(%q)) = %q", s, back)
			}
		}
	})
}
