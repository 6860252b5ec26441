package devproto

import (
	"bytes"
	"crypto/rand"
	"runtime"
	"testing"

	"github.com/flynn/noise"
)

// TestHandshakeDHMatchesNoise: the per-handshake X25519 gives the keys and
// shared secrets of flynn/noise's own, from the same random bytes, and
// refuses the low-order points it refuses.
func TestHandshakeDHMatchesNoise(t *testing.T) {
	for range 20 {
		static, err := GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		key, err := ecdhKey(static)
		if err != nil {
			t.Fatal(err)
		}
		seed := make([]byte, 32)
		_, _ = rand.Read(seed)
		d := &handshakeDH{static: key, staticRaw: static[:]}
		mine, err := d.GenerateKeypair(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := noise.DH25519.GenerateKeypair(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mine.Private, ref.Private) || !bytes.Equal(mine.Public, ref.Public) {
			t.Fatalf("ephemeral key differs from noise.DH25519's for the same random bytes")
		}
		peer, err := noise.DH25519.GenerateKeypair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		other, err := GenerateKey(nil) // neither static nor ephemeral: the fallback
		if err != nil {
			t.Fatal(err)
		}
		for name, priv := range map[string][]byte{"static": static[:], "ephemeral": mine.Private, "other": other[:]} {
			got, err := d.DH(priv, peer.Public)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want, err := noise.DH25519.DH(priv, peer.Public)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: DH differs from noise.DH25519 (%v)", name, err)
			}
		}
	}

	d := &handshakeDH{}
	if _, err := d.GenerateKeypair(rand.Reader); err != nil {
		t.Fatal(err)
	}
	lowOrder := [][]byte{
		make([]byte, 32), // zero
		{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // one
		{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, // order 8
			0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	}
	for i, p := range lowOrder {
		_, err := d.DH(d.ephRaw, p)
		_, refErr := noise.DH25519.DH(d.ephRaw, p)
		if err == nil || refErr == nil {
			t.Errorf("low-order point %d: error %v, noise.DH25519's %v; want both to refuse", i, err, refErr)
		}
	}
	if d.DHName() != noise.DH25519.DHName() || d.DHLen() != noise.DH25519.DHLen() {
		t.Fatal("name or length differs from noise.DH25519: the protocol name would change")
	}
}

// BenchmarkHandshakeX25519 is one side's X25519 work in a Noise IK
// handshake (generate the ephemeral key, two DHs with it and two with the
// static key), with flynn/noise's X25519 and with handshakeDH, side by
// side. cpu-µs/op is the benchmark thread's CPU time per handshake: on a
// shared machine, wall time also counts the time other processes held the
// cores.
func BenchmarkHandshakeX25519(b *testing.B) {
	static, err := GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	key, err := ecdhKey(static)
	if err != nil {
		b.Fatal(err)
	}
	peer, err := noise.DH25519.GenerateKeypair(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		dh   func() noise.DHFunc
	}{
		{"noise.DH25519", func() noise.DHFunc { return noise.DH25519 }},
		{"handshakeDH", func() noise.DHFunc { return &handshakeDH{static: key, staticRaw: static[:]} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu := threadCPU()
			for b.Loop() {
				dh := bc.dh()
				e, err := dh.GenerateKeypair(rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				for _, priv := range [][]byte{static[:], static[:], e.Private, e.Private} {
					if _, err := dh.DH(priv, peer.Public); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(threadCPU()-cpu)/1e3/float64(b.N), "cpu-µs/op")
		})
	}
}
