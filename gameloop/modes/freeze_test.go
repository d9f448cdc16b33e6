package modes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/gameloop/modetest"
)

// TestEveryModeContinuesAfterFreezeAndThaw: one manager with two rooms of
// every registered mode (one private), frozen mid-match and thawed into a
// new manager, goes on tick for tick as a twin never frozen, through the end
// of every match, to the same results.
func TestEveryModeContinuesAfterFreezeAndThaw(t *testing.T) {
	modetest.CheckFreezeThaw(t, modes.All(), 2)
}

// TestFreezeThawTwentyRooms measures a hand-over of 20 rooms of 10 players
// (3 with sessions, 7 bots, and a spectator each), the registered modes in
// turn, 60 s into their matches: Freeze, the JSON round trip, and Thaw,
// whose replays are the cost. Every room must come back at its tick and
// digest.
func TestFreezeThawTwentyRooms(t *testing.T) {
	const rooms, players, humans = 20, 10, 3
	played := 60 * time.Second
	all := modes.All()
	f := modetest.NewFleetWith(t, all, gameloop.Settings{Duration: 10 * time.Minute, ScoreLimit: 1 << 30, Countdown: time.Second})
	for i := range rooms {
		md := all[i%len(all)]
		f.Open(fmt.Sprintf("%s-%d", md.Name(), i), md, min(players, md.Defaults().MaxPlayers), humans, i%4 == 3)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	start := f.Clock.Now()
	for f.Clock.Now().Sub(start) < played+time.Second || !f.Aligned() {
		f.Inputs(rng)
		f.Tick()
	}
	frozen := map[string]gameloop.RoomStatus{}
	for _, fr := range f.Rooms() {
		frozen[fr.ID] = f.Status(fr)
		if frozen[fr.ID].State != gameloop.StateRunning {
			t.Fatalf("room %s is %s", fr.Name, frozen[fr.ID].State)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	saved, err := f.M.Freeze(ctx)
	if err != nil {
		t.Fatalf("freeze: %v", err)
	}
	t1 := time.Now()
	blob, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	var back []gameloop.SavedRoom
	if err := json.Unmarshal(blob, &back); err != nil {
		t.Fatal(err)
	}
	t2 := time.Now()
	c := f.Successor()
	sinks := c.Sinks
	t3, cpu3 := time.Now(), cpuTime(t)
	if err := c.M.Thaw(ctx, back, func(id string) comet.Sink {
		if s, ok := sinks[id]; ok {
			return s
		}
		return nil
	}); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	t4, cpu4 := time.Now(), cpuTime(t)
	logBytes := 0
	for _, sv := range back {
		logBytes += len(sv.Match.Log)
		st, err := c.M.Inspect(ctx, sv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if was := frozen[sv.ID]; st.Tick != was.Tick || st.Match != was.Match || st.Digest != was.Digest {
			t.Errorf("room %s thawed at %d %s %.8s, frozen at %d %s %.8s", sv.Name, st.Tick, st.Match, st.Digest, was.Tick, was.Match, was.Digest)
		}
	}
	t.Logf("freeze+thaw of %d rooms x %d players, %v into their matches: freeze %v, JSON round trip %v (%d bytes, logs %d bytes), thaw %v (CPU %v); total %v",
		rooms, players, played, t1.Sub(t0).Round(time.Microsecond), t2.Sub(t1).Round(time.Microsecond), len(blob), logBytes,
		t4.Sub(t3).Round(time.Microsecond), (cpu4 - cpu3).Round(time.Microsecond), (t1.Sub(t0) + t2.Sub(t1) + t4.Sub(t3)).Round(time.Microsecond))
}

// cpuTime is the CPU time the test process used so far (user and system):
// the machine may be shared, so wall time alone says little.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
