package clocktest

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestClockStartsAtTheRealTimePlusTheOffset(t *testing.T) {
	tests := []struct {
		name   string
		offset string
		want   time.Duration
	}{
		{"no offset", "", 0},
		{"a month ahead", "720h", 720 * time.Hour},
		{"a year ahead", "8760h", 8760 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(OffsetEnv, tt.offset)
			before := time.Now().Add(tt.want)
			c := New()
			var zero Clock
			got, gotZero := c.Now(), zero.Now()
			after := time.Now().Add(tt.want)
			for _, g := range []time.Time{got, gotZero, Now()} {
				if g.Before(before) || g.After(after.Add(time.Second)) {
					t.Fatalf("clock reads %v, want within [%v, %v]", g, before, after)
				}
			}
			c.Advance(time.Hour)
			if d := c.Now().Sub(got); d != time.Hour {
				t.Fatalf("Advance(1h) moved the clock by %v", d)
			}
		})
	}
}

func TestBadOffsetPanics(t *testing.T) {
	t.Setenv(OffsetEnv, "a month")
	defer func() {
		if recover() == nil {
			t.Fatal("Offset accepted a value that does not parse")
		}
	}()
	Offset()
}

// fixedDate finds a date written into test code: time.Date with a literal
// year, or time.Unix with a literal that is a date in this century.
var fixedDate = regexp.MustCompile(`time\.Date\(\s*\d{4}\s*,|time\.Unix(Milli|Micro)?\(\s*[1-9][0-9_]{8,}`)

// TestNoFixedDatesInTests keeps dates out of test code: a clock that starts
// on a fixed date fails once that date is in the past. A line that needs
// one says why it never meets a real clock in a "calendar-free:" comment on
// it or the line above.
func TestNoFixedDatesInTests(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !isTestCode(path) {
			return nil
		}
		found = append(found, fixedDates(t, root, path)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s: a fixed date in test code; start from clocktest.Now() or say why with calendar-free:", f)
	}
}

// isTestCode is a _test.go file or a file of a test helper package.
func isTestCode(path string) bool {
	if !strings.HasSuffix(path, ".go") {
		return false
	}
	return strings.HasSuffix(path, "_test.go") || strings.HasSuffix(filepath.Base(filepath.Dir(path)), "test")
}

func fixedDates(t *testing.T, root, path string) []string {
	t.Helper()
	if filepath.Base(path) == "clocktest_test.go" {
		return nil // the pattern itself
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	prev := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if fixedDate.MatchString(line) && !strings.Contains(line+prev, "calendar-free:") {
			rel, _ := filepath.Rel(root, path)
			found = append(found, rel+":"+strings.TrimSpace(strings.SplitN(line, "//", 2)[0]))
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return found
}
