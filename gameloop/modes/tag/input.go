package tag

import (
	"fmt"

	"comet/gameloop"
)

// Input is what a tag player sends: {"m": 0..8}, 0 to stand still, 1..8 the
// eight directions clockwise from north (1 north, 3 east, 5 south, 7 west).
type Input struct {
	Move int8
}

// Decode validates a room.input of tag.
func Decode(data []byte) (Input, error) {
	var in Input
	has := false
	err := gameloop.DecodeFlat("tag", data, func(key []byte, v gameloop.FlatValue) error {
		if string(key) != "m" {
			return fmt.Errorf("unknown field %q", key)
		}
		m, err := v.Int("m", 0, 8)
		in.Move, has = int8(m), true
		return err
	})
	if err == nil && !has {
		err = fmt.Errorf(`"m" is required`)
	}
	if err != nil {
		return Input{}, gameloop.InvalidInput("tag", err)
	}
	return in, nil
}
