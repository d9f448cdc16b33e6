package gameloop

import (
	"testing"
	"time"
)

func TestSettingsMergeAndValidate(t *testing.T) {
	def := Settings{TickHz: 20, MinPlayers: 2, DefaultMax: 8, MaxPlayers: 16, Duration: time.Minute}
	got := def.merge(Settings{Duration: time.Second, MaxPlayers: 32})
	if got.Duration != time.Second || got.MaxPlayers != 32 || got.TickHz != 20 || got.MinPlayers != 2 {
		t.Errorf("merge: %+v", got)
	}
	if err := def.validate(); err != nil {
		t.Errorf("valid settings: %v", err)
	}
	for _, bad := range []Settings{
		{TickHz: 5, MinPlayers: 1, DefaultMax: 1, MaxPlayers: 1, Duration: time.Second},
		{TickHz: 61, MinPlayers: 1, DefaultMax: 1, MaxPlayers: 1, Duration: time.Second},
		{TickHz: 20, MinPlayers: 3, DefaultMax: 2, MaxPlayers: 4, Duration: time.Second},
		{TickHz: 20, MinPlayers: 1, DefaultMax: 5, MaxPlayers: 4, Duration: time.Second},
		{TickHz: 20, MinPlayers: 1, DefaultMax: 1, MaxPlayers: 1},
	} {
		if bad.validate() == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestDefinePanicsOnBadSpec(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Define accepted a spec without Decode")
		}
	}()
	Define(ModeSpec[int]{Name: "x", Kinds: []Kind{{Name: "k"}}, New: func(Env) Game[int] { return nil },
		Settings: Settings{TickHz: 20, MinPlayers: 1, DefaultMax: 1, MaxPlayers: 1, Duration: time.Second}})
}

func TestEnvTicks(t *testing.T) {
	e := Env{TickHz: 20}
	for d, want := range map[time.Duration]int{time.Second: 20, 800 * time.Millisecond: 16, time.Millisecond: 1, 0: 0} {
		if got := e.Ticks(d); got != want {
			t.Errorf("Ticks(%v) = %d, want %d", d, got, want)
		}
	}
}
