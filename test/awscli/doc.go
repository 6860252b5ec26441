// Package awscli proves that the local stack's endpoints behave as the real
// services do for the client users already have: the AWS CLI v2 (Debian's
// awscli) invokes every function with every event in events/ through the
// local Lambda Invoke endpoint, and reads the seeded pool from DynamoDB
// Local, against a stack the test starts on free loopback ports. The CLI
// runs with static local credentials and a region from its environment,
// never the user's ~/.aws. Run with `go test ./test/awscli` (-short skips
// it).
package awscli
