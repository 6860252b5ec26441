package infratest

import (
	"regexp"
	"strings"
	"testing"
)

// dependsOn lists, per configuration, orderings the apply needs that no
// attribute reference implies: a resource must be created only after the
// others, or AWS acts on a half-made deployment. `tofu graph` shows the
// dependency graph OpenTofu will walk, explicit depends_on included.
var dependsOn = map[string][][2]string{
	"modules/edge": {
		// Tasks started before their roles' policies exist cannot pull the
		// image or read the keys, and the circuit breaker rolls back.
		{"aws_ecs_service.this", "aws_iam_role_policy.execution"},
		{"aws_ecs_service.this", "aws_iam_role_policy.task"},
	},
	"modules/functions": {
		// The first invocation needs the role's logs and table permissions.
		{"aws_lambda_function.this", "aws_iam_role_policy.this"},
	},
}

var reGraphEdge = regexp.MustCompile(`"(?:\[root\] )?([^"]+?)(?: \((?:expand|close)\))?"\s*->\s*"(?:\[root\] )?([^"]+?)(?: \((?:expand|close)\))?"`)

// checkDependencies fails unless each pair's first resource (transitively)
// depends on the second in the DOT graph.
func checkDependencies(t *testing.T, dot string, pairs [][2]string) {
	t.Helper()
	next := map[string][]string{}
	for _, m := range reGraphEdge.FindAllStringSubmatch(dot, -1) {
		next[m[1]] = append(next[m[1]], m[2])
	}
	if len(next) == 0 {
		t.Fatalf("tofu graph printed no edges:\n%s", dot)
	}
	for _, p := range pairs {
		if !reaches(next, p[0], p[1]) {
			t.Errorf("%s does not depend on %s; tofu graph:\n%s", p[0], p[1], strings.TrimSpace(dot))
		}
	}
}

func reaches(next map[string][]string, from, to string) bool {
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range next[n] {
			if m == to {
				return true
			}
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
	}
	return false
}

// TestGraphParsing keeps the DOT parsing honest on both of OpenTofu's
// graph styles (plain resource names, and [root] nodes with expand).
func TestGraphParsing(t *testing.T) {
	tests := []struct {
		name string
		dot  string
		want bool
	}{
		{"direct", `digraph { "aws_ecs_service.this" -> "aws_iam_role_policy.task" }`, true},
		{"transitive", `digraph { "a.x" -> "b.y"; "b.y" -> "aws_iam_role_policy.task"; "aws_ecs_service.this" -> "a.x" }`, true},
		{"root style", `digraph { "[root] aws_ecs_service.this (expand)" -> "[root] aws_iam_role_policy.task (expand)" }`, true},
		{"reverse only", `digraph { "aws_iam_role_policy.task" -> "aws_ecs_service.this" }`, false},
		{"unrelated", `digraph { "aws_ecs_service.this" -> "aws_lb_listener.this" }`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := map[string][]string{}
			for _, m := range reGraphEdge.FindAllStringSubmatch(tt.dot, -1) {
				next[m[1]] = append(next[m[1]], m[2])
			}
			if got := reaches(next, "aws_ecs_service.this", "aws_iam_role_policy.task"); got != tt.want {
				t.Errorf("reaches = %v, want %v", got, tt.want)
			}
		})
	}
}
