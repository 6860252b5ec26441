package devproto_test

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/devproto"
)

// The vector file format, which any language reads in a few lines:
//   - "#" starts a comment, to the end of the line;
//   - "[name]" starts a value;
//   - the value is every pair of hex digits on the lines up to the next
//     "[name]", spaces ignored.

type vectorWriter struct{ b strings.Builder }

func newVectorWriter(name, what string) *vectorWriter {
	w := &vectorWriter{}
	w.comment(fmt.Sprintf("collabgw device protocol, version %d. Test vector %q: %s.", devproto.Version, name, what))
	w.comment("Specification: docs/device-protocol.md. Made by TestVectors in internal/devproto/vectors_test.go:")
	w.comment("  go test ./internal/devproto -run TestVectors -update-vectors")
	w.comment(`Format: "[name]" starts a value; the value is the hex digits on the lines below it, up to the`)
	w.comment(`next "[name]", spaces ignored; "#" starts a comment. Hex is the bytes in wire order.`)
	return w
}

func (w *vectorWriter) String() string { return w.b.String() }

func (w *vectorWriter) comment(s string) { fmt.Fprintf(&w.b, "# %s\n", s) }

// note writes a comment that opens a new group of values.
func (w *vectorWriter) note(s string) {
	w.b.WriteString("\n")
	w.comment(s)
}

func (w *vectorWriter) section(name, note string) {
	w.b.WriteString("\n[" + name + "]")
	if note != "" {
		w.b.WriteString("  # " + note)
	}
	w.b.WriteString("\n")
}

// hex writes b, 16 bytes a line, the note on its first line.
func (w *vectorWriter) hex(b []byte, note string) {
	for i := 0; i == 0 || i < len(b); i += 16 {
		line := hex.EncodeToString(b[i:min(i+16, len(b))])
		if i == 0 && note != "" {
			fmt.Fprintf(&w.b, "%-34s # %s\n", line, note)
			continue
		}
		w.b.WriteString(line + "\n")
	}
}

func (w *vectorWriter) annotate(fields []annotated) {
	for _, f := range fields {
		w.hex(f.b, f.note)
	}
}

// frameHeader writes a handshake frame's length prefix (the first 2
// bytes of frame), kind and version.
func (w *vectorWriter) frameHeader(frame []byte, kind string) {
	n := binary.BigEndian.Uint16(frame)
	w.hex(frame[:2], fmt.Sprintf("length %d (big-endian): the kind byte and the body, not these 2 bytes", n))
	kinds := map[string]byte{"HELLO": devproto.KindHello, "WELCOME": devproto.KindWelcome}
	w.hex([]byte{kinds[kind]}, "kind "+kind)
	w.hex([]byte{devproto.Version}, "version 1")
}

type vector struct {
	name   string
	values map[string][]byte
}

func (v vector) get(t *testing.T, name string) []byte {
	t.Helper()
	b, ok := v.values[name]
	if !ok {
		t.Fatalf("%s has no [%s]", v.name, name)
	}
	return b
}

func readVector(t *testing.T, name string) vector {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := vector{name: name, values: map[string][]byte{}}
	var cur string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "["):
			cur = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]")
			if _, dup := v.values[cur]; dup {
				t.Fatalf("%s:%d: [%s] twice", name, n, cur)
			}
			v.values[cur] = []byte{}
		default:
			b, err := hex.DecodeString(strings.ReplaceAll(line, " ", ""))
			if err != nil || cur == "" {
				t.Fatalf("%s:%d: %q is not hex in a section (%v)", name, n, line, err)
			}
			v.values[cur] = append(v.values[cur], b...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

type difference struct {
	n    int
	a, b string
}

func firstDifference(a, b string) (difference, bool) {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return difference{i + 1, x, y}, true
		}
	}
	return difference{}, false
}
