// Package deploy tests `make deploy` (scripts/deploy.sh), the first
// deployment of README "Deploy": that it builds everything that needs no
// AWS account and stops with a clear message where a person must act (no
// terraform.tfvars, no AWS credentials), and, with stand-ins for the two
// programs that reach AWS (terraform and the aws CLI, which record what
// they are asked) and a real registry in place of ECR, that the rest of
// the flow runs in order: the repository, the image push by digest into
// edge.auto.tfvars.json, the key secrets passed by file:// and never left
// on disk, and the final apply. Run with `go test ./test/deploy` (-short
// skips it).
package deploy
