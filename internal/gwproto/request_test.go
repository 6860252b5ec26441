package gwproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// workedLogin is the worked 369-byte login of the protocol notes (the golden
// testdata/login_request.txt), field for field.
var workedLogin = Request{
	Command:       "login",
	Host:          "gw.example.com:8300",
	TransactionID: "1",
	Fields: Fields{
		String(TagUserID, "alice"),
		String(TagCredentials, "s3cr3t!"),
		String(TagUserAgent, "Purple/2.14.12 (Linux; 6.1.0)"),
		Number(TagBuild, ProtocolBuild),
		String(TagIPAddress, "10.0.0.5"),
	},
}

// createConf has a nested array and DN fields, as Pidgin sends it.
var createConf = Request{
	Command:       "createconf",
	TransactionID: "7",
	Fields: Fields{
		Array(TagConversation, String(TagObjectID, BlankGUID)),
		DN(TagDN, "cn=bob,ou=users,o=example"),
		DN(TagDN, "cn=alice,ou=users,o=example"),
	},
}

func TestAppendRequestMatchesWorkedLogin(t *testing.T) {
	want, err := os.ReadFile("testdata/login_request.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendRequest(nil, workedLogin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from the spec's worked login:\ngot  %q\nwant %q", got, want)
	}
	if len(got) != 369 {
		t.Fatalf("worked login is %d bytes, spec says 369", len(got))
	}
}

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"letters and digits stay", "abcXYZ019", "abcXYZ019"},
		{"space becomes plus", "a b", "a+b"},
		{"punctuation is escaped lower case", ".-_@%&", "%2e%2d%5f%40%25%26"},
		{"utf8 is escaped byte by byte", "é", "%c3%a9"},
		{"plus itself is escaped", "+", "%2b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendEscaped(nil, tt.in)); got != tt.want {
				t.Fatalf("escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			back, err := unescape(tt.want)
			if err != nil || back != tt.in {
				t.Fatalf("unescape(%q) = %q, %v", tt.want, back, err)
			}
		})
	}
}

