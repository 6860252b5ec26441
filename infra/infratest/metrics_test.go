package infratest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/metrics"
)

// The metric checks compare the monitoring module with the Go catalog
// (internal/metrics) both ways: every collabgw metric the dashboard, the
// alarms and the metric filters use is in the catalog, every catalog metric
// is used, and each log-filter metric uses the catalog's pattern. They run
// on the evaluated configuration (a generated `tofu test`), so names built
// by expressions count too.

const monitoringVariables = `  variables {
    name_prefix              = "collabgw"
    function_names           = { authorize = "collabgw-authorize", release = "collabgw-release", sweep = "collabgw-sweep" }
    function_log_group_names = { authorize = "/aws/lambda/collabgw-authorize", release = "/aws/lambda/collabgw-release", sweep = "/aws/lambda/collabgw-sweep" }
    edge_log_group_name      = "/ecs/collabgw-edge"
    ecs_cluster_name         = "collabgw-edge"
    ecs_service_name         = "collabgw-edge"
    load_balancer_arn_suffix = "net/collabgw-edge/0123456789abcdef"
    target_group_arn_suffix  = "targetgroup/collabgw-edge/0123456789abcdef"
  }
`

var reResourceBlock = regexp.MustCompile(`(?m)^resource "(aws_cloudwatch_metric_alarm|aws_cloudwatch_log_metric_filter)" "(\w+)" \{\n(\s*for_each)?`)

// monitoringResources lists the module's alarms and metric filters as HCL
// expressions of lists of resource objects (for_each ones by their values).
func monitoringResources(t *testing.T, dir string) (alarms, filters []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reResourceBlock.FindAllStringSubmatch(string(b), -1) {
			ref := m[1] + "." + m[2]
			expr := "[" + ref + "]"
			if m[3] != "" {
				expr = "values(" + ref + ")"
			}
			if m[1] == "aws_cloudwatch_metric_alarm" {
				alarms = append(alarms, expr)
			} else {
				filters = append(filters, expr)
			}
		}
	}
	if len(alarms) == 0 || len(filters) == 0 {
		t.Fatalf("no alarms or metric filters found in %s", dir)
	}
	return alarms, filters
}

// usedMetrics is an HCL expression of the collabgw metric names the module
// uses.
func usedMetrics(alarms, filters []string) string {
	ns := fmt.Sprintf("%q", metrics.Namespace)
	widgets := "jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets"
	arrays := fmt.Sprintf(`flatten([for w in %s : [for row in try(w.properties.metrics, []) : row[1] if try(row[0] == %s, false)]])`, widgets, ns)
	searches := fmt.Sprintf(`flatten([for w in %s : [for row in try(w.properties.metrics, []) : [for x in regexall("MetricName=\"(\\w+)\"", try(row[0].expression, "")) : x[0]] if strcontains(try(row[0].expression, ""), "{%s,")]])`, widgets, metrics.Namespace)
	alarmNames := fmt.Sprintf(`flatten([for a in concat(%s) : concat(a.namespace == %s ? [a.metric_name] : [], [for q in a.metric_query : q.metric[0].metric_name if length(q.metric) > 0 && try(q.metric[0].namespace == %s, false)])])`,
		strings.Join(alarms, ", "), ns, ns)
	filterNames := fmt.Sprintf(`[for f in concat(%s) : f.metric_transformation[0].name if f.metric_transformation[0].namespace == %s]`, strings.Join(filters, ", "), ns)
	return fmt.Sprintf("distinct(concat(%s, %s, %s, %s))", arrays, searches, alarmNames, filterNames)
}

func monitoringManifestTest(t *testing.T, dir string) string {
	alarms, filters := monitoringResources(t, dir)
	used := usedMetrics(alarms, filters)
	var names []string
	var b strings.Builder
	b.WriteString(mockAWS)
	b.WriteString("run \"metric_catalog\" {\n  command = apply\n" + monitoringVariables)
	for _, m := range metrics.Catalog() {
		names = append(names, m.Name)
		b.WriteString(assert(fmt.Sprintf("contains(%s, %q)", used, m.Name),
			fmt.Sprintf("catalog metric %s is on no dashboard panel, alarm or metric filter", m.Name)))
		if m.Source == metrics.SourceLogFilter {
			b.WriteString(assert(fmt.Sprintf(`length([for f in concat(%s) : f if f.metric_transformation[0].name == %q]) > 0 && alltrue([for f in concat(%s) : f.pattern == %q && f.metric_transformation[0].unit == %q if f.metric_transformation[0].name == %q])`,
				strings.Join(filters, ", "), m.Name, strings.Join(filters, ", "), m.FilterPattern, m.Unit, m.Name),
				fmt.Sprintf("metric filter %s must use the catalog's pattern %s and unit %s", m.Name, m.FilterPattern, m.Unit)))
		}
	}
	slices.Sort(names)
	b.WriteString(assert(fmt.Sprintf("length(setsubtract(%s, %s)) == 0", used, hclList(names)),
		"the monitoring module uses a collabgw metric that is not in internal/metrics"))
	b.WriteString("}\n")
	return b.String()
}

// TestMonitoringNamesEveryCatalogMetric is the tool-free half of the
// check (it also runs with -short): every catalog metric's name is written
// in the monitoring module.
func TestMonitoringNamesEveryCatalogMetric(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "infra", "modules", "monitoring")
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s: %v", dir, err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	for _, m := range metrics.Catalog() {
		if !strings.Contains(all.String(), `"`+m.Name+`"`) {
			t.Errorf("catalog metric %s does not appear in infra/modules/monitoring", m.Name)
		}
	}
}
