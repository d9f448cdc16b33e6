package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSendErrors(t *testing.T) {
	ts := startServer(t, nil)
	a := newClient(t, ts.URL)
	b := newClient(t, ts.URL)
	big := `[{"seq":1,"type":"sys.ping","data":{"t":1,"pad":"` + strings.Repeat("x", 17<<10) + `"}}]`
	var many []string
	for i := 1; i <= 65; i++ {
		many = append(many, fmt.Sprintf(`{"seq":%d,"type":"sys.ping","data":{"t":1}}`, i))
	}
	tests := []struct {
		name   string
		sid    string
		token  string
		body   string
		status int
		errSub string
	}{
		{"no token", a.SID, "", `[]`, 401, "missing player token"},
		{"garbage token", a.SID, "nope", `[]`, 401, "invalid player token"},
		{"other player's token", a.SID, b.Token, `[]`, 403, "another player"},
		{"unknown sid", "s_nope", a.Token, `[]`, 404, "session not found"},
		{"not json", a.SID, a.Token, `hello`, 400, "JSON array"},
		{"object not array", a.SID, a.Token, `{"seq":1}`, 400, "JSON array"},
		{"broken json", a.SID, a.Token, `[{"seq":1,`, 400, "not valid JSON"},
		{"seq zero", a.SID, a.Token, `[{"seq":0,"type":"sys.ping"}]`, 400, "seq must be a positive"},
		{"seq wrong type", a.SID, a.Token, `[{"seq":"1","type":"sys.ping"}]`, 400, "seq"},
		{"missing type", a.SID, a.Token, `[{"seq":1}]`, 400, "type is required"},
		{"too many events", a.SID, a.Token, "[" + strings.Join(many, ",") + "]", 400, "at most 64"},
		{"too large", a.SID, a.Token, big, 413, "over 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.URL+"/comet/"+tt.sid+"/send", strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Error string }
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("error body is not JSON: %q", raw)
			}
			if resp.StatusCode != tt.status || !strings.Contains(e.Error, tt.errSub) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, e.Error, tt.status, tt.errSub)
			}
		})
	}
}

func TestEventErrorsArriveOnStreamAndSessionGoesOn(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts.URL)
	st := c.open("sse", 0)
	defer st.close()
	body := `[{"seq":1,"type":"no.such","data":{}},{"seq":2,"type":"sys.ping","data":{"t":"x"}},{"seq":3,"type":"sys.ping","data":{"t":7}}]`
	if code, msg := c.post("/send", []byte(body)); code != 204 {
		t.Fatalf("send: %d %s", code, msg)
	}
	type sysErr struct {
		Code    string
		Message string
		Ref     uint64
	}
	var errs []sysErr
	for len(errs) < 2 {
		ev := st.waitType(t, "sys.error", 5*time.Second)
		var e sysErr
		_ = json.Unmarshal(ev.Data, &e)
		errs = append(errs, e)
	}
	if errs[0].Code != "unknown_type" || errs[0].Ref != 1 {
		t.Fatalf("first error %+v, want unknown_type for ref 1", errs[0])
	}
	if errs[1].Code != "invalid" || errs[1].Ref != 2 {
		t.Fatalf("second error %+v, want invalid for ref 2", errs[1])
	}
	if ev := st.waitType(t, "sys.pong", 5*time.Second); string(ev.Data) != `{"t":7}` {
		t.Fatalf("pong after errors: %s", ev.Data)
	}
}

func TestResentEventsRunOnce(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts.URL)
	st := c.open("multipart", 0)
	defer st.close()
	body := []byte(`[{"seq":1,"type":"sys.ping","data":{"t":1}},{"seq":2,"type":"sys.ping","data":{"t":2}}]`)
	for i := 0; i < 3; i++ { // a retried POST
		if code, msg := c.post("/send", body); code != 204 {
			t.Fatalf("send: %d %s", code, msg)
		}
	}
	c.post("/send", []byte(`[{"seq":3,"type":"sys.ping","data":{"t":3}}]`))
	var ts_ []string
	for len(ts_) < 3 {
		ev := st.waitType(t, "sys.pong", 5*time.Second)
		ts_ = append(ts_, string(ev.Data))
	}
	if strings.Join(ts_, " ") != `{"t":1} {"t":2} {"t":3}` {
		t.Fatalf("pongs %v: a resent event ran twice or out of order", ts_)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	ts := startServer(t, nil)
	for _, h := range []map[string]string{{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}} {
		req, _ := http.NewRequest("POST", ts.URL+"/comet/session", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("%v: status %d, want 403", h, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", ts.URL+"/comet/session", nil)
	req.Header.Set("Origin", ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("same-origin session: %d", resp.StatusCode)
	}
}
