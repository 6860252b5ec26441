package localstack

import "testing"

// FuzzParseLogLine feeds arbitrary edge output to the log relay: it must
// never panic, and a line it accepts yields key/value pairs.
func FuzzParseLogLine(f *testing.F) {
	for _, seed := range []string{
		`{"time":"x","level":"INFO","msg":"edge started","owner":"vm-1","lease":90}`,
		`{"level":"ERROR","msg":"e","err":{"a":[1,2,{"b":null}]}}`,
		`{"level":"bogus","msg":7}`,
		`panic: boom`, `{"level":"INFO","msg":`, `{}`, `[]`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		_, _, attrs, ok := parseLogLine(line)
		if !ok {
			return
		}
		if len(attrs)%2 != 0 {
			t.Fatalf("odd attributes %v", attrs)
		}
		for i := 0; i < len(attrs); i += 2 {
			if _, isKey := attrs[i].(string); !isKey {
				t.Fatalf("attribute key %v is not a string", attrs[i])
			}
		}
	})
}
