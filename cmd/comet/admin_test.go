package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server"
	"comet/server/bus"
	"comet/server/sqlite"
)

// TestAdminCommand runs `comet admin` against a real server and checks each
// action reaches the admin API and each failure is one clear error.
func TestAdminCommand(t *testing.T) {
	const tok = "admin-test-token"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "comet.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: db, Bus: bus.New(), Game: gameloop.ManagerConfig{Modes: modes.All()}, Logger: log, AdminToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close(); db.Close() })

	// A player named Troll, online.
	resp, err := http.Post(hs.URL+"/comet/session", "application/json", strings.NewReader(`{"name":"Troll"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		Token  string
		Player struct{ ID string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("session: %d", resp.StatusCode)
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		m := NewMain()
		m.Stdout, m.Stderr = &out, io.Discard
		err := m.Run(context.Background(), append([]string{"admin"}, args...))
		return out.String(), err
	}
	// Online players are found by name (bare or name:); once the ban took
	// Troll offline (an unclaimed guest), by id:.
	id := sess.Player.ID
	for _, step := range [][2]string{{"mute", "Troll"}, {"unmute", "name:troll"}, {"ban", "Troll"}, {"unban", "id:" + id}, {"kick", "id:" + id}} {
		out, err := run(step[0], step[1], "--url", hs.URL+"/", "--token", tok)
		if err != nil || out != step[0]+" "+step[1]+": done\n" {
			t.Fatalf("admin %s %s: %q, %v", step[0], step[1], out, err)
		}
	}
	// The ban really happened and was undone: the player's token opens a session.
	req, _ := http.NewRequest("POST", hs.URL+"/comet/session", nil)
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("after ban and unban: %v %v", r, err)
	} else {
		r.Body.Close()
	}

	t.Setenv("COMET_URL", hs.URL)
	t.Setenv("COMET_ADMIN_TOKEN", tok)
	if out, err := run("mute", "id:"+id); err != nil || !strings.Contains(out, "done") {
		t.Fatalf("with the environment: %q %v", out, err)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"mute"}, "usage: comet admin"},
		{[]string{"mute", "Troll", "--token", "wrong"}, "admin mute Troll: admin token required (401)"},
		{[]string{"mute", "Nobody"}, `admin mute Nobody: no player named "Nobody" online or claimed (404)`},
		{[]string{"mute", id}, `no player named "` + id + `"`}, // a bare word is a name, never an id
		{[]string{"mute", "id:Troll"}, `admin mute id:Troll: no player with id "Troll" (404)`},
		{[]string{"explode", "Troll"}, "action must be mute, unmute, kick, ban or unban (400)"},
		{[]string{"mute", "Troll", "--bogus"}, "flag provided but not defined"},
		{[]string{"mute", "Troll", "--url", "http://127.0.0.1:1"}, "admin: "},
	} {
		if _, err := run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("admin %v: %v, want one line containing %q", tt.args, err, tt.want)
		}
	}
	t.Setenv("COMET_ADMIN_TOKEN", "")
	if _, err := run("mute", "Troll"); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("without a token: %v", err)
	}
}

// TestAbuseFlags: the abuse-limit flags and their environment variables reach
// the server's configuration, and a short admin token keeps it from starting.
func TestAbuseFlags(t *testing.T) {
	t.Setenv("COMET_ADMIN_FAILS_PER_MINUTE", "7")
	m := NewMain()
	m.Stderr = io.Discard
	if err := m.ParseFlags("serve", []string{"--chat-per-ip-per-minute", "-1", "--passwords-per-minute", "3",
		"--hash-concurrency", "2", "--join-code-fails-per-minute", "4"}); err != nil {
		t.Fatal(err)
	}
	want := server.AbuseLimits{ChatPerIPPerMinute: -1, PasswordsPerMinute: 3, HashConcurrency: 2, JoinCodeFailsPerMinute: 4, AdminFailsPerMinute: 7}
	if m.Abuse != want {
		t.Fatalf("Abuse = %+v, want %+v", m.Abuse, want)
	}

	m = NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	if err := m.ParseFlags("serve", []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "c.db"), "--admin-token", "too-short"}); err != nil {
		t.Fatal(err)
	}
	err := m.Open(context.Background())
	t.Cleanup(m.Close)
	if err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("Open with a 9-byte admin token: %v", err)
	}
}
