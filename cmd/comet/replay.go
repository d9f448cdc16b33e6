package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"comet/gameloop"
	"comet/gameloop/modes"
)

// Replay re-runs a match recorded by `comet serve --record DIR` and prints
// its result and final digest; it fails when the file is unreadable or the
// replay diverges from what was recorded (a determinism bug).
func (m *Main) Replay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("comet replay", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprintln(m.Stderr, "usage: comet replay FILE.jsonl") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("comet replay takes one recording file")
	}
	res, err := gameloop.ReplayFile(ctx, modes.All(), fs.Arg(0))
	if res != nil {
		if werr := res.WriteReport(m.Stdout); werr != nil {
			return fmt.Errorf("replay report: %w", werr)
		}
	}
	if err != nil {
		return fmt.Errorf("replay %s: %w", fs.Arg(0), err)
	}
	return nil
}
