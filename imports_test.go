package comet_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsFlowOneWay checks the package graph of docs/ARCHITECTURE.md
// with `go list`: the core at the root, the push core knowing only the root,
// adapters never importing each other, the application never choosing a
// concrete adapter or mode (cmd/comet wires them).
func TestImportsFlowOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		var own []string
		for _, imp := range f[1:] {
			if imp == "comet" || strings.HasPrefix(imp, "comet/") {
				own = append(own, imp)
			}
		}
		imports[f[0]] = own
	}
	// Each rule: packages matching pkg may import only packages matching one of allowed.
	rules := []struct {
		pkg     string
		allowed []string
	}{
		{"comet", nil},
		{"comet/server/push", []string{"comet"}},
		{"comet/server/bus", []string{"comet"}},
		{"comet/server/natsbus", []string{"comet"}},
		{"comet/server/cluster", []string{"comet", "comet/server/push"}},
		{"comet/server/bustest", []string{"comet", "comet/internal/check"}},
		{"comet/server/sqlite", []string{"comet", "comet/migrations"}},
		{"comet/server/postgres", []string{"comet", "comet/migrations"}},
		{"comet/server/retention", []string{"comet"}},
		{"comet/gameloop", []string{"comet"}},
		{"comet/gameloop/modes/*", []string{"comet", "comet/gameloop"}},
		{"comet/server", []string{"comet", "comet/server/push", "comet/gameloop", "comet/frontend", "comet/assets"}},
	}
	match := func(pattern, pkg string) bool {
		if p, ok := strings.CutSuffix(pattern, "/*"); ok {
			return strings.HasPrefix(pkg, p+"/")
		}
		return pattern == pkg
	}
	checked := 0
	for pkg, imps := range imports {
		for _, r := range rules {
			if !match(r.pkg, pkg) {
				continue
			}
			checked++
			for _, imp := range imps {
				ok := false
				for _, a := range r.allowed {
					ok = ok || match(a, imp)
				}
				if !ok {
					t.Errorf("%s imports %s; it may import only %v", pkg, imp, r.allowed)
				}
			}
		}
	}
	if checked < len(rules) {
		t.Fatalf("only %d of %d rules met a package: go list output changed?", checked, len(rules))
	}
}
