package gwproto

import "errors"

// ErrBadEscape reports a request value with a malformed %xx escape.
var ErrBadEscape = errors.New("gwproto: malformed escape")

const hexDigits = "0123456789abcdef"

// appendEscaped appends s escaped as request values are: ASCII letters and
// digits stay, space becomes '+', every other byte becomes %xx in lower case.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}

// unescape reverses appendEscaped. An escape cut short at the very end is
// dropped rather than refused: Pidgin cuts values longer than its 4 KiB
// buffer wherever the cut falls, possibly inside an escape.
func unescape(s string) (string, error) {
	need := false
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '+' {
			need = true
			break
		}
	}
	if !need {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+3 > len(s) {
				return string(out), nil // truncated escape at the end
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", ErrBadEscape
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
