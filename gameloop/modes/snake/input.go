package snake

import (
	"fmt"

	"comet/gameloop"
)

// Input is what a snake player sends: {"d": 0..3} to turn up, right, down or
// left. Turning back onto yourself is ignored; up to two turns queue.
type Input struct {
	Dir int8
}

// Decode validates a room.input of snake.
func Decode(data []byte) (Input, error) {
	var in Input
	has := false
	err := gameloop.DecodeFlat("snake", data, func(key []byte, v gameloop.FlatValue) error {
		if string(key) != "d" {
			return fmt.Errorf("unknown field %q", key)
		}
		d, err := v.Int("d", 0, 3)
		in.Dir, has = int8(d), true
		return err
	})
	if err == nil && !has {
		err = fmt.Errorf(`"d" is required`)
	}
	if err != nil {
		return Input{}, gameloop.InvalidInput("snake", err)
	}
	return in, nil
}
