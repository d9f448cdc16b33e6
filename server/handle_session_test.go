package server

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestSessionAnswerSaysClaimed: a returning player's session answer says
// whether its name is claimed, so a page can show it after a reload.
func TestSessionAnswerSaysClaimed(t *testing.T) {
	ts := startServer(t, nil)
	a := newClient(t, ts.URL)
	if claimedIn(t, ts.URL, a.Token) {
		t.Fatal("a new guest is reported claimed")
	}
	st := a.open("sse", 0)
	defer st.close()
	a.send("player.claim", map[string]string{"password": "correct horse"})
	st.waitType(t, "player.claimed", 10*time.Second)
	if !claimedIn(t, ts.URL, a.Token) {
		t.Fatal("a claimed player's new session does not say claimed")
	}
}

func claimedIn(t *testing.T, base, token string) bool {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/comet/session", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Player struct{ Claimed *bool }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Player.Claimed == nil {
		t.Fatalf("session answer without player.claimed: %v", err)
	}
	return *out.Player.Claimed
}