func TestAppendRequestRefuses(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"empty command", Request{TransactionID: "1"}, ErrBadCommand},
		{"command with a space", Request{Command: "log in", TransactionID: "1"}, ErrBadCommand},
		{"tag with an ampersand", Request{Command: "x", Fields: Fields{String("a&b", "")}}, ErrBadTag},
		{"tag of 64 bytes", Request{Command: "x", Fields: Fields{String(strings.Repeat("t", 64), "")}}, ErrBadTag},
		{"string of 32 KiB", Request{Command: "x", Fields: Fields{String("t", strings.Repeat("a", 32767))}}, ErrBadField},
		{"host with CRLF", Request{Command: "x", Host: "h\r\nX: y"}, ErrBadField},
		{"unknown type", Request{Command: "x", Fields: Fields{{Tag: "t", Type: 14}}}, ErrBadField},
		{"unknown method", Request{Command: "x", Fields: Fields{{Tag: "t", Type: TypeUTF8, Method: 99}}}, ErrBadField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := AppendRequest(nil, tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAppendRequestSkipsIgnoredAndBinary(t *testing.T) {
	req := Request{Command: "ping", TransactionID: "2", Fields: Fields{
		{Tag: "ignored", Type: TypeUTF8, Method: MethodIgnore, Str: "x"},
		{Tag: "blob", Type: TypeBinary, Value: 1},
	}}
	got, err := AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /ping HTTP/1.0\r\n\r\n&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=2&type=10\r\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// requestSeeds are stream inputs for the parser; the fuzz target starts
// from them too.
var requestSeeds = []struct {
	name  string
	input string
	want  []Request // nil when the input must be refused
}{
	{"worked login", mustRequest(workedLogin), []Request{workedLogin}},
	{"nested array", mustRequest(createConf), []Request{createConf}},
	{"two requests back to back", mustRequest(createConf) + mustRequest(workedLogin), []Request{createConf, workedLogin}},
	{"stray NUL after a cut value is dropped",
		"POST /ping HTTP/1.0\r\n\r\n&tag=NM_A_SZ_MESSAGE_TEXT&cmd=0&val=ab%2\x00&type=10&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=3&type=10\r\n",
		[]Request{{Command: "ping", TransactionID: "3", Fields: Fields{String(TagMessageText, "ab")}}}},
	{"stray NUL and CRLF between requests",
		"\x00\r\n" + mustRequest(createConf),
		[]Request{createConf}},
	{"method letters map to numbers",
		"POST /updateitem HTTP/1.0\r\n\r\n&tag=NM_A_SZ_DN&cmd=G&val=x&type=13&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=4&type=10\r\n",
		[]Request{{Command: "updateitem", TransactionID: "4", Fields: Fields{{Tag: TagDN, Type: TypeDN, Method: MethodEqual, Str: "x"}}}}},
	{"not a POST", "GET / HTTP/1.0\r\n\r\n\r\n", nil},
	{"array claims more than follow",
		"POST /x HTTP/1.0\r\n\r\n&tag=A&cmd=0&val=5&type=9&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=1&type=10\r\n", nil},
	{"no transaction id", "POST /x HTTP/1.0\r\n\r\n&tag=A&cmd=0&val=1&type=8\r\n", nil},
	{"binary type", "POST /x HTTP/1.0\r\n\r\n&tag=A&cmd=0&val=1&type=2&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=1&type=10\r\n", nil},
	{"number that is not a number", "POST /x HTTP/1.0\r\n\r\n&tag=A&cmd=0&val=x&type=8&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=1&type=10\r\n", nil},
	{"bad escape", "POST /x HTTP/1.0\r\n\r\n&tag=A&cmd=0&val=%zz&type=10&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=1&type=10\r\n", nil},
	{"value before any tag", "POST /x HTTP/1.0\r\n\r\n&val=1&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=1&type=10\r\n", nil},
	{"unknown key", "POST /x HTTP/1.0\r\n\r\n&tag=A&foo=1&type=8&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=1&type=10\r\n", nil},
	{"ends inside the body", "POST /x HTTP/1.0\r\n\r\n&tag=A&cmd=0", nil},
	{"endless header", "POST /x HTTP/1.0\r\n" + strings.Repeat("X: y\r\n", 40), nil},
	{"body over the size limit", "POST /x HTTP/1.0\r\n\r\n&tag=A&cmd=0&val=" + strings.Repeat("a", MaxRequest) + "&type=10\r\n", nil},
	{"nesting too deep", "POST /x HTTP/1.0\r\n\r\n" + strings.Repeat("&tag=A&cmd=0&val=1&type=9", MaxDepth+2) + "&tag=B&cmd=0&val=1&type=8&tag=NM_A_SZ_TRANSACTION_ID&cmd=0&val=1&type=10\r\n", nil},
}

func mustRequest(req Request) string {
	b, err := AppendRequest(nil, req)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestReadRequest(t *testing.T) {
	for _, tt := range requestSeeds {
		t.Run(tt.name, func(t *testing.T) {
			// One byte per read: Pidgin's many tiny TLS records, at the extreme.
			r := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(tt.input)), 16)
			for i, want := range tt.want {
				got, err := ReadRequest(r)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if !equalRequest(got, want) {
					t.Fatalf("request %d:\ngot  %+v\nwant %+v", i, got, want)
				}
			}
			_, err := ReadRequest(r)
			if tt.want != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("after the last request err = %v, want io.EOF", err)
			}
			if tt.want == nil && (err == nil || errors.Is(err, io.EOF)) {
				t.Fatalf("malformed input accepted: err = %v", err)
			}
		})
	}
}

func equalRequest(a, b Request) bool {
	return a.Command == b.Command && a.Host == b.Host && a.TransactionID == b.TransactionID && equalFields(a.Fields, b.Fields)
}

func equalFields(a, b Fields) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Tag != y.Tag || x.Method != y.Method || x.Type != y.Type || x.Value != y.Value || x.Str != y.Str || !equalFields(x.Fields, y.Fields) {
			return false
		}
	}
	return true
}

func FuzzReadRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s.input))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		// What parses must survive a round trip unchanged.
		enc, err := AppendRequest(nil, req)
		if err != nil {
			return // e.g. a string the encoder refuses as too long
		}
		back, err := ReadRequest(bufio.NewReader(bytes.NewReader(enc)))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", enc, err)
		}
		if !equalRequest(req, back) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", req, back)
		}
	})
}
