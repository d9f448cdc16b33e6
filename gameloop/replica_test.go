package gameloop

import "testing"

// FuzzReplicaDecode feeds arbitrary bytes to the client-side decoder: it
// must reject or apply, never panic, and never half-apply a bad diff.
func FuzzReplicaDecode(f *testing.F) {
	f.Add([]byte(`{"t":2,"b":1,"a":[[3,"p",1,2,"x"]],"c":[[1,0,5]],"r":[2]}`))
	f.Add([]byte(`{"t":1,"m":"m","e":[[1,"p",1],[2,"b"]]}`))
	f.Add([]byte(`{"t":2,"b":1,"c":[[1,9,5]]}`))
	f.Add([]byte(`{"t":2,"b":1,"c":[[1,0,99999999999]]}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Replica
		if err := r.ApplySnapshot([]byte(`{"t":1,"m":"m","e":[[1,"p",1,2],[2,"b",3]]}`)); err != nil {
			t.Fatal(err)
		}
		before := r
		if err := r.ApplyDiff(data); err != nil && !before.Equal(&r) {
			t.Fatalf("failed diff changed the replica")
		}
		var s Replica
		_ = s.ApplySnapshot(data)
	})
}

func TestReplicaRejectsDiffsThatDoNotFit(t *testing.T) {
	base := `{"t":5,"m":"m","e":[[1,"p",1,2,"Ada"],[2,"b",3]]}`
	for _, c := range []struct{ name, diff string }{
		{"wrong base", `{"t":7,"b":4,"c":[[1,0,9]]}`},
		{"not after base", `{"t":5,"b":5}`},
		{"change of unknown entity", `{"t":6,"b":5,"c":[[9,0,1]]}`},
		{"field out of range", `{"t":6,"b":5,"c":[[1,2,1]]}`},
		{"value beyond int32", `{"t":6,"b":5,"c":[[1,0,4294967296]]}`},
		{"removal of unknown entity", `{"t":6,"b":5,"r":[9]}`},
		{"added twice", `{"t":6,"b":5,"a":[[3,"b",1],[3,"b",2]]}`},
		{"snapshot member", `{"t":6,"b":5,"e":[]}`},
		{"odd change", `{"t":6,"b":5,"c":[[1,0]]}`},
	} {
		var r Replica
		if err := r.ApplySnapshot([]byte(base)); err != nil {
			t.Fatal(err)
		}
		before := r
		if err := r.ApplyDiff([]byte(c.diff)); err == nil {
			t.Errorf("%s: diff %s applied", c.name, c.diff)
		}
		if !r.Equal(&before) {
			t.Errorf("%s: a rejected diff changed the replica", c.name)
		}
	}
}
