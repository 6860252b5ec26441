//go:build !unix

package devproto

// threadCPU is unknown here: the CPU metric reads 0.
func threadCPU() int64 { return 0 }
