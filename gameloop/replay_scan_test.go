package gameloop

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestScanStepReadsWhatJSONReads: the fast path for step lines reads the
// same tick and inputs as encoding/json, and leaves every line it is not
// sure of to it.
func TestScanStepReadsWhatJSONReads(t *testing.T) {
	for _, c := range []struct {
		line string
		fast bool
	}{
		{`{"t":7,"s":1}`, true},
		{`{"t":18446744073709551615,"s":1,"in":[[1,{"m":3}]]}`, true},
		{`{"t":3,"s":1,"in":[[1,{"a":"]}\"["}],[22,{"b":[1,{"c":2}],"d":"\\"}]]}`, true},
		{`{"t":3,"s":1,"in":[[1,{"m":3}]],"x":1}`, false},
		{`{"t":3,"s":10}`, false},
		{`{"t":03,"s":1}`, false},
		{`{"t":3,"s":1,"in":[[4294967296,{"m":3}]]}`, false},
		{`{"t":3,"s":1,"in":[[1,3]]}`, false},
		{`{"t":3,"s":1,"in":[[1,{"m":3}]`, false},
		{`{"t":3,"join":{"n":1,"id":"p","name":"P"}}`, false},
	} {
		rp := &replayer{}
		tick, ok := rp.scanStep([]byte(c.line))
		if ok != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.line, ok, c.fast)
			continue
		}
		if !ok {
			continue
		}
		var l recLine
		if err := json.Unmarshal([]byte(c.line), &l); err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		var want []string
		for _, raw := range l.In {
			var pair []json.RawMessage
			if err := json.Unmarshal(raw, &pair); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%s %s", pair[0], pair[1]))
		}
		var got []string
		for _, p := range rp.pairs {
			got = append(got, fmt.Sprintf("%d %s", p.num, p.raw))
		}
		if tick != l.T || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: fast path read tick %d %q, encoding/json %d %q", c.line, tick, got, l.T, want)
		}
	}
}
