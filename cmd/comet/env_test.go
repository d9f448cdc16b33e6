package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBadEnvironmentValueRefusesToStart sets one COMET_* variable to a value
// its flag would refuse: serve must not start, and must say which variable
// and which value, as it does for a bad flag.
func TestBadEnvironmentValueRefusesToStart(t *testing.T) {
	tests := []struct{ env, value, why string }{
		{"COMET_HEARTBEAT", "25", "parse error"},
		{"COMET_SESSION_GRACE", "half a minute", "parse error"},
		{"COMET_RETAIN_CHAT", "90days", "parse error"},
		{"COMET_SESSIONS_PER_MINUTE", "lots", "parse error"},
		{"COMET_STREAMS_PER_IP", "5.5", "parse error"},
		{"COMET_MAX_ROOMS", "1e3", "parse error"},
		{"COMET_GC_PERCENT", "99999999999999999999", "value out of range"},
		{"COMET_DEV", "yes please", "parse error"},
		{"COMET_SECURE_COOKIES", "on", "parse error"},
		{"COMET_TRUSTED_PROXIES", "10.0.0.1", "want CIDRs"},
		{"COMET_LOG_LEVEL", "verbose", "want debug, info"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "comet.db")
			t.Setenv("COMET_DB", db)
			t.Setenv(tt.env, tt.value)
			var stderr bytes.Buffer
			m := NewMain()
			m.Stdout, m.Stderr = io.Discard, &stderr
			m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			err := m.Run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"})
			if err == nil {
				m.Close()
				t.Fatalf("%s=%q: serve started", tt.env, tt.value)
			}
			for _, want := range []string{tt.env, `"` + tt.value + `"`, tt.why} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %s", err, want)
				}
			}
			if !strings.Contains(stderr.String(), err.Error()) || !strings.Contains(stderr.String(), "-heartbeat") {
				t.Errorf("stderr %q: want the error and the usage, as for a bad flag", stderr.String())
			}
			if _, serr := os.Stat(db); !os.IsNotExist(serr) {
				t.Errorf("the database was created (%v): serve went past its flags", serr)
			}
		})
	}
}

// TestGoodEnvironmentValues: a variable sets its flag, a flag on the command
// line wins over it (and then its value is not looked at), an empty one is unset.
func TestGoodEnvironmentValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(*Main) bool
	}{
		{"duration", map[string]string{"COMET_HEARTBEAT": "3s"}, nil,
			func(m *Main) bool { return m.Hub.Heartbeat == 3*time.Second }},
		{"int", map[string]string{"COMET_STREAMS_PER_IP": "-1"}, nil,
			func(m *Main) bool { return m.Limits.StreamsPerIP == -1 }},
		{"bool", map[string]string{"COMET_SECURE_COOKIES": "1"}, nil,
			func(m *Main) bool { return m.Secure }},
		{"bool false", map[string]string{"COMET_DEV": "false"}, nil,
			func(m *Main) bool { return !m.Dev }},
		{"cidrs", map[string]string{"COMET_TRUSTED_PROXIES": "10.0.0.0/8, ::1/128"}, nil,
			func(m *Main) bool {
				return len(m.Limits.TrustedProxies) == 2 && m.Limits.TrustedProxies[1].String() == "::1/128"
			}},
		{"log level", map[string]string{"COMET_LOG_LEVEL": "warn"}, nil,
			func(m *Main) bool { return m.LogLevel == "warn" }},
		{"metrics address", map[string]string{"COMET_METRICS_ADDR": "127.0.0.1:9090"}, nil,
			func(m *Main) bool { return m.MetricsAddr == "127.0.0.1:9090" }},
		{"flag wins", map[string]string{"COMET_HEARTBEAT": "not a duration"}, []string{"--heartbeat", "2s"},
			func(m *Main) bool { return m.Hub.Heartbeat == 2*time.Second }},
		{"empty is unset", map[string]string{"COMET_MAX_ROOMS": ""}, nil,
			func(m *Main) bool { return m.Game.MaxRooms == 1000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			m := NewMain()
			m.Stderr = io.Discard
			if err := m.ParseFlags("serve", tt.args); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !tt.check(m) {
				t.Fatalf("env %v args %v: the flag's value is not the one given: %+v", tt.env, tt.args, m)
			}
		})
	}
}

// TestEveryFlagNamesItsEnvironmentVariable keeps the usage text true to
// envName: each serve flag's help says the variable it falls back to.
func TestEveryFlagNamesItsEnvironmentVariable(t *testing.T) {
	var usage bytes.Buffer
	m := NewMain()
	m.Stderr = &usage
	_ = m.ParseFlags("serve", []string{"-h"})
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	found := flagLine.FindAllStringSubmatchIndex(usage.String(), -1)
	if len(found) < 20 {
		t.Fatalf("usage lists %d flags:\n%s", len(found), usage.String())
	}
	for i, f := range found {
		name := usage.String()[f[2]:f[3]]
		end := len(usage.String())
		if i+1 < len(found) {
			end = found[i+1][0]
		}
		if help := usage.String()[f[0]:end]; !strings.Contains(help, "env "+envName(name)) {
			t.Errorf("--%s's help does not name %s: %q", name, envName(name), help)
		}
	}
}
