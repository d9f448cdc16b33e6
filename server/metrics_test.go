package server

import (
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestMetricsMethodLabelBounded sends requests with 50 random long methods:
// they count under one "other" label, so no client can grow the label set.
func TestMetricsMethodLabelBounded(t *testing.T) {
	ts := startServer(t, nil)
	for i := range 50 {
		var b strings.Builder
		for range 200 + rand.IntN(800) {
			b.WriteByte(byte('A' + rand.IntN(26)))
		}
		method := b.String() + strconv.Itoa(i)
		req, err := http.NewRequest(method, ts.URL+"/comet/session", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	known := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
		"PATCH": true, "OPTIONS": true, "CONNECT": true, "TRACE": true, "other": true}
	series := regexp.MustCompile(`(?m)^comet_http_requests_total\{method="([^"]*)",[^}]*\} (\d+)$`)
	methods, other := map[string]bool{}, 0
	for _, m := range series.FindAllStringSubmatch(string(body), -1) {
		methods[m[1]] = true
		if m[1] == "other" {
			n, _ := strconv.Atoi(m[2])
			other += n
		}
	}
	for m := range methods {
		if !known[m] {
			t.Errorf("a method label outside the known set: %.40q", m)
		}
	}
	if other != 50 {
		t.Fatalf("other-method requests counted %d, want 50:\n%s", other, body)
	}
}
