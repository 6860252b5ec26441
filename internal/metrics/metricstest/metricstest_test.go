package metricstest

import (
	"encoding/base64"
	"encoding/hex"
	"slices"
	"testing"
)

// TestLeaks proves the scanner finds a secret in every form it claims to.
func TestLeaks(t *testing.T) {
	secret := Secret{Name: "password", Value: []byte("correct horse battery staple \"quoted\"")}
	tests := []struct {
		name string
		out  string
		want []string
	}{
		{"clean", `{"msg":"login accepted","user":"alice"}`, nil},
		{"raw", "password is " + string(secret.Value), []string{"password (prefix)", "password (raw)"}},
		{"json escaped", `{"pw":"correct horse battery staple \"quoted\""}`, []string{"password (json)", "password (prefix)"}},
		{"base64", base64.StdEncoding.EncodeToString(secret.Value), []string{"password (base64)", "password (base64raw)", "password (base64rurl)", "password (base64url)"}},
		{"hex", hex.EncodeToString(secret.Value), []string{"password (hex)"}},
		{"truncated", `{"pw":"correct horse b…"}`, []string{"password (prefix)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Leaks([]byte(tt.out), secret)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Leaks = %v, want %v", got, tt.want)
			}
		})
	}
}
