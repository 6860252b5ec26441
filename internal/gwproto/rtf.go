package gwproto

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Messages travel as RTF in NM_A_SZ_MESSAGE_BODY and event 108, because the
// native GroupWise clients render RTF; the plain text rides beside it in
// NM_A_SZ_MESSAGE_TEXT on the way out only.

const (
	rtfHead = "{\\rtf1\\ansi\n{\\fonttbl{\\f0\\fnil Unknown;}}\n{\\colortbl ;\\red0\\green0\\blue0;}\n\\uc1\\cf1\\f0\\fs24 "
	rtfTail = "\\par\n}"
	// maxRTFDepth bounds the group stack; deeper groups are still parsed
	// but inherit the skip state of the deepest tracked one.
	maxRTFDepth = 64
)

// ToRTF wraps plain text the way GroupWise clients expect: control
// characters of RTF escaped, line breaks as \par, and every non-ASCII
// character as a \uN escape with '?' as the fallback for old readers.
func ToRTF(text string) string {
	var b strings.Builder
	b.Grow(len(rtfHead) + len(text) + len(rtfTail) + 16)
	b.WriteString(rtfHead)
	for _, r := range text {
		switch {
		case r == '\\' || r == '{' || r == '}':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString("\\par ")
		case r == '\r':
		case r < 0x80:
			b.WriteRune(r)
		default:
			for _, u := range utf16.Encode([]rune{r}) {
				b.WriteString("\\u")
				b.WriteString(strconv.Itoa(int(int16(u))))
				b.WriteByte('?')
			}
		}
	}
	b.WriteString(rtfTail)
	return b.String()
}

// skipDestinations are groups whose text is not part of the message.
var skipDestinations = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true,
	"pict": true, "header": true, "footer": true, "generator": true,
}

// PlainText returns the text of an RTF message, or s itself when it is not
// RTF (auto-replies are plain). It never fails: unknown control words are
// dropped and unbalanced braces are tolerated.
func PlainText(s string) string {
	if !strings.HasPrefix(s, "{\\rtf") {
		return s
	}
	out := make([]byte, 0, len(s)/2)
	skip := make([]bool, 1, 8) // skip state per open group
	depth := 0
	pendingSkip := 0 // fallback characters still to drop after \uN
	var high rune    // first half of a surrogate pair
	// emit appends one character; raw bytes (r < 0) are copied as they are,
	// so RTF that carries UTF-8 directly survives.
	emit := func(r rune) {
		if skip[len(skip)-1] {
			return
		}
		if pendingSkip > 0 {
			pendingSkip--
			return
		}
		if r < 0 {
			out = append(out, byte(-r))
			return
		}
		out = utf8.AppendRune(out, r)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '{':
			depth++
			if len(skip) < maxRTFDepth {
				skip = append(skip, skip[len(skip)-1])
			}
			i++
		case '}':
			if depth > 0 {
				depth--
				if len(skip) > 1 && depth < len(skip)-1 {
					skip = skip[:len(skip)-1]
				}
			}
			i++
		case '\r', '\n':
			i++
		case '\\':
			i++
			if i >= len(s) {
				break
			}
			c = s[i]
			if !isLetter(c) {
				i++
				switch c {
				case '\\', '{', '}':
					emit(rune(c))
				case '\'':
					if i+2 <= len(s) {
						if v, err := strconv.ParseUint(s[i:i+2], 16, 8); err == nil {
							emit(rune(v)) // Latin-1 is close enough to cp1252 here
						}
						i += 2
					}
				case '*':
					skip[len(skip)-1] = true
				case '~':
					emit('\u00a0')
				case '\n', '\r':
					emit('\n')
				}
				break
			}
			start := i
			for i < len(s) && isLetter(s[i]) {
				i++
			}
			word := s[start:i]
			pstart := i
			if i < len(s) && s[i] == '-' {
				i++
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-pstart < 11 {
				i++
			}
			param, hasParam := 0, i > pstart
			if hasParam {
				param, _ = strconv.Atoi(s[pstart:i])
			}
			if i < len(s) && s[i] == ' ' {
				i++
			}
			switch {
			case word == "par" || word == "line":
				emit('\n')
			case word == "tab":
				emit('\t')
			case word == "u" && hasParam:
				// RTF writes UTF-16 units as signed 16-bit numbers; keep the
				// low 16 bits of whatever was written.
				r := rune(uint16(param & 0xffff)) //nolint:gosec // masked to 16 bits
				switch {
				case utf16.IsSurrogate(r) && high == 0:
					high = r
				case high != 0:
					emit(utf16.DecodeRune(high, r))
					high = 0
				default:
					emit(r)
				}
				if !skip[len(skip)-1] {
					pendingSkip = 1
				}
			case skipDestinations[word]:
				skip[len(skip)-1] = true
			}
		default:
			if c >= 0x80 {
				emit(-rune(c))
			} else {
				emit(rune(c))
			}
			i++
		}
	}
	return strings.TrimRight(string(out), "\n")
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
