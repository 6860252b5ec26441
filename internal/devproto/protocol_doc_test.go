package devproto

import (
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

// TestProtocolDocument holds docs/device-protocol.md to the code on the
// facts an implementer copies from it: the status codes and texts, the
// refusal texts, the prologue bytes, the dictionary's hash and the sizes
// it quotes. The rest of the document is checked by reading it; these are
// the facts that drift silently.
func TestProtocolDocument(t *testing.T) {
	raw, err := os.ReadFile("../../docs/device-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	t.Run("status table", func(t *testing.T) {
		_, section, _ := strings.Cut(doc, "\n## Statuses\n")
		section, _, _ = strings.Cut(section, "\n## ")
		row := regexp.MustCompile(`(?m)^\| (\d+) \| ([A-Z_0-9]+) \| ([^|]+) \|`)
		seen := map[status.Code]bool{}
		for _, m := range row.FindAllStringSubmatch(section, -1) {
			n, _ := strconv.Atoi(m[1])
			c := status.Code(n)
			if !c.Valid() {
				t.Errorf("the document lists status %d, which the code does not define", n)
				continue
			}
			seen[c] = true
			if m[2] != c.String() || strings.TrimSpace(m[3]) != c.Text() {
				t.Errorf("document: %s %s %q; code: %s %q", m[1], m[2], strings.TrimSpace(m[3]), c, c.Text())
			}
		}
		for _, c := range status.All() {
			if !seen[c] {
				t.Errorf("status %d %v is missing from the document's table", c, c)
			}
		}
	})

	t.Run("refusal texts", func(t *testing.T) {
		for _, tt := range []struct {
			code status.Code
			text string
		}{
			{status.ProtocolError, ClockSkewText},
			{status.LoggedOut, LogoutText},
		} {
			if want := fmt.Sprintf("| %d | %s |", tt.code, tt.text); !strings.Contains(doc, want) {
				t.Errorf("the document's texts table lacks %q", want)
			}
		}
		if st := RejectStatus(&SkewError{Skew: time.Hour, Max: time.Minute}); st.Message != ClockSkewText {
			t.Errorf("a clock-skew refusal says %q", st.Message)
		}
	})

	t.Run("prologue", func(t *testing.T) {
		var b strings.Builder
		for i, c := range prologue {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(hex.EncodeToString([]byte{c}))
		}
		if !strings.Contains(doc, b.String()) {
			t.Errorf("the document does not show the prologue as %s", b.String())
		}
	})

	t.Run("dictionary", func(t *testing.T) {
		if !strings.Contains(doc, dictionaryHash) || !strings.Contains(doc, fmt.Sprintf("%s bytes", thousands(len(dictionary)))) {
			t.Errorf("the document does not give the dictionary's size (%d) and hash %s", len(dictionary), dictionaryHash)
		}
	})

	t.Run("largest HELLO", func(t *testing.T) {
		l := &Login{
			DeviceID: strings.Repeat("d", MaxDeviceIDLen), UserID: strings.Repeat("u", MaxUserIDLen),
			ClientVersion: strings.Repeat("v", MaxClientVersionLen), Password: Password(strings.Repeat("p", MaxPasswordLen)),
			Timestamp: time.Unix(0, 1<<62),
		}
		body, err := l.appendFields([]byte{byte(TypeLogin)})
		if err != nil {
			t.Fatal(err)
		}
		// The worst case stores the body: flags, secret section, body.
		p := 1 + 1 + MaxPasswordLen + paddingFor(MaxPasswordLen) + len(body)
		// kind, version, e, encrypted s, encrypted payload.
		n := 1 + 1 + 32 + 32 + TagLen + p + TagLen
		if n > MaxHelloSize || !strings.Contains(doc, fmt.Sprintf("makes a HELLO of length %d", n)) {
			t.Errorf("a LOGIN at its limits makes a HELLO of length %d (limit %d); the document must say so", n, MaxHelloSize)
		}
	})

	t.Run("limits", func(t *testing.T) {
		for _, s := range []string{
			fmt.Sprintf("| HELLO, WELCOME | %s", thousands(MaxHelloSize)),
			fmt.Sprintf("%s by default", thousands(DefaultMaxFrameSize)),
			fmt.Sprintf("%s to %s", thousands(MinFrameSize), thousands(MaxFrameSize)),
			fmt.Sprintf("device id `str` (see [Device id](#device-id)), user id `str` (1–%d)", MaxUserIDLen),
			fmt.Sprintf("**Length**: 1 to %d bytes", MaxDeviceIDLen),
			fmt.Sprintf("session id `str` (1–%d)", MaxSessionIDLen),
			fmt.Sprintf("text `str` (1–%s)", thousands(MaxIMTextLen)),
		} {
			if !strings.Contains(doc, s) {
				t.Errorf("the document does not say %q", s)
			}
		}
	})
}

// thousands formats n as the document does: 16,384.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
