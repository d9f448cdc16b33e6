package arena

import (
	"fmt"
	"math"

	"comet/gameloop"
)

// Input is what an arena player sends, its whole control state each time:
//
//	{"m": 0..8, "a": <degrees>, "f": true|false}
//
// m is the move (0 stand, 1..8 clockwise from north), a the aim in degrees
// clockwise from east (+y is down, as on screen), any number in [-360, 360],
// f whether the trigger is held (optional, default false).
type Input struct {
	Move int8
	Aim  int16 // 0..359
	Fire bool
}

// Decode validates a room.input of arena.
func Decode(data []byte) (Input, error) {
	var in Input
	var hasM, hasA bool
	err := gameloop.DecodeFlat("arena", data, func(key []byte, v gameloop.FlatValue) error {
		switch string(key) {
		case "m":
			m, err := v.Int("m", 0, 8)
			in.Move, hasM = int8(m), true
			return err
		case "a":
			// JSON has no NaN or infinity and DecodeFlat refuses overflow, but a
			// range check costs nothing.
			if v.Kind != gameloop.FlatNumber || math.IsNaN(v.Num) || v.Num < -360 || v.Num > 360 {
				return fmt.Errorf(`"a" must be a number of degrees in [-360, 360]`)
			}
			aim := int(math.Round(v.Num)) % 360
			if aim < 0 {
				aim += 360
			}
			in.Aim, hasA = int16(aim), true
		case "f":
			if v.Kind != gameloop.FlatBool {
				return fmt.Errorf(`"f" must be true or false`)
			}
			in.Fire = v.Bool
		default:
			return fmt.Errorf("unknown field %q", key)
		}
		return nil
	})
	if err == nil && (!hasM || !hasA) {
		err = fmt.Errorf(`"m" and "a" are required`)
	}
	if err != nil {
		return Input{}, gameloop.InvalidInput("arena", err)
	}
	return in, nil
}
