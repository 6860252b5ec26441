package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/localstack"
)

func newInvokeCmd() *cobra.Command {
	var function, event, endpoint string
	cmd := &cobra.Command{
		Use:   "invoke",
		Short: "Invoke a function of the running local stack (make run) with an event file and print its answer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			payload, err := os.ReadFile(event)
			if err != nil {
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
	_ = cmd.MarkFlagRequired("function")
	_ = cmd.MarkFlagRequired("event")
	return cmd
}
