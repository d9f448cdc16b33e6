package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSessionVersion: a session request names its protocol version (none
// means 1); the answer carries the version and the limits; a version the
// server does not speak is 400 unsupported_version with the versions it does.
func TestSessionVersion(t *testing.T) {
	ts := startServer(t, nil)
	for _, body := range []string{"", `{}`, `{"v":1}`, `{"v":1,"name":"Ada"}`} {
		resp, err := http.Post(ts.URL+"/comet/session", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("%q: %d %s", body, resp.StatusCode, raw)
		}
		var out struct {
			V      int             `json:"v"`
			Limits json.RawMessage `json:"limits"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.V != 1 {
			t.Fatalf("%q: answer %s: v %d, %v", body, raw, out.V, err)
		}
		wantKeys(t, "limits", out.Limits, "grace_ms", "heartbeat_ms", "max_wait_s", "recycle_bytes", "recycle_ms",
			"replay_bytes", "replay_events", "send_bytes", "send_events", "send_window", "write_timeout_ms")
		var lim sessionLimits
		_ = json.Unmarshal(out.Limits, &lim)
		if lim != ts.sessionLimits() || lim.SendEvents != 64 || lim.SendBytes != 16384 || lim.SendWindow != 64 ||
			lim.ReplayEvents != 1024 || lim.ReplayBytes != 512<<10 || lim.RecycleBytes != 256<<10 || lim.MaxWaitS != 30 ||
			lim.GraceMS != 30000 || lim.HeartbeatMS != 25000 || lim.RecycleMS != 300000 || lim.WriteTimeoutMS != 10000 {
			t.Fatalf("limits %+v are not the server's defaults", lim)
		}
	}
	for _, v := range []string{"0", "2", "-1"} {
		resp, err := http.Post(ts.URL+"/comet/session", "application/json", strings.NewReader(`{"v":`+v+`}`))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`{"error":"protocol version %s is not supported (this server speaks 1)","code":"unsupported_version","versions":[1]}`, v)
		if resp.StatusCode != 400 || strings.TrimSpace(string(raw)) != want || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("v %s: %d %s (cookie %q); want 400 %s and no new player", v, resp.StatusCode, raw, resp.Header.Get("Set-Cookie"), want)
		}
	}
}

// TestBearerSchemeAnyCase: RFC 7235 makes the auth scheme case-insensitive.
func TestBearerSchemeAnyCase(t *testing.T) {
	ts := startServer(t, nil)
	a := newClient(t, ts.URL)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		req, _ := http.NewRequest("GET", ts.URL+"/comet/"+a.SID+"/poll?last=0", nil)
		req.Header.Set("Authorization", scheme+" "+a.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", scheme, resp.StatusCode, raw)
		}
	}
	adm := startServer(t, func(c *Config) { c.AdminToken = "secret-admin-token" })
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		req, _ := http.NewRequest("POST", adm.URL+"/api/admin/kick", strings.NewReader(`{"player":"id:p_nobody"}`))
		req.Header.Set("Authorization", scheme+" secret-admin-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 { // past the token check: the player is unknown
			t.Fatalf("admin with %s: %d %s, want 404 for the unknown player", scheme, resp.StatusCode, raw)
		}
	}
}
