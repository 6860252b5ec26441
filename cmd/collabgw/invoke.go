package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/localstack"
)

func newInvokeCmd() *cobra.Command {
	var (
		function, event, endpoint string
		keepTime, printEvent      bool
	)
	cmd := &cobra.Command{
		Use:   "invoke",
		Short: "Invoke a function of the running local stack (make run) with an event file and print its answer",
		Long: `Invoke a function of the running local stack (make run) with an event file and print its answer.

An authorize event's deviceTime is replaced with the current time before it is
sent: authorize refuses a device time outside its clock window (5 minutes, as
the edge), and the sample events in events/ carry a fixed one. --keep-time
sends the file as it is. --print-event prints the event that would be sent and
invokes nothing, for other tools:

  sam local invoke Authorize -e <(go run ./cmd/collabgw invoke --function authorize --event events/authorize-accept.json --print-event)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			payload, err := os.ReadFile(event)
			if err != nil {
				return err
			}
			if !keepTime {
				payload = lambdaapi.StampDeviceTime(payload, time.Now())
			}
			if printEvent {
				_, err := cmd.OutOrStdout().Write(payload)
				return err
			}
			client := localstack.NewLambdaClient(endpoint)
			out, err := client.Invoke(cmd.Context(), &lambda.InvokeInput{FunctionName: aws.String(function), Payload: payload})
			if err != nil {
				return fmt.Errorf("invoke %s at %s (is `make run` running?): %w", function, endpoint, err)
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, out.Payload, "", "  ") != nil {
				pretty.Write(out.Payload)
			}
			fmt.Fprintln(cmd.OutOrStdout(), pretty.String())
			if out.FunctionError != nil {
				return &exitError{code: 2, err: fmt.Errorf("the function returned an error (%s)", *out.FunctionError)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&function, "function", "", "function name: authorize, release or sweep")
	f.StringVar(&event, "event", "", "event file, such as events/authorize-accept.json")
	f.StringVar(&endpoint, "endpoint", "http://"+localstack.DefaultLambdaAddr, "Lambda Invoke endpoint of the local stack")
	f.BoolVar(&keepTime, "keep-time", false, "send the event's deviceTime as it is (by default the current time replaces it)")
	f.BoolVar(&printEvent, "print-event", false, "print the event that would be sent, and invoke nothing")
	_ = cmd.MarkFlagRequired("function")
	_ = cmd.MarkFlagRequired("event")
	return cmd
}
