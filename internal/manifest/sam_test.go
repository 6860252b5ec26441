package manifest

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// resourceBlock returns the lines of a top-level resource of template.yaml.
func resourceBlock(t *testing.T, template, logicalID string) string {
	t.Helper()
	re := regexp.MustCompile(`(?ms)^  ` + logicalID + `:\n(.*?)(?:^  \S|\z)`)
	m := re.FindStringSubmatch(template)
	if m == nil {
		t.Fatalf("template.yaml has no resource %s", logicalID)
	}
	return m[1]
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// TestSAMTemplateMatchesTheManifest fails when template.yaml or the
// Makefile's SAM build targets miss a function, an environment variable,
// a table action or a table attribute the Go code uses.
func TestSAMTemplateMatchesTheManifest(t *testing.T) {
	tmpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	template := string(tmpl)
	for _, fn := range Functions {
		t.Run(fn.Name, func(t *testing.T) {
			block := resourceBlock(t, template, title(fn.Name))
			for _, want := range []string{"Type: AWS::Serverless::Function", "BuildMethod: makefile"} {
				if !strings.Contains(block, want) {
					t.Errorf("resource %s lacks %q", title(fn.Name), want)
				}
			}
			for _, action := range fn.TableActions {
				if !strings.Contains(block, "- "+action+"\n") {
					t.Errorf("resource %s does not allow %s", title(fn.Name), action)
				}
			}
			for _, line := range strings.Split(block, "\n") {
				if a := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- ")); strings.HasPrefix(a, "dynamodb:") && !slices.Contains(fn.TableActions, a) {
					t.Errorf("resource %s allows %s, which the function does not use", title(fn.Name), a)
				}
			}
			target := regexp.MustCompile(`(?m)^build-` + title(fn.Name) + `:\n\t.*-o \$\(ARTIFACTS_DIR\)/bootstrap \./functions/` + fn.Name + `$`)
			if !target.Match(makefile) {
				t.Errorf("Makefile has no build-%s target building ./functions/%s", title(fn.Name), fn.Name)
			}
			for _, env := range fn.Env {
				if !strings.Contains(template, "        "+env+":") {
					t.Errorf("template.yaml does not set %s", env)
				}
			}
		})
	}
	if !strings.Contains(resourceBlock(t, template, "Sweep"), "Schedule: "+SweepSchedule) {
		t.Errorf("sweep is not scheduled %s", SweepSchedule)
	}
	table := resourceBlock(t, template, "Table")
	for _, name := range []string{AttrPartitionKey, AttrSortKey, AttrActivity, AttrOwner, AttrPool, AttrTTL, IndexActivity, IndexOwner} {
		if !regexp.MustCompile(`(AttributeName|IndexName): ` + name + `\b`).MatchString(table) {
			t.Errorf("table lacks %s", name)
		}
	}
	for index, attrs := range map[string][]string{IndexActivity: ActivityIndexProjection, IndexOwner: OwnerIndexProjection} {
		want := "- IndexName: " + index + "\n"
		i := strings.Index(table, want)
		if i < 0 {
			t.Errorf("table lacks index %s", index)
			continue
		}
		block := table[i+len(want):]
		if j := strings.Index(block, "- IndexName:"); j >= 0 {
			block = block[:j]
		}
		if !strings.Contains(block, "NonKeyAttributes: ["+strings.Join(attrs, ", ")+"]") {
			t.Errorf("index %s does not project exactly %v", index, attrs)
		}
	}
	for _, want := range []string{"PointInTimeRecoveryEnabled: true", "SSEEnabled: true", "DeletionProtectionEnabled: true", "BillingMode: PAY_PER_REQUEST"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}
