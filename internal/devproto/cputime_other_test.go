//go:build !unix

package devproto_test

// threadCPU is not measured here; the benchmark then reports 0.
func threadCPU() int64 { return 0 }
