package infratest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/manifest"
)

// The manifest checks are generated `tofu test` files: they compare the
// evaluated configuration (after a mocked apply) with internal/manifest, so
// a renamed function, environment variable, attribute, index, IAM action or
// port on either side fails TestTerraformValidates.

// hclList renders strings as a sorted HCL list for jsonencode comparisons.
func hclList(items []string) string {
	s := append([]string(nil), items...)
	sort.Strings(s)
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func same(expr string, want []string) string {
	return fmt.Sprintf("jsonencode(sort(%s)) == jsonencode(%s)", expr, hclList(want))
}

func assert(cond, msg string) string {
	return fmt.Sprintf("  assert {\n    condition     = %s\n    error_message = %q\n  }\n", cond, "manifest: "+msg)
}

const mockAWS = `mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
}
`

func dataManifestTest() string {
	var b strings.Builder
	b.WriteString(mockAWS)
	b.WriteString("run \"manifest\" {\n  command = apply\n  variables {\n    name = \"collabgw-manifest\"\n  }\n")
	b.WriteString(assert(fmt.Sprintf("aws_dynamodb_table.this.hash_key == %q && aws_dynamodb_table.this.range_key == %q", manifest.AttrPartitionKey, manifest.AttrSortKey), "table keys"))
	b.WriteString(assert(fmt.Sprintf(`jsonencode({ for a in aws_dynamodb_table.this.attribute : a.name => a.type }) == jsonencode({ %q = "S", %q = "S", %q = "S", %q = "N", %q = "S" })`,
		manifest.AttrPartitionKey, manifest.AttrSortKey, manifest.AttrPool, manifest.AttrActivity, manifest.AttrOwner), "attribute definitions"))
	b.WriteString(assert(fmt.Sprintf(`jsonencode({ for i in aws_dynamodb_table.this.global_secondary_index : i.name => [i.hash_key, i.range_key, i.projection_type, sort(i.non_key_attributes)] }) == jsonencode({ %q = [%q, %q, "INCLUDE", %s], %q = [%q, %q, "INCLUDE", %s] })`,
		manifest.IndexActivity, manifest.AttrPool, manifest.AttrActivity, hclList(manifest.ActivityIndexProjection),
		manifest.IndexOwner, manifest.AttrOwner, manifest.AttrPool, hclList(manifest.OwnerIndexProjection)), "global secondary indexes"))
	b.WriteString(assert("length(aws_dynamodb_table.this.local_secondary_index) == 0", "no local secondary index"))
	b.WriteString(assert(fmt.Sprintf("aws_dynamodb_table.this.ttl[0].attribute_name == %q && aws_dynamodb_table.this.ttl[0].enabled", manifest.AttrTTL), "TTL attribute"))
	b.WriteString("}\n")
	return b.String()
}

// functionsVariables sets the functions module's required variables (the
// generated manifest and range tests share them).
func functionsVariables() string {
	var b strings.Builder
	b.WriteString("    name_prefix = \"collabgw\"\n    package_files = {\n")
	for _, fn := range manifest.Functions {
		fmt.Fprintf(&b, "      %s = \"tests/testdata/function.zip\"\n", fn.Name)
	}
	b.WriteString("    }\n    table_name        = \"collabgw\"\n    table_arn         = \"arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw\"\n")
	b.WriteString("    table_index_arns  = [\"arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw/index/activity\"]\n")
	b.WriteString("    table_kms_key_arn = \"arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000\"\n")
	return b.String()
}

func functionsManifestTest() string {
	var b strings.Builder
	var names []string
	for _, fn := range manifest.Functions {
		names = append(names, fn.Name)
	}
	b.WriteString(mockAWS)
	b.WriteString("run \"manifest\" {\n  command = apply\n  variables {\n" + functionsVariables() + "  }\n")
	b.WriteString(assert(same("keys(aws_lambda_function.this)", names), "function names"))
	for _, fn := range manifest.Functions {
		r := fmt.Sprintf("aws_lambda_function.this[%q]", fn.Name)
		b.WriteString(assert(same("keys("+r+".environment[0].variables)", fn.Env), fn.Name+" environment"))
		b.WriteString(assert(same(fmt.Sprintf(`distinct(flatten([for s in jsondecode(aws_iam_role_policy.this[%q].policy).Statement : s.Action if startswith(s.Action[0], "dynamodb:")]))`, fn.Name), fn.TableActions),
			fn.Name+" table actions"))
		b.WriteString(assert(fmt.Sprintf(`%s.handler == "bootstrap" && %s.runtime == "provided.al2023" && jsonencode(%s.architectures) == jsonencode(["arm64"])`, r, r, r), fn.Name+" runtime"))
	}
	b.WriteString(assert(fmt.Sprintf("aws_cloudwatch_event_rule.this.schedule_expression == %q", manifest.SweepSchedule), "sweep schedule"))
	b.WriteString(assert(fmt.Sprintf("aws_cloudwatch_event_target.this.arn == aws_lambda_function.this[%q].arn", manifest.FunctionSweep), "sweep target"))
	b.WriteString("}\n")
	return b.String()
}

// edgeVariables sets the edge module's required variables (the generated
// manifest and range tests share them).
const edgeVariables = `    name                           = "collabgw-edge"
    vpc_id                         = "vpc-0123456789abcdef0"
    task_subnet_ids                = ["subnet-0123456789abcdef0"]
    load_balancer_subnet_ids       = ["subnet-0123456789abcdef1"]
    device_cidr_blocks             = ["0.0.0.0/0"]
    groupwise_cidr_blocks          = ["10.20.0.0/24"]
    image_digest                   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    table_name                     = "collabgw"
    table_arn                      = "arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw"
    table_kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    authorize_function_arn         = "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-authorize"
    release_function_arn           = "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-release"
    gateway_private_key_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-AbCdEf"
    # The optional rotation keys are set so that every variable the edge
    # reads is present.
    gateway_private_key_next_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/key-next-AbCdEf"
    peer_key_secret_arn                 = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/peer-AbCdEf"
    peer_key_next_secret_arn            = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/peer-next-AbCdEf"
    groupwise_ca_secret_arns            = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/gw-ca-AbCdEf"]
`

func edgeManifestTest() string {
	var b strings.Builder
	b.WriteString(mockAWS)
	b.WriteString("run \"manifest\" {\n  command = apply\n  variables {\n" + edgeVariables + "  }\n")
	cd := "jsondecode(aws_ecs_task_definition.this.container_definitions)[0]"
	policy := "jsondecode(aws_iam_role_policy.task.policy).Statement"
	// Every variable the edge reads is set; the optional ones Terraform can
	// set (a rotation's keys, set by the variables above) come only from
	// OptionalEnv (the others, such as the advertised peer address, the
	// edge finds itself on ECS).
	setEnv := "concat(" + cd + ".environment[*].name, " + cd + ".secrets[*].name)"
	b.WriteString(assert(fmt.Sprintf("length(setsubtract(%s, %s)) == 0", hclList(manifest.Edge.Env), setEnv), "edge environment: every variable the edge reads is set"))
	b.WriteString(assert(fmt.Sprintf("length(setsubtract(%s, %s)) == 0", setEnv, hclList(append(slices.Clone(manifest.Edge.Env), manifest.Edge.OptionalEnv...))), "edge environment: nothing the edge does not read"))
	b.WriteString(assert(same(cd+".secrets[*].name", manifest.EdgeSecretEnv), "keys from Secrets Manager, never plain environment"))
	b.WriteString(assert(fmt.Sprintf("aws_lb_listener.this.port == %d && aws_lb_listener.this.protocol == \"TCP\" && aws_lb_target_group.this.port == %d", manifest.DevicePort, manifest.DevicePort), "device port"))
	b.WriteString(assert(fmt.Sprintf("aws_lb_target_group.this.health_check[0].port == \"%d\"", manifest.HealthPort), "health port"))
	b.WriteString(assert(same(fmt.Sprintf("[for p in %s.portMappings : tostring(p.containerPort)]", cd),
		[]string{strconv.Itoa(manifest.DevicePort), strconv.Itoa(manifest.HealthPort), strconv.Itoa(manifest.PeerPort)}), "container ports"))
	b.WriteString(assert(fmt.Sprintf("one([for e in %s.environment : e.value if e.name == %q]) == \":%d\"", cd, manifest.EnvPeerAddr, manifest.PeerPort), "peer listen address"))
	b.WriteString(assert(fmt.Sprintf("aws_vpc_security_group_ingress_rule.task_peer.from_port == %d && aws_vpc_security_group_ingress_rule.task_peer.to_port == %d", manifest.PeerPort, manifest.PeerPort), "peer port between tasks"))
	b.WriteString(assert(fmt.Sprintf("%s.stopTimeout == %d && one([for e in %s.environment : e.value if e.name == %q]) == \"%d\"", cd, manifest.DefaultStopTimeout, cd, manifest.EnvDrainSeconds, manifest.DefaultDrainSecs), "stop timeout and drain"))
	b.WriteString(assert(same(fmt.Sprintf(`distinct(flatten([for s in %s : s.Action if startswith(s.Action[0], "dynamodb:")]))`, policy), manifest.Edge.TableActions), "edge table actions"))
	b.WriteString(assert(same(fmt.Sprintf(`distinct(flatten([for s in %s : s.Action if startswith(s.Action[0], "secretsmanager:")]))`, policy), manifest.Edge.SecretActions), "edge secret actions (GroupWise CA bundles)"))
	b.WriteString(assert(same(fmt.Sprintf(`flatten([for s in %s : s.Condition["ForAllValues:StringEquals"]["dynamodb:Attributes"] if contains(s.Action, "dynamodb:UpdateItem")])`, policy), manifest.EdgeUpdatableAttributes), "edge updatable attributes"))
	b.WriteString(assert(same(fmt.Sprintf(`flatten([for s in %s : s.Condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] if contains(s.Action, "dynamodb:UpdateItem")])`, policy), manifest.EdgeUpdatableLeadingKeys), "edge updatable leading keys"))
	b.WriteString(assert(same(fmt.Sprintf(`flatten([for s in %s : s.Condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] if contains(s.Action, "dynamodb:GetItem")])`, policy), manifest.EdgeReadableLeadingKeys), "edge readable leading keys"))
	b.WriteString(assert(same(fmt.Sprintf(`flatten([for s in %s : s.Resource if contains(s.Action, "dynamodb:Query")])`, policy), []string{"arn:aws:dynamodb:eu-west-1:123456789012:table/collabgw/index/" + manifest.IndexOwner}), "edge queries only the owner index"))
	var invokes []string
	for _, fn := range manifest.Edge.Invokes {
		invokes = append(invokes, "arn:aws:lambda:eu-west-1:123456789012:function:collabgw-"+fn)
	}
	b.WriteString(assert(same(fmt.Sprintf(`flatten([for s in %s : s.Resource if contains(s.Action, "lambda:InvokeFunction")])`, policy), invokes), "edge invokes exactly authorize and release"))
	b.WriteString("}\n")
	return b.String()
}

// writeManifestTests writes the generated tests into the working copy.
func writeManifestTests(t *testing.T, work string) {
	t.Helper()
	files := map[string]string{
		"modules/data/tests/manifest.tftest.hcl":       dataManifestTest(),
		"modules/functions/tests/manifest.tftest.hcl":  functionsManifestTest(),
		"modules/edge/tests/manifest.tftest.hcl":       edgeManifestTest(),
		"modules/monitoring/tests/manifest.tftest.hcl": monitoringManifestTest(t, filepath.Join(work, "modules", "monitoring")),
	}
	for _, m := range rangeModules {
		files["modules/"+m.name+"/tests/ranges.tftest.hcl"] = rangesTest(m)
	}
	files["modules/pool/tests/ranges.tftest.hcl"] = poolRangesTest()
	for rel, body := range files {
		path := filepath.Join(work, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("# Generated by infra/infratest from internal/manifest.\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExampleDeploysManifestBinaries checks that the example deploys the
// zips `make build` writes (dist/<name>.zip) for exactly the manifest's
// functions; a file check, so it needs no tools.
func TestExampleDeploysManifestBinaries(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "examples", "complete", "variables.tf"))
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*"\.\./\.\./\.\./dist/(\w+)\.zip"`).FindAllStringSubmatch(string(b), -1)
	seen := map[string]bool{}
	for _, m := range got {
		if m[1] != m[2] {
			t.Errorf("package_files[%s] points at dist/%s.zip", m[1], m[2])
		}
		seen[m[1]] = true
	}
	for _, fn := range manifest.Functions {
		if !seen[fn.Name] {
			t.Errorf("examples/complete package_files has no default dist/%s.zip", fn.Name)
		}
	}
	if len(seen) != len(manifest.Functions) {
		t.Errorf("examples/complete deploys %d zips, the manifest has %d functions", len(seen), len(manifest.Functions))
	}
}
