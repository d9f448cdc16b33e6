package storetest

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"comet"
)

func init() {
	tests = append(tests,
		test{"ConcurrentWriters", testConcurrentWriters},
		test{"ConcurrentClaims", testConcurrentClaims},
		test{"ConcurrentSharedMatches", testConcurrentSharedMatches},
	)
}

// testConcurrentWriters hammers one store from many goroutines with every
// kind of write and read at once: no error may escape, and everything
// written must be there after.
func testConcurrentWriters(t *testing.T, e *env) {
	ctx := e.ctx
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*4)
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("p%d", w)
			if err := e.CreatePlayer(ctx, &comet.Player{ID: id, Name: id}, []byte(id)); err != nil {
				errs <- err
				return
			}
			if err := e.ClaimName(ctx, id, id, []byte("pw")); err != nil {
				errs <- err
				return
			}
			for i := range each {
				if err := e.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", FromID: id, Text: strconv.Itoa(i)}); err != nil {
					errs <- err
				}
				if err := e.RenamePlayer(ctx, id, fmt.Sprintf("%s-%d", id, i)); err != nil {
					errs <- err
				}
				if _, err := e.ChatHistory(ctx, "lobby", 50); err != nil {
					errs <- err
				}
				if err := e.SaveMatch(ctx, &comet.MatchResult{ID: fmt.Sprintf("m-%d-%d", w, i), Mode: "race",
					Players: []comet.MatchPlayer{{PlayerID: id, Name: id, Score: i, Rank: 1 + i%2}}}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	hist, err := e.ChatHistory(ctx, "lobby", 1000)
	mustNil(t, err)
	if len(hist) != workers*each {
		t.Errorf("chat lines = %d, want %d", len(hist), workers*each)
	}
	board, err := e.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 1000})
	mustNil(t, err)
	if len(board) != workers {
		t.Fatalf("leaderboard rows = %d, want %d", len(board), workers)
	}
	for _, r := range board {
		if r.Games != each || r.Wins != each/2 || r.BestScore != each-1 || r.Name != fmt.Sprintf("%s-%d", r.PlayerID, each-1) {
			t.Errorf("row %+v, want games %d wins %d best %d, last name", r, each, each/2, each-1)
		}
	}
}

// testConcurrentClaims races many players for one name, and renames to it:
// exactly one claim wins, the rest get ECONFLICT, and no other player ends
// up displaying the claimed name.
func testConcurrentClaims(t *testing.T, e *env) {
	ctx := e.ctx
	const n = 24
	for i := range n {
		mustNil(t, e.CreatePlayer(ctx, &comet.Player{ID: fmt.Sprintf("p%d", i), Name: "guest"}, []byte{byte(i)}))
	}
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Different cases of the same name are one name.
			name := "Champion"
			if i%2 == 1 {
				name = "cHAMPION"
			}
			if i%3 == 2 {
				results[i] = e.RenamePlayer(ctx, fmt.Sprintf("p%d", i), name)
				return
			}
			results[i] = e.ClaimName(ctx, fmt.Sprintf("p%d", i), name, []byte("pw"))
		})
	}
	wg.Wait()
	owner, _, err := e.ClaimByName(ctx, "champion")
	mustNil(t, err)
	wins := 0
	for i, err := range results {
		id := fmt.Sprintf("p%d", i)
		switch comet.ErrorCode(err) {
		case "":
			if i%3 != 2 {
				wins++
			}
		case comet.ECONFLICT:
		default:
			t.Errorf("claim %d: %v", i, err)
		}
		if i%3 == 2 && err == nil {
			// A rename that won ran before the claim: it may keep the
			// name it had then; every other one was refused.
			continue
		}
		if p, err := e.PlayerByID(ctx, id); err != nil {
			t.Fatal(err)
		} else if id != owner.ID && p.Name != "guest" {
			t.Errorf("%s shows name %q", id, p.Name)
		}
	}
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
}

// testConcurrentSharedMatches saves matches whose players overlap, listed in
// different orders, from many goroutines: totals must add up exactly (no
// lost update, no deadlock escaping as an error).
func testConcurrentSharedMatches(t *testing.T, e *env) {
	ctx := e.ctx
	names := map[string]string{"a": "Na", "b": "Nb", "c": "Nc"}
	claim(t, e, names)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	var mu sync.Mutex
	var saved []*comet.MatchResult
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				players := []string{"a:1:1", "b:2:2", "c:3:3"}
				if (w+i)%2 == 1 {
					players = []string{"c:3:1", "b:2:2", "a:1:3"}
				}
				r := match(fmt.Sprintf("m-%d-%d", w, i), "race", w*each+i, false, players...)
				if err := e.SaveMatch(ctx, r); err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				saved = append(saved, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := e.Leaderboard(ctx, comet.LeaderQuery{Mode: "race", Limit: 10})
	mustNil(t, err)
	want := refBoard(saved, "race", time.Time{}, names)
	if len(got) != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("leaderboard = %+v, want %+v", got, want)
	}
}
