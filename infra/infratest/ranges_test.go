package infratest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/manifest"
)

// The range checks are generated `tofu test` files too: for every setting
// internal/manifest ranges (or restricts to choices) and a module sets
// through a variable, Terraform must refuse a value just below and just
// above the range (and a fraction where Go wants whole numbers), accept
// every setting at its lowest and at its highest at once, and pass the Go
// default to the program when the variable is left out. internal/manifest
// checks that the validation blocks are the generated ones; these runs
// prove that the blocks do what Go does. The pool module's numeric
// variables get the same runs against internal/admission's rules.

// rangeModule is what the generated runs need to know about a module.
type rangeModule struct {
	name string
	// variables sets the module's required variables.
	variables string
	// environment is an HCL expression of the map of environment
	// variables the module gives the program.
	environment string
}

var rangeModules = []rangeModule{
	{
		name:        "edge",
		variables:   edgeVariables,
		environment: "{ for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.name => e.value }",
	},
	{
		name:        "functions",
		variables:   functionsVariables(),
		environment: fmt.Sprintf("aws_lambda_function.this[%q].environment[0].variables", manifest.FunctionAuthorize),
	},
}

// rangedSettings are the settings of module m that have a range or
// choices.
func rangedSettings(m string) []manifest.Setting {
	var out []manifest.Setting
	for _, s := range manifest.Settings() {
		if slices.Contains(s.TerraformModules, m) && (s.Numeric() || s.Kind == manifest.KindChoice) {
			out = append(out, s)
		}
	}
	return out
}

// hclValue is v written for s's variable.
func hclValue(v float64) string { return manifest.FormatNumber(v) }

// leaseHolds reports whether the module's lease/heartbeat precondition
// holds for values (variables not in values keep their defaults).
func leaseHolds(values map[string]float64) bool {
	lease, ok := values[manifest.Lease.Terraform]
	if !ok {
		lease = manifest.DefaultLeaseSeconds
	}
	hb, ok := values[manifest.Heartbeat.Terraform]
	if !ok {
		hb = manifest.DefaultHeartbeatSeconds
	}
	return lease >= 2*hb
}

// refusalRun writes a run that sets s's variable to value and expects
// Terraform to refuse it.
func refusalRun(b *strings.Builder, name string, s manifest.Setting, value string) {
	fmt.Fprintf(b, "\nrun %q {\n  command = plan\n  variables {\n    %s = %s\n  }\n  expect_failures = [var.%s]\n}\n", name, s.Terraform, value, s.Terraform)
}

// rangesTest is the generated range test of module m.
func rangesTest(m rangeModule) string {
	var b strings.Builder
	b.WriteString(mockAWS)
	b.WriteString("\nvariables {\n" + m.variables + "}\n")
	settings := rangedSettings(m.name)
	low, high := map[string]float64{}, map[string]float64{}
	var lowText, highText []string
	for _, s := range settings {
		if s.Kind == manifest.KindChoice {
			refusalRun(&b, s.Terraform+"_refuses_an_unknown_choice", s, `"not-a-choice"`)
			lowText = append(lowText, fmt.Sprintf("    %s = %q\n", s.Terraform, s.Choices[0]))
			highText = append(highText, fmt.Sprintf("    %s = %q\n", s.Terraform, s.Choices[len(s.Choices)-1]))
			continue
		}
		for _, c := range []struct {
			what  string
			value float64
		}{{"below", s.Min - 1}, {"above", s.Max + 1}} {
			// A lease or heartbeat out of range may also break the
			// lease/heartbeat precondition (a lease of 1 s); OpenTofu does
			// not evaluate preconditions past a refused variable, so only
			// the range is in question.
			refusalRun(&b, fmt.Sprintf("%s_refuses_%s_%s", s.Terraform, c.what, hclValue(c.value)), s, hclValue(c.value))
		}
		if s.Whole() {
			f := s.Default + ".5"
			refusalRun(&b, s.Terraform+"_refuses_a_fraction", s, f)
		}
		low[s.Terraform], high[s.Terraform] = s.Min, s.Max
		lowText = append(lowText, fmt.Sprintf("    %s = %s\n", s.Terraform, hclValue(s.Min)))
		highText = append(highText, fmt.Sprintf("    %s = %s\n", s.Terraform, hclValue(s.Max)))
	}
	// Sanity of the generator itself: the bounds must satisfy the module's
	// own cross-checks, or these runs would fail for the wrong reason.
	if !leaseHolds(low) || !leaseHolds(high) {
		panic("infratest: the lowest or highest lease and heartbeat break the lease/heartbeat precondition")
	}
	fmt.Fprintf(&b, "\nrun \"every_setting_at_its_lowest\" {\n  command = plan\n  variables {\n%s  }\n}\n", strings.Join(lowText, ""))
	fmt.Fprintf(&b, "\nrun \"every_setting_at_its_highest\" {\n  command = plan\n  variables {\n%s  }\n}\n", strings.Join(highText, ""))

	// Left out, every variable gives the program the manifest's default.
	b.WriteString("\nrun \"defaults_are_the_manifest_defaults\" {\n  command = apply\n")
	for _, s := range manifest.Settings() {
		if !slices.Contains(s.TerraformModules, m.name) {
			continue
		}
		b.WriteString(assert(fmt.Sprintf("%s[%q] == %q", m.environment, s.Env, s.Default), fmt.Sprintf("%s defaults to %s", s.Env, s.Default)))
	}
	b.WriteString("}\n")
	return b.String()
}

