package gameloop_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"comet/gameloop"
)

// TestModeInfosDeclareEveryModeWithServerSettings: /api/modes' answer lists
// every mode sorted by name with the manager's effective settings; its JSON
// is golden (go test -update rewrites testdata/modeinfos.golden.json).
func TestModeInfosDeclareEveryModeWithServerSettings(t *testing.T) {
	m := gameloop.NewManager(gameloop.ManagerConfig{
		Bus: newMemBus(), Modes: testModes,
		Settings: map[string]gameloop.Settings{"walk": {MaxPlayers: 12, Duration: 90 * time.Second}},
	})
	infos := m.ModeInfos()
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	if strings.Join(names, ",") != "brawl,crawl,walk" {
		t.Fatalf("modes %v, want sorted by name", names)
	}
	walk := infos[2]
	if walk.MaxPlayers != 12 || walk.DurationMs != 90_000 || walk.MinPlayers != 3 || walk.Title != "walk" || walk.Input[0].Name != "m" {
		t.Errorf("walk declared as %+v", walk)
	}
	got, err := json.MarshalIndent(map[string]any{"modes": infos}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "modeinfos.golden.json")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" { // the flag is encode_test.go's
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if strings.TrimSpace(string(want)) != string(got) {
		t.Errorf("ModeInfos JSON changed (go test -update if intended):\n%s", got)
	}
}

func TestDefineRefusesBadInputDeclarations(t *testing.T) {
	for _, c := range []struct {
		name   string
		fields []gameloop.InputField
	}{
		{"no name", []gameloop.InputField{{Type: gameloop.InputInt}}},
		{"twice", []gameloop.InputField{{Name: "m", Type: gameloop.InputBool}, {Name: "m", Type: gameloop.InputBool}}},
		{"unknown type", []gameloop.InputField{{Name: "m", Type: "string"}}},
		{"min above max", []gameloop.InputField{{Name: "m", Type: gameloop.InputNumber, Min: 2, Max: 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Define accepted it")
				}
			}()
			gameloop.Define(gameloop.ModeSpec[int]{
				Name: "x", Kinds: dot.Kinds(), Settings: dot.Defaults(), Input: c.fields,
				Decode: func([]byte) (int, error) { return 0, nil }, New: func(gameloop.Env) gameloop.Game[int] { return nil },
			})
		})
	}
}
