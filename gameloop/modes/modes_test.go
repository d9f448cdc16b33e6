package modes_test

import (
	"testing"

	"comet/gameloop/modes"
)

func TestModesAreUniqueAndNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range modes.All() {
		if m.Name() == "" || seen[m.Name()] {
			t.Errorf("mode name %q empty or registered twice", m.Name())
		}
		seen[m.Name()] = true
	}
	for _, want := range []string{"arena", "snake", "tag"} {
		if !seen[want] {
			t.Errorf("mode %s not registered", want)
		}
	}
}