// poolVariables sets the pool module's required variables.
const poolVariables = `    table_name     = "collabgw"
    name           = "ranges"
    groupwise_host = "gwim.example.internal"
`

// poolRangesTest checks the pool module's numeric variables against
// admission.PoolConfig.Normalized, which the admin CLI and authorize apply
// to the same item: the timeouts' upper bound, the port's range, and the
// defaults of the port and the protocol limit.
func poolRangesTest() string {
	var b strings.Builder
	b.WriteString(mockAWS)
	b.WriteString("\nvariables {\n" + poolVariables + "}\n")
	maxSeconds := manifest.FormatNumber(admission.MaxDuration.Seconds())
	over := manifest.FormatNumber(admission.MaxDuration.Seconds() + 1)
	for _, v := range []string{"idle_timeout_seconds", "inactivity_timeout_seconds"} {
		for _, c := range []struct{ what, value string }{{"negative", "-1"}, {"over_30_days", over}, {"sub_second", "0.5"}} {
			fmt.Fprintf(&b, "\nrun %q {\n  command = plan\n  variables {\n    %s = %s\n  }\n  expect_failures = [var.%s]\n}\n", v+"_refuses_"+c.what, v, c.value, v)
		}
	}
	for _, p := range []string{"0", "65536"} {
		fmt.Fprintf(&b, "\nrun \"groupwise_port_refuses_%s\" {\n  command = plan\n  variables {\n    groupwise_port = %s\n  }\n  expect_failures = [var.groupwise_port]\n}\n", p, p)
	}
	fmt.Fprintf(&b, "\nrun \"every_setting_at_its_highest\" {\n  command = plan\n  variables {\n    idle_timeout_seconds       = %s\n    inactivity_timeout_seconds = %s\n    groupwise_port             = 65535\n  }\n}\n", maxSeconds, maxSeconds)
	b.WriteString("\nrun \"every_setting_at_its_lowest\" {\n  command = plan\n  variables {\n    idle_timeout_seconds       = 1\n    inactivity_timeout_seconds = 1\n    groupwise_port             = 1\n  }\n}\n")
	b.WriteString("\nrun \"defaults_are_the_go_defaults\" {\n  command = apply\n")
	item := "jsondecode(aws_dynamodb_table_item.config.item)"
	b.WriteString(assert(fmt.Sprintf("%s.gwPort.N == \"%d\" && %s.protocolLimit.N == \"%d\"", item, admission.DefaultGroupWisePort, item, admission.DefaultProtocolLimit),
		"the port and protocol limit default to admission's"))
	b.WriteString("}\n")
	return b.String()
}
