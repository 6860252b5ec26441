// Command release is the Lambda function that ends a session and frees its
// slot; it is idempotent.
package main

import "github.com/collabgw/collabgw/internal/lambdaapi/lambdamain"

func main() { lambdamain.Run(lambdamain.Release) }
