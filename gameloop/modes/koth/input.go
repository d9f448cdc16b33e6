package koth

import (
	"fmt"
	"math"

	"comet/gameloop"
)

// Input is what a koth player sends, its whole control state each time:
//
//	{"m": 0..8, "a": <degrees>, "f": true|false}
//
// m is the move (0 stand, 1..8 clockwise from north); a, optional, the aim in
// degrees clockwise from east in [-360, 360] (without it a player shoves the
// way it moves); f, optional, whether shove is held.
type Input struct {
	Move   int8
	Aim    int16 // 0..359
	HasAim bool
	Shove  bool
}

// Decode validates a room.input of koth.
func Decode(data []byte) (Input, error) {
	var in Input
	hasM := false
	err := gameloop.DecodeFlat("koth", data, func(key []byte, v gameloop.FlatValue) error {
		switch string(key) {
		case "m":
			m, err := v.Int("m", 0, 8)
			in.Move, hasM = int8(m), true
			return err
		case "a":
			if v.Kind != gameloop.FlatNumber || math.IsNaN(v.Num) || v.Num < -360 || v.Num > 360 {
				return fmt.Errorf(`"a" must be a number of degrees in [-360, 360]`)
			}
			in.Aim, in.HasAim = int16((int(math.Round(v.Num))%360+360)%360), true
		case "f":
			if v.Kind != gameloop.FlatBool {
				return fmt.Errorf(`"f" must be true or false`)
			}
			in.Shove = v.Bool
		default:
			return fmt.Errorf("unknown field %q", key)
		}
		return nil
	})
	if err == nil && !hasM {
		err = fmt.Errorf(`"m" is required`)
	}
	if err != nil {
		return Input{}, gameloop.InvalidInput("koth", err)
	}
	return in, nil
}
