// Command sweep is the Lambda function EventBridge runs every minute: it
// ends sessions of dead edge tasks and inactive devices and repairs counter
// drift.
package main

import "github.com/collabgw/collabgw/internal/lambdaapi/lambdamain"

func main() { lambdamain.Run(lambdamain.Sweep) }
