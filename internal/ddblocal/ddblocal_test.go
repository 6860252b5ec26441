package ddblocal

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestStartExplainsWhatIsMissingOrTaken(t *testing.T) {
	t.Run("java missing", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		if _, err := Start(context.Background(), Config{CacheDir: t.TempDir()}); !errors.Is(err, ErrJavaMissing) {
			t.Fatalf("err = %v, want ErrJavaMissing", err)
		}
	})
	t.Run("port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, err = Start(context.Background(), Config{CacheDir: t.TempDir(), Addr: ln.Addr().String()})
		if err == nil || !strings.Contains(err.Error(), "is not free") {
			t.Fatalf("err = %v, want a clear 'not free' error", err)
		}
	})
}
