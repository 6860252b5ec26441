package gwproto

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	maxRequestLine  = 1024 // POST line and each header line
	maxHeaderLines  = 32
	maxBlankPreface = 64 // stray CRLFs or NULs tolerated before a request
)

// ReadRequest reads one request from a stream, as a server does. It never
// assumes one read per request: Pidgin sends a request in many small TLS
// records. NUL bytes are dropped wherever they appear, because Pidgin writes
// a stray NUL after a value it had to cut at 4 KiB. It returns io.EOF when the
// stream ends cleanly between requests.
func ReadRequest(r io.ByteReader) (Request, error) {
	budget := MaxRequest
	var line string
	var err error
	for blank := 0; ; blank++ {
		if line, err = readLine(r, &budget, maxRequestLine); err != nil {
			return Request{}, err
		}
		if line != "" {
			break
		}
		if blank >= maxBlankPreface {
			return Request{}, fmt.Errorf("%w: only blank lines", ErrMalformed)
		}
	}
	cmd, err := parsePostLine(line)
	if err != nil {
		return Request{}, err
	}
	req := Request{Command: cmd}
	for n := 0; ; n++ {
		if n >= maxHeaderLines {
			return Request{}, fmt.Errorf("%w: more than %d header lines", ErrMalformed, maxHeaderLines)
		}
		h, err := readLine(r, &budget, maxRequestLine)
		if err != nil {
			return Request{}, noEOF(err)
		}
		if h == "" {
			break
		}
		if name, value, ok := strings.Cut(h, ":"); ok && strings.EqualFold(name, "Host") {
			req.Host = strings.TrimSpace(value)
		}
	}
	body, err := readLine(r, &budget, budget)
	if err != nil {
		return Request{}, noEOF(err)
	}
	fields, err := ParseRequestBody(body)
	if err != nil {
		return Request{}, err
	}
	last := len(fields) - 1
	if last < 0 || !strings.EqualFold(fields[last].Tag, TagTransactionID) || !fields[last].Type.IsString() {
		return Request{}, fmt.Errorf("%w: %s is not the last field", ErrMalformed, TagTransactionID)
	}
	req.TransactionID = fields[last].Str
	req.Fields = fields[:last]
	return req, nil
}

// noEOF turns a clean end of stream inside a request into an unexpected one.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLine reads up to '\n', dropping NULs and the line ending, charging
// every byte to *budget and refusing lines longer than max.
func readLine(r io.ByteReader, budget *int, limit int) (string, error) {
	var b strings.Builder
	for n := 0; ; n++ {
		c, err := r.ReadByte()
		if err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		*budget--
		if *budget < 0 || b.Len() > limit {
			return "", ErrTooLarge
		}
		switch c {
		case 0:
			continue
		case '\n':
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		b.WriteByte(c)
	}
}

func parsePostLine(line string) (string, error) {
	rest, ok := strings.CutPrefix(line, "POST /")
	if !ok {
		return "", fmt.Errorf("%w: request line %.40q", ErrMalformed, line)
	}
	cmd, proto, ok := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/") || !validCommand(cmd) {
		return "", fmt.Errorf("%w: request line %.40q", ErrMalformed, line)
	}
	return cmd, nil
}

// group is one "&tag=..&cmd=..&val=..&type=.." run before arrays are rebuilt.
type group struct {
	tag    string
	method Method
	val    string
	typ    Type
}

// ParseRequestBody parses the field line of a request, rebuilding arrays from
// their flattened form.
func ParseRequestBody(body string) (Fields, error) {
	var groups []group
	cur := -1
	for tok := range strings.SplitSeq(body, "&") {
		if tok == "" {
			continue
		}
		key, val, ok := strings.Cut(tok, "=")
		if !ok {
			return nil, fmt.Errorf("%w: token %.40q", ErrMalformed, tok)
		}
		if key == "tag" {
			if len(groups) >= MaxFields {
				return nil, ErrTooLarge
			}
			if checkTag(val) != nil {
				return nil, fmt.Errorf("%w: tag %.70q", ErrMalformed, val)
			}
			groups = append(groups, group{tag: val, typ: TypeInvalid})
			cur = len(groups) - 1
			continue
		}
		if cur < 0 {
			return nil, fmt.Errorf("%w: %q before the first tag", ErrMalformed, key)
		}
		g := &groups[cur]
		switch key {
		case "cmd":
			m, ok := methodByCode[firstByte(val)]
			if !ok || len(val) != 1 {
				return nil, fmt.Errorf("%w: method %.10q", ErrMalformed, val)
			}
			g.method = m
		case "val":
			g.val = val
		case "type":
			t, err := strconv.ParseUint(val, 10, 8)
			if err != nil || t == uint64(TypeInvalid) || t == uint64(TypeBinary) || t > uint64(TypeDN) {
				return nil, fmt.Errorf("%w: type %.10q", ErrMalformed, val)
			}
			g.typ = Type(t)
		default:
			return nil, fmt.Errorf("%w: key %.20q", ErrMalformed, key)
		}
	}
	i := 0
	fields, err := buildFields(groups, &i, -1, 0)
	if err != nil {
		return nil, err
	}
	return fields, nil
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// buildFields consumes count groups (all remaining when count < 0).
func buildFields(groups []group, i *int, count, depth int) (Fields, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	if count > len(groups)-*i {
		return nil, fmt.Errorf("%w: array claims %d fields, %d follow", ErrMalformed, count, len(groups)-*i)
	}
	capacity := count
	if count < 0 {
		capacity = min(len(groups)-*i, 64)
	}
	fields := make(Fields, 0, capacity)
	for k := 0; (count < 0 && *i < len(groups)) || k < count; k++ {
		if *i >= len(groups) {
			return nil, fmt.Errorf("%w: arrays claim more fields than follow", ErrMalformed)
		}
		g := groups[*i]
		*i++
		f := Field{Tag: g.tag, Method: g.method, Type: g.typ}
		switch {
		case g.typ == TypeInvalid:
			return nil, fmt.Errorf("%w: %s has no type", ErrMalformed, g.tag)
		case g.typ.IsString():
			s, err := unescape(g.val)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, g.tag, err)
			}
			f.Str = s
		case g.typ.IsContainer():
			c, err := strconv.ParseUint(g.val, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: %s count %.10q", ErrMalformed, g.tag, g.val)
			}
			if c > uint64(len(groups)-*i) {
				return nil, fmt.Errorf("%w: %s claims %d fields", ErrMalformed, g.tag, c)
			}
			if f.Fields, err = buildFields(groups, i, int(c), depth+1); err != nil {
				return nil, err
			}
		default:
			v, err := strconv.ParseUint(g.val, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: %s value %.12q", ErrMalformed, g.tag, g.val)
			}
			f.Value = uint32(v)
		}
		fields = append(fields, f)
	}
	return fields, nil
}
