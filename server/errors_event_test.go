package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"comet"
)

// TestEventErrorsHideDetail makes event handlers fail: the client gets
// sys.error internal with "internal error" and nothing more, the log gets the
// detail (a panic with its stack) in exactly one line.
func TestEventErrorsHideDetail(t *testing.T) {
	ts, logs := startErrorServer(t, func(s *Server) {
		s.handlers["test.panic"] = func(context.Context, *tab, json.RawMessage) error {
			panic("event exploded: " + secretDetail)
		}
		s.handlers["test.internal"] = func(context.Context, *tab, json.RawMessage) error {
			return comet.Errorf(comet.EINTERNAL, "hijack: %s", secretDetail)
		}
		s.handlers["test.plain"] = func(context.Context, *tab, json.RawMessage) error {
			return errors.New("open " + secretDetail)
		}
	})
	c := newClient(t, ts.URL)
	st := c.open("sse", 0)
	defer st.close()
	tests := []struct {
		typ    string
		logged []string
	}{
		{"test.panic", []string{"type=test.panic", "event exploded", "err.stack=", "errors_event_test.go"}},
		{"test.internal", []string{"type=test.internal", "hijack: " + secretDetail}},
		{"test.plain", []string{"type=test.plain", "open " + secretDetail}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			logs.take("ERROR")
			c.send(tt.typ, map[string]any{})
			ev := st.waitType(t, "sys.error", eventWait)
			var e sysError
			if err := json.Unmarshal(ev.Data, &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != comet.EINTERNAL || e.Message != "internal error" || e.Ref != c.seq {
				t.Fatalf("sys.error %s, want internal, \"internal error\", ref %d", ev.Data, c.seq)
			}
			lines := logs.take("ERROR")
			if len(lines) != 1 {
				t.Fatalf("logged %d times at ERROR, want once: %q", len(lines), lines)
			}
			for _, sub := range tt.logged {
				if !strings.Contains(lines[0], sub) {
					t.Errorf("the log line lacks %q: %s", sub, lines[0])
				}
			}
		})
	}
}
