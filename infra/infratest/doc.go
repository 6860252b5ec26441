// Package infratest proves the Terraform in infra/ as far as it can be
// proved without an AWS account: it installs OpenTofu, tflint and a schema
// stand-in of the AWS provider (scripts/infra-tools.sh), then runs fmt,
// init, validate, tflint and `tofu test` (with mock_provider) on every
// module and example, and checks with generated tests that the names the Go
// code expects (internal/manifest) are the names the Terraform deploys.
package infratest
