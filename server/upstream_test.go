package server

import (
	"encoding/json"
	"strings"
	"testing"

	"comet"
)

func TestDecodeUpstream(t *testing.T) {
	tests := []struct {
		body    string
		n       int
		errCode string
		errSub  string
	}{
		{`[]`, 0, "", ""},
		{` [{"seq":1,"type":"a.b","data":{"x":1}}] `, 1, "", ""},
		{`[{"seq":1,"type":"a.b"}]`, 1, "", ""},
		{`[{"seq":1,"type":"a.b","data":null}]`, 1, "", ""},
		{``, 0, comet.EINVALID, "JSON array"},
		{`null`, 0, comet.EINVALID, "JSON array"},
		{`[1]`, 0, comet.EINVALID, "event 0"},
		{`[{"seq":-1,"type":"a"}]`, 0, comet.EINVALID, "event 0"},
		{`[{"seq":1.5,"type":"a"}]`, 0, comet.EINVALID, "event 0"},
		{`[{"seq":1,"type":7}]`, 0, comet.EINVALID, "type must be string"},
		{`[{"seq":1,"type":"` + strings.Repeat("a", 65) + `"}]`, 0, comet.EINVALID, "longer than 64"},
		{`[{"seq":1,"type":"a"},{"seq":0,"type":"b"}]`, 0, comet.EINVALID, "event 1: seq"},
		{`[1]`, 0, comet.EINVALID, "event 0: expected object, got number"},
		{`[{"seq":"1","type":"a"}]`, 0, comet.EINVALID, "event 0: seq must be integer"},
	}
	for _, tt := range tests {
		evs, err := decodeUpstream([]byte(tt.body))
		if tt.errCode == "" {
			if err != nil || len(evs) != tt.n {
				t.Errorf("%s: got %d events, %v", tt.body, len(evs), err)
			}
			for _, e := range evs {
				if !json.Valid(e.Data) {
					t.Errorf("%s: data %q not JSON", tt.body, e.Data)
				}
			}
			continue
		}
		if comet.ErrorCode(err) != tt.errCode || !strings.Contains(comet.ErrorMessage(err), tt.errSub) {
			t.Errorf("%s: error %v, want %s containing %q", tt.body, err, tt.errCode, tt.errSub)
		}
	}
}

// TestJSONErrorsNameJSONKinds: decode errors name JSON kinds, never Go
// types (float64, server.clientEvent), and drop encoding/json's prefix.
func TestJSONErrorsNameJSONKinds(t *testing.T) {
	var ping struct {
		T float64 `json:"t"`
	}
	var list struct {
		IDs []string          `json:"ids"`
		M   map[string]string `json:"m"`
		B   bool              `json:"b"`
	}
	for _, tt := range []struct {
		data string
		v    any
		want string
	}{
		{`{"t":"x"}`, &ping, "bad data: t must be number"},
		{`{"x":1}`, &ping, `bad data: unknown field "x"`},
		{`{"ids":"a"}`, &list, "bad data: ids must be array"},
		{`{"m":[]}`, &list, "bad data: m must be object"},
		{`{"b":1}`, &list, "bad data: b must be boolean"},
		{`[]`, &ping, "bad data: expected object, got array"},
	} {
		err := decodeData([]byte(tt.data), tt.v)
		if got := comet.ErrorMessage(err); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.data, got, tt.want)
		}
		if msg := comet.ErrorMessage(err); strings.Contains(msg, "float64") || strings.Contains(msg, "struct") || strings.Contains(msg, "json:") {
			t.Errorf("%s: %q shows Go's words", tt.data, msg)
		}
	}
}

// FuzzDecodeUpstream: any body decodes to valid events or a client error,
// never a panic or an internal error.
func FuzzDecodeUpstream(f *testing.F) {
	for _, s := range []string{`[]`, `[{"seq":1,"type":"sys.ping","data":{"t":1}}]`, `[{"seq":1`, `{}`, `[[]]`,
		`[{"seq":18446744073709551615,"type":"x","data":"\u2028"}]`, `[{"seq":1,"type":"a","data":[1,{"b":null}]}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := decodeUpstream(body)
		if err != nil {
			if code := comet.ErrorCode(err); code != comet.EINVALID {
				t.Fatalf("error code %s for %q", code, body)
			}
			return
		}
		if len(evs) > maxSendEvents {
			t.Fatalf("%d events accepted", len(evs))
		}
		for _, e := range evs {
			if e.Seq == 0 || e.Type == "" || len(e.Type) > maxTypeLen || !json.Valid(e.Data) {
				t.Fatalf("invalid event accepted: %+v", e)
			}
		}
	})
}
