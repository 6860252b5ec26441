// Package fleet holds collabgw's end-to-end tests of a fleet (issue 12):
// three edge processes (the real edge binary, configured as ECS configures
// it) behind HAProxy, over the local stack's functions under the Lambda
// Runtime Interface Emulator, DynamoDB Local and the GroupWise simulator,
// all on loopback and started through internal/localstack. They prove what
// one edge cannot: a RESUME from a new address reaches its session on any
// edge, a killed edge's devices come back and its slots are freed, a
// rolling restart loses no device and leaks no slot, a login storm
// spread over the edges admits exactly the pool's maximum, and a session
// admitted for an edge that never held it (a stray) is released.
//
// The stack runs a short lease (5 s, renewed every second) so a killed
// edge's recovery fits in a test; the sweep is invoked by the tests, so
// each sweep's report is seen. Run with `go test -race ./test/fleet`
// (about 80 s on a shared two-core machine; -short skips it); add
// `-args -fleet.defaults` to run at the production lease and heartbeat.
// The times the tests log are recorded in docs/benchmarks.md (Fleet).
package fleet
