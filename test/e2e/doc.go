// Package e2e holds collabgw's end-to-end tests over loopback: devices →
// the edge (its real binary, as a separate process) → the functions under
// the Lambda Runtime Interface Emulator → DynamoDB Local → the GroupWise
// Messenger simulator, all started through internal/localstack. Run with
// `go test -race ./test/e2e` (about a minute; -short skips it).
package e2e
