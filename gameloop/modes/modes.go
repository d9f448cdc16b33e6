// Package modes lists every compiled-in game mode. Adding a mode is one line
// here (see docs/MODES.md).
package modes

import (
	"comet/gameloop"
	"comet/gameloop/modes/arena"
	"comet/gameloop/modes/koth"
	"comet/gameloop/modes/snake"
	"comet/gameloop/modes/tag"
)

// All returns the modes to hand to gameloop.ManagerConfig.Modes.
func All() []gameloop.Mode {
	return []gameloop.Mode{
		arena.Mode,
		snake.Mode,
		tag.Mode,
		koth.Mode,
	}
}
