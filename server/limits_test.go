package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSessionsPerAddressLimited(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.SessionsPerMinute = 3 })
	for i := 0; i < 3; i++ {
		newClient(t, ts.URL)
	}
	resp, err := http.Post(ts.URL+"/comet/session", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if resp.StatusCode != 429 || json.Unmarshal(body, &e) != nil || e.Error == "" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th session: %d %s Retry-After=%q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

func TestStreamsPerAddressLimitedAndReleased(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.StreamsPerIP = 2 })
	a, b, c := newClient(t, ts.URL), newClient(t, ts.URL), newClient(t, ts.URL)
	sa := a.open("multipart", 0)
	sb := b.open("sse", 0)
	if _, err := c.tryOpen("iframe", 0); err == nil || !contains429(err) {
		t.Fatalf("third stream from one address: %v, want 429", err)
	}
	sa.close()
	sb.close()
	// The slots come back once the server notices the streams ended.
	checkFor(t, 10*time.Second, func() error {
		st, err := c.tryOpen("iframe", 0)
		if err == nil {
			st.close()
		}
		return err
	})
}

func contains429(err error) bool { return err != nil && strings.Contains(err.Error(), "429") }

func TestClientAddrBelievesOnlyTrustedProxies(t *testing.T) {
	l := newLimiter(Limits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, NewMetrics())
	tests := []struct{ remote, xff, want string }{
		{"203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},             // untrusted peer: header ignored
		{"10.0.0.1:5000", "1.2.3.4", "1.2.3.4"},                    // trusted proxy
		{"10.0.0.1:5000", "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"}, // right-most untrusted hop
		{"10.0.0.1:5000", "", "10.0.0.1"},                          // no header
		{"10.0.0.1:5000", "garbage", "10.0.0.1"},                   // unparsable hop
		{"[::ffff:203.0.113.9]:1", "", "203.0.113.9"},              // v4-mapped
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := l.clientAddr(r).String(); got != tt.want {
			t.Errorf("remote %s xff %q: %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
