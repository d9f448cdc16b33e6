package modes_test

import (
	"math/rand/v2"
	"testing"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/gameloop/modetest"
)

func TestModesAreUniqueAndNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range modes.All() {
		if m.Name() == "" || seen[m.Name()] {
			t.Errorf("mode name %q empty or registered twice", m.Name())
		}
		seen[m.Name()] = true
	}
	if len(seen) == 0 {
		t.Error("no mode registered")
	}
}

// TestEveryModeKeepsTheInvariants runs the mode kit on every registered
// mode: a mode is tested from its registration line on.
func TestEveryModeKeepsTheInvariants(t *testing.T) {
	for _, md := range modes.All() {
		t.Run(md.Name(), func(t *testing.T) {
			t.Parallel()
			modetest.Check(t, md)
		})
	}
}

// FuzzEveryDecoder fuzzes the decoders of every registered mode at once.
func FuzzEveryDecoder(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, md := range modes.All() {
		for range 4 {
			f.Add(modetest.ValidInput(rng, md))
			f.Add(modetest.RandomInput(rng, md))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, md := range modes.All() {
			if err := gameloop.CheckInput(md, data); err != nil && comet.ErrorCode(err) != comet.EINVALID {
				t.Fatalf("%s: input %q: error %v is not EINVALID", md.Name(), data, err)
			}
		}
	})
}
