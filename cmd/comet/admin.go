package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Admin runs `comet admin ACTION PLAYER` against a running server's admin API.
// PLAYER is id:<player id> or name:<player name>; a bare word is a name.
func (m *Main) Admin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("comet admin", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	url := fs.String("url", envOr("COMET_URL", "http://localhost:8080"), "server base URL (env COMET_URL)")
	token := fs.String("token", envOr("COMET_ADMIN_TOKEN", ""), "admin token (env COMET_ADMIN_TOKEN)")
	if len(args) < 2 {
		return fmt.Errorf("usage: comet admin mute|unmute|kick|ban|unban id:PLAYER_ID|name:NAME [--url URL] [--token T]")
	}
	action, name := args[0], args[1]
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if *token == "" {
		return fmt.Errorf("admin: no token (set --token or COMET_ADMIN_TOKEN)")
	}
	player := name
	if !strings.HasPrefix(player, "id:") && !strings.HasPrefix(player, "name:") {
		player = "name:" + player
	}
	body, _ := json.Marshal(map[string]string{"player": player})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*url, "/")+"/api/admin/"+action, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(out, &e)
		return fmt.Errorf("admin %s %s: %s (%d)", action, name, e.Error, resp.StatusCode)
	}
	fmt.Fprintf(m.Stdout, "%s %s: done\n", action, name)
	return nil
}
