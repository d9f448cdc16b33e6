package gameloop_test

import (
	"testing"

	"comet/gameloop/modetest"
)

// TestStreamsRebuildEveryTickExactly drives rooms of the engine's test mode,
// whose views overlap and change as players move, with random inputs, joins,
// leaves, resyncs and bots, and checks after every tick that each viewer's
// replica (its snapshot plus every diff it got, in order) equals a fresh
// snapshot of its view. Every registered mode gets the same check from
// gameloop/modes.
func TestStreamsRebuildEveryTickExactly(t *testing.T) {
	modetest.CheckStreams(t, dot)
}
