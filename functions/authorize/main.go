// Command authorize is the Lambda function that decides a device login:
// device, permission, pool limits, eviction, atomic admission.
package main

import "github.com/collabgw/collabgw/internal/lambdaapi/lambdamain"

func main() { lambdamain.Run(lambdamain.Authorize) }
