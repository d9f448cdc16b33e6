package storetest

import (
	"testing"
	"time"

	"comet"
)

func init() {
	tests = append(tests, test{"MatchStarts", testMatchStarts})
}

// testMatchStarts: a started match is recorded; its result drops the record;
// AbortUnfinished saves the rest as aborted (a crash's unfinished matches),
// except those of the rooms a hand-over carried on, and only once.
func testMatchStarts(t *testing.T, e *env) {
	ctx := e.ctx
	start := func(id, room string) *comet.MatchStart {
		return &comet.MatchStart{ID: id, RoomID: room, Mode: "race", Started: T0.Add(time.Minute)}
	}
	wantCode(t, e.StartMatch(ctx, nil), comet.EINVALID)
	wantCode(t, e.StartMatch(ctx, &comet.MatchStart{Mode: "race"}), comet.EINVALID)
	wantCode(t, e.StartMatch(ctx, &comet.MatchStart{ID: "x"}), comet.EINVALID)

	for _, s := range []*comet.MatchStart{start("done", "r1"), start("crashed", "r2"), start("handed", "r3")} {
		mustNil(t, e.StartMatch(ctx, s))
	}
	mustNil(t, e.StartMatch(ctx, start("crashed", "r2"))) // recorded twice: still one
	done := match("done", "race", 5, false)
	done.RoomID = "r1"
	mustNil(t, e.SaveMatch(ctx, done))
	mustNil(t, e.StartMatch(ctx, start("done", "r1"))) // saved already: not recorded again

	n, err := e.AbortUnfinished(ctx, T0.Add(10*time.Minute), []string{"r3"})
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("AbortUnfinished saved %d matches, want 1 (crashed)", n)
	}
	// Saved: a second save of the same id conflicts; the finished one was
	// not saved again (still one row: its conflict is the same).
	wantCode(t, e.SaveMatch(ctx, match("crashed", "race", 10, true)), comet.ECONFLICT)
	n, err = e.AbortUnfinished(ctx, T0.Add(11*time.Minute), []string{"r3"})
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("a second AbortUnfinished saved %d matches, want 0", n)
	}
	// The handed-over room's match ends later like any other: its result
	// drops its record.
	handed := match("handed", "race", 12, false)
	handed.RoomID = "r3"
	mustNil(t, e.SaveMatch(ctx, handed))
	n, err = e.AbortUnfinished(ctx, T0.Add(13*time.Minute), nil)
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("AbortUnfinished after every match was saved saved %d, want 0", n)
	}
	// One whose room is not kept is aborted, with the players of none and
	// not on any board.
	mustNil(t, e.StartMatch(ctx, &comet.MatchStart{ID: "lost", RoomID: "r4", Mode: "race", Started: T0.Add(20 * time.Minute)}))
	n, err = e.AbortUnfinished(ctx, T0.Add(21*time.Minute), []string{"r3"})
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("AbortUnfinished saved %d matches, want 1 (lost)", n)
	}
	board, err := e.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 10})
	mustNil(t, err)
	if len(board) != 0 {
		t.Errorf("leaderboard %+v: aborted and player-less matches count for nobody", board)
	}
}
