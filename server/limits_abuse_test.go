package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server/bus"
	"comet/server/sqlite"
)

// loginFrom posts /comet/login as a client at addr (through the trusted
// loopback proxy) and returns the status, Retry-After and body.
func loginFrom(t testing.TB, base, addr, name, password string) (int, string, string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"password":%q}`, name, password)
	req, _ := http.NewRequest("POST", base+"/comet/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(raw)
}

// limitedCount scrapes /metrics for comet_limited_total{limit=label}.
func limitedCount(t testing.TB, base, label string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	prefix := fmt.Sprintf("comet_limited_total{limit=%q} ", label)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// behindProxy trusts the loopback proxy, so tests can speak from many
// addresses with X-Forwarded-For.
func behindProxy(c *Config) {
	c.Limits.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// TestLoginAttemptsLimited: login attempts are limited per address and per
// name, refused with 429, rate_limited, Retry-After and a metric.
func TestLoginAttemptsLimited(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		behindProxy(c)
		c.Abuse.PasswordsPerMinute = 3
	})
	type try struct {
		addr, name string
		status     int
	}
	steps := []struct {
		what  string
		tries []try
	}{
		{"an address gets 3 attempts, across names", []try{
			{"192.0.2.1", "Ada", 401}, {"192.0.2.1", "Bob", 401}, {"192.0.2.1", "Cy", 401}, {"192.0.2.1", "Dee", 429},
		}},
		{"another address is not limited by the first", []try{{"192.0.2.2", "Eve", 401}}},
		{"a name gets 3 attempts, across addresses", []try{
			{"198.51.100.1", "Target", 401}, {"198.51.100.2", "target", 401}, {"198.51.100.3", "TARGET", 401}, {"198.51.100.4", "Target", 429},
		}},
		{"one IPv6 /64 is one address", []try{
			{"2001:db8::1", "F1", 401}, {"2001:db8::2", "F2", 401}, {"2001:db8::3", "F3", 401}, {"2001:db8::ffff", "F4", 429},
			{"2001:db8:0:1::1", "F5", 401},
		}},
	}
	for _, st := range steps {
		t.Run(st.what, func(t *testing.T) {
			for _, tr := range st.tries {
				status, retry, body := loginFrom(t, ts.URL, tr.addr, tr.name, "wrong password")
				if status != tr.status {
					t.Fatalf("login %s from %s: %d %s, want %d", tr.name, tr.addr, status, body, tr.status)
				}
				if status == 429 && (retry == "" || !strings.Contains(body, "too many login attempts")) {
					t.Fatalf("429 without Retry-After or message: %q %s", retry, body)
				}
			}
		})
	}
	for label, want := range map[string]float64{"password_per_ip": 2, "login_per_name": 1} {
		if got := limitedCount(t, ts.URL, label); got != want {
			t.Errorf("comet_limited_total{limit=%q} = %v, want %v", label, got, want)
		}
	}
}

// TestLoginUnknownNameComparesDummyHash: a login naming nobody spends the
// same bcrypt comparison (at the claim cost) as a wrong password, so its
// timing does not tell claimed names from free ones.
func TestLoginUnknownNameComparesDummyHash(t *testing.T) {
	ts := startGameServer(t, behindProxy)
	var mu sync.Mutex
	var costs []int
	ts.guards.compare = func(hash, pw []byte) error {
		c, err := bcrypt.Cost(hash)
		if err != nil {
			t.Errorf("compared against a non-bcrypt hash: %v", err)
		}
		mu.Lock()
		costs = append(costs, c)
		mu.Unlock()
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	ada := openTab(t, ts.URL, "")
	ada.rename(t, "Ada")
	ada.send("player.claim", map[string]string{"password": "correct horse"})
	ada.waitFor(t, ofType("player.claimed"))

	for i, tt := range []struct{ name, password string }{
		{"Nobody", "wrong password"}, {"Ada", "wrong password"}, {"Ada", "correct horse"},
	} {
		status, _, body := loginFrom(t, ts.URL, fmt.Sprintf("192.0.2.%d", i+1), tt.name, tt.password)
		want := http.StatusUnauthorized
		if tt.password == "correct horse" {
			want = http.StatusOK
		}
		if status != want {
			t.Fatalf("login %s: %d %s, want %d", tt.name, status, body, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(costs) != 3 || costs[0] != bcrypt.DefaultCost || costs[1] != bcrypt.DefaultCost {
		t.Fatalf("bcrypt comparisons at costs %v, want 3 at cost %d (the unknown name's included)", costs, bcrypt.DefaultCost)
	}
}

// TestHashingBounded: concurrent logins never run more bcrypt comparisons at
// once than HashConcurrency; the rest wait their turn and still succeed.
func TestHashingBounded(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		behindProxy(c)
		c.Abuse.HashConcurrency = 2
	})
	var running, most atomic.Int32
	ts.guards.compare = func(hash, pw []byte) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		// Stands for bcrypt's work (slow under -race): holding the slot is
		// what is measured, not the hash.
		time.Sleep(30 * time.Millisecond)
		return bcrypt.ErrMismatchedHashAndPassword
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _, body := loginFrom(t, ts.URL, fmt.Sprintf("192.0.2.%d", i+1), fmt.Sprintf("N%d", i), "wrong password"); status != 401 {
				t.Errorf("login %d: %d %s", i, status, body)
			}
		}()
	}
	wg.Wait()
	if m := most.Load(); m < 1 || m > 2 {
		t.Fatalf("%d comparisons ran at once, want at most 2", m)
	}
}

// TestClaimsLimitedPerAddress: one POST of many player.claim events hashes
// only as many passwords as the address's allowance; the rest are refused
// with sys.error rate_limited.
func TestClaimsLimitedPerAddress(t *testing.T) {
	ts := startGameServer(t, func(c *Config) { c.Abuse.PasswordsPerMinute = 2 })
	tb := openTab(t, ts.URL, "")
	tb.rename(t, "Claimer")
	var evs []any
	for range 6 {
		evs = append(evs, "player.claim", map[string]string{"password": "correct horse"})
	}
	tb.send(evs...)
	claimed, limited := 0, 0
	for claimed+limited < 6 {
		ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "player.claimed" || ev.Type == "sys.error" })
		switch {
		case ev.Type == "player.claimed":
			claimed++
		case decodeAs[sysError](t, ev).Code == comet.ERATELIMIT:
			limited++
		default:
			t.Fatalf("claim: %s", ev.Data)
		}
	}
	if claimed != 2 || limited != 4 {
		t.Fatalf("%d claimed, %d limited; want 2 and 4", claimed, limited)
	}
	if got := limitedCount(t, ts.URL, "password_per_ip"); got != 4 {
		t.Errorf("comet_limited_total{limit=password_per_ip} = %v, want 4", got)
	}
}

// TestChatLimitedPerAddress: guests are free, so chat is limited per address
// beside the per player limit: four fresh guests from one address share its
// allowance; a guest from another address is not limited by them.
func TestChatLimitedPerAddress(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		behindProxy(c)
		c.Abuse.ChatPerIPPerMinute = 1 // burst chatPerIPBurst, then one a minute
	})
	var guests []*testTab
	for range 5 {
		guests = append(guests, openTab(t, ts.URL, ""))
	}
	said, limited := 0, 0
	for i := range chatPerIPBurst + 4 {
		g := guests[i%4] // 6 lines each: a player alone may say 5 at once, so the address limit must be what refuses
		g.sendFrom("192.0.2.7", "chat.say", map[string]string{"channel": "lobby", "text": fmt.Sprintf("line %d", i)})
		ev := g.waitFor(t, func(ev wireEvent) bool {
			return ev.Type == "sys.error" && decodeAs[sysError](t, ev).Ref == g.seq ||
				ev.Type == "chat.msg" && decodeAs[wireChat](t, ev).Text == fmt.Sprintf("line %d", i)
		})
		if ev.Type == "chat.msg" {
			said++
			continue
		}
		if e := decodeAs[sysError](t, ev); e.Code != comet.ERATELIMIT || !strings.Contains(e.Message, "from your address") {
			t.Fatalf("line %d: %+v", i, e)
		}
		limited++
	}
	if said != chatPerIPBurst || limited != 4 {
		t.Fatalf("%d said, %d limited; want %d and 4", said, limited, chatPerIPBurst)
	}
	other := guests[4]
	other.sendFrom("192.0.2.8", "chat.say", map[string]string{"channel": "lobby", "text": "elsewhere"})
	other.chatText(t, "elsewhere")
	if got := limitedCount(t, ts.URL, "chat_per_ip"); got != 4 {
		t.Errorf("comet_limited_total{limit=chat_per_ip} = %v, want 4", got)
	}
}

// sendFrom posts one event as a client at addr (X-Forwarded-For through the
// trusted loopback proxy) and wants 204.
func (c *client) sendFrom(addr, typ string, data any) {
	c.t.Helper()
	c.mu.Lock()
	c.seq++
	body, _ := json.Marshal([]map[string]any{{"seq": c.seq, "type": typ, "data": data}})
	c.mu.Unlock()
	req, _ := http.NewRequest("POST", c.base+"/comet/"+c.SID+"/send", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("send: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		raw, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("send %s: %d %s", typ, resp.StatusCode, raw)
	}
}

// TestChatTextCleaned: what a player types reaches others without bidi
// overrides, zero-width characters or tall stacks of marks, emoji intact.
func TestChatTextCleaned(t *testing.T) {
	ts := startGameServer(t, nil)
	a, b := openTab(t, ts.URL, ""), openTab(t, ts.URL, "")
	for _, tt := range []struct{ in, want string }{
		{"invoice\u202Egpj.exe", "invoicegpj.exe"},
		{"b\u200Bad w\u2060o\uFEFFrd", "bad word"},
		{"Z" + strings.Repeat("\u0336", 500) + "algo", "Z\u0336\u0336\u0336algo"},
		{"👩\u200D💻 \u2066ok\u2069", "👩\u200D💻 ok"},
	} {
		a.send("chat.say", map[string]string{"channel": "lobby", "text": tt.in})
		b.chatText(t, tt.want)
	}
	a.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "\u200B\u202E\u3164"}, comet.EINVALID, "1 to 500 characters")
}

// TestAdminFailuresLimited: wrong admin tokens are limited per address; once
// spent, even the right token waits (429 + Retry-After), and other addresses
// are unaffected.
func TestAdminFailuresLimited(t *testing.T) {
	const tok = "0123456789abcdef-admin"
	ts := startGameServer(t, func(c *Config) {
		behindProxy(c)
		c.AdminToken = tok
		c.Abuse.AdminFailsPerMinute = 2
	})
	a := openTab(t, ts.URL, "")
	a.rename(t, "Troll")
	adminFrom := func(addr, token string) (int, string) {
		req, _ := http.NewRequest("POST", ts.URL+"/api/admin/mute", strings.NewReader(`{"player":"name:Troll"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", addr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i, tt := range []struct {
		addr, token string
		status      int
	}{
		{"192.0.2.1", "guess-1", 401}, {"192.0.2.1", "guess-2", 401},
		{"192.0.2.1", "guess-3", 429}, {"192.0.2.1", tok, 429},
		{"192.0.2.2", tok, 200},
	} {
		status, retry := adminFrom(tt.addr, tt.token)
		if status != tt.status || (status == 429) != (retry != "") {
			t.Fatalf("attempt %d from %s: %d (Retry-After %q), want %d", i, tt.addr, status, retry, tt.status)
		}
	}
	if got := limitedCount(t, ts.URL, "admin_per_ip"); got != 2 {
		t.Errorf("comet_limited_total{limit=admin_per_ip} = %v, want 2", got)
	}
}

// TestModerationHitsTheRightPlayer: a player cannot take another's id as its
// name, an id given as a name:<> is no one, and a name two players look like
// (old stored names) is refused as ambiguous rather than guessed.
func TestModerationHitsTheRightPlayer(t *testing.T) {
	const tok = "0123456789abcdef-admin"
	ts := startGameServer(t, func(c *Config) { c.AdminToken = tok })
	victim := openTab(t, ts.URL, "")
	victim.rename(t, "Ada")
	mimic := openTab(t, ts.URL, "")
	mimic.expectRefused(t, "player.rename", map[string]string{"name": victim.Player.ID}, comet.EINVALID, "shape of player and session ids")
	mimic.expectRefused(t, "player.rename", map[string]string{"name": "\u0410da"}, comet.ECONFLICT, "in use by another player online")
	mimic.expectRefused(t, "player.rename", map[string]string{"name": "A\u200bda"}, comet.EINVALID, "not allowed")

	if code, out := admin(t, ts.URL, tok, "mute", `{"player":"name:`+victim.Player.ID+`"}`); code != 404 {
		t.Fatalf("name:<an id>: %d %v, want 404", code, out)
	}
	// A look-alike name stored before names were keyed by look.
	if err := ts.DB.RenamePlayer(context.Background(), mimic.Player.ID, "\u0410da"); err != nil {
		t.Fatal(err)
	}
	openTab(t, ts.URL, mimic.Token) // online under the stored name
	code, out := admin(t, ts.URL, tok, "ban", `{"player":"name:Ada"}`)
	if code != 400 || !strings.Contains(out["error"], "ambiguous") || !strings.Contains(out["error"], victim.Player.ID) || !strings.Contains(out["error"], mimic.Player.ID) {
		t.Fatalf("ambiguous name: %d %v", code, out)
	}
	if code, out := admin(t, ts.URL, tok, "mute", `{"player":"id:`+mimic.Player.ID+`"}`); code != 200 || out["player"] != mimic.Player.ID {
		t.Fatalf("by id: %d %v", code, out)
	}
}

// TestJoinCodeGuessesLimited: failed room.join / room.spectate look-ups are
// limited per player and per address; once spent, even the right code waits
// (sys.error rate_limited), while other players at other addresses join.
func TestJoinCodeGuessesLimited(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		behindProxy(c)
		c.Abuse.JoinCodeFailsPerMinute = 3
		c.Game.EmptyTimeout = time.Minute
	})
	owner := openTab(t, ts.URL, "")
	owner.send("room.create", map[string]any{"mode": "arena", "name": "Secret", "private": true})
	code := owner.joined(t).Code
	if code == "" {
		t.Fatal("private room without a code")
	}
	guesser, sameAddr, roamer, honest := openTab(t, ts.URL, ""), openTab(t, ts.URL, ""), openTab(t, ts.URL, ""), openTab(t, ts.URL, "")
	try := func(tb *testTab, addr, typ, room, wantCode string) {
		t.Helper()
		tb.sendFrom(addr, typ, map[string]string{"room": room})
		ev := tb.waitFor(t, func(ev wireEvent) bool {
			return ev.Type == "room.joined" || ev.Type == "sys.error" && decodeAs[sysError](t, ev).Ref == tb.seq
		})
		got := ""
		if ev.Type == "sys.error" {
			got = decodeAs[sysError](t, ev).Code
		}
		if got != wantCode {
			t.Fatalf("%s %q from %s: %s %s, want code %q", typ, room, addr, ev.Type, ev.Data, wantCode)
		}
	}
	// Per address: three misses, then nothing from that address, right code included.
	try(guesser, "192.0.2.1", "room.join", "AAAAAA", comet.ENOTFOUND)
	try(guesser, "192.0.2.1", "room.spectate", "BBBBBB", comet.ENOTFOUND)
	try(sameAddr, "192.0.2.1", "room.join", "CCCCCC", comet.ENOTFOUND)
	try(sameAddr, "192.0.2.1", "room.join", code, comet.ERATELIMIT)
	// Per player: three misses from three addresses, then refused from a fourth.
	for i, c := range []string{"DDDDDD", "EEEEEE", "FFFFFF"} {
		try(roamer, fmt.Sprintf("198.51.100.%d", i+1), "room.join", c, comet.ENOTFOUND)
	}
	try(roamer, "198.51.100.9", "room.join", code, comet.ERATELIMIT)
	// Nobody else is held back.
	try(honest, "203.0.113.1", "room.join", code, "")
	if got := limitedCount(t, ts.URL, "join_code_per_ip") + limitedCount(t, ts.URL, "join_code_per_player"); got != 2 {
		t.Errorf("join-code refusals counted %v, want 2", got)
	}
}

// TestReturningPlayerLosesNameClaimedSince: a player whose stored name
// another player has claimed since (or a look-alike of it) gets a fresh guest
// name in its next session answer, and its open tabs hear player.renamed; the
// claim's owner keeps the name.
func TestReturningPlayerLosesNameClaimedSince(t *testing.T) {
	ts := startGameServer(t, nil)
	ctx := context.Background()
	for _, tt := range []struct{ stored, claimed string }{
		{"Ada", "Ada"}, {"dee", "DEE"}, {"\u0415ve", "Eve"}, {"B0b", "Bob"},
	} {
		t.Run(tt.stored, func(t *testing.T) {
			away, owner := openTab(t, ts.URL, ""), openTab(t, ts.URL, "")
			if err := ts.DB.RenamePlayer(ctx, away.Player.ID, tt.stored); err != nil {
				t.Fatal(err)
			}
			if err := ts.DB.ClaimName(ctx, owner.Player.ID, tt.claimed, []byte("$2a$10$hash")); err != nil {
				t.Fatal(err)
			}
			back := openSession(t, ts.URL, away.Token)
			if back.Player.ID != away.Player.ID || !strings.HasPrefix(back.Player.Name, "Guest-") {
				t.Fatalf("returning player %+v, want a fresh guest name", back.Player)
			}
			ev := away.waitFor(t, ofType("player.renamed"))
			if v := decodeAs[playerView](t, ev); v.ID != away.Player.ID || v.Name != back.Player.Name {
				t.Fatalf("open tab told %s, want %q", ev.Data, back.Player.Name)
			}
			if p, err := ts.DB.PlayerByID(ctx, away.Player.ID); err != nil || p.Name != back.Player.Name {
				t.Fatalf("stored %+v, %v", p, err)
			}
			if again := openSession(t, ts.URL, owner.Token); again.Player.Name != tt.claimed {
				t.Fatalf("the claim's owner now %q, want %q", again.Player.Name, tt.claimed)
			}
		})
	}
}

// TestShortAdminTokenRefused: a server does not start with an admin token
// shorter than MinAdminToken bytes; empty (no admin API) and long enough do.
func TestShortAdminTokenRefused(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "comet.db"), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, tt := range []struct {
		token string
		ok    bool
	}{{"", true}, {"short", false}, {strings.Repeat("x", MinAdminToken-1), false}, {strings.Repeat("x", MinAdminToken), true}} {
		s, err := New(Config{Store: db, Bus: bus.New(), Logger: quietLogger(), Game: gameloop.ManagerConfig{Modes: modes.All()}, AdminToken: tt.token})
		if err == nil {
			s.Close()
		}
		if tt.ok != (err == nil) || !tt.ok && !strings.Contains(err.Error(), fmt.Sprintf("must be at least %d", MinAdminToken)) {
			t.Errorf("admin token %q: %v", tt.token, err)
		}
	}
}

// TestOldNamesCannotBeClaimed: a name stored before today's rules (an
// invisible character, an id's shape, doubled spaces) is kept but cannot be
// claimed until the player renames.
func TestOldNamesCannotBeClaimed(t *testing.T) {
	ts := startGameServer(t, nil)
	for _, tt := range []struct{ stored, why string }{
		{"A\u200bda", "not allowed"},
		{"p_AbCdEfGhIjKl", "shape of player and session ids"},
		{"bob  hey", `rename to "bob hey" first`},
	} {
		t.Run(tt.stored, func(t *testing.T) {
			first := openTab(t, ts.URL, "")
			if err := ts.DB.RenamePlayer(context.Background(), first.Player.ID, tt.stored); err != nil {
				t.Fatal(err)
			}
			tb := openTab(t, ts.URL, first.Token)
			if tb.Player.Name != tt.stored {
				t.Fatalf("session name %q, want the stored %q", tb.Player.Name, tt.stored)
			}
			tb.expectRefused(t, "player.claim", map[string]string{"password": "correct horse"}, comet.EINVALID, tt.why)
		})
	}
}

// FuzzSplitWhisper: whatever follows /w, the answer is a clear error or an
// online player and a suffix of the text; quoted names are taken whole.
func FuzzSplitWhisper(f *testing.F) {
	online := map[string][]string{}
	for id, name := range map[string]string{"p_a": "Ada", "p_b": "Ada Lovelace", "p_c": "bob", "p_d": "B0B"} {
		k := comet.NameKey(name)
		online[k] = append(online[k], id)
	}
	for _, s := range []string{"ada hi", `"ada lovelace" hi`, "ada lovelace hi", "bob hey", `"unterminated`, "", " ", "\xff", `""`, "ADA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		to, text, err := splitWhisper(rest, online, comet.NameKey)
		if err != nil {
			if c := comet.ErrorCode(err); c != comet.EINVALID && c != comet.ENOTFOUND {
				t.Fatalf("splitWhisper(%q): %v", rest, err)
			}
			return
		}
		if !strings.HasPrefix(to, "p_") || !strings.HasSuffix(strings.TrimSpace(rest), text) {
			t.Fatalf("splitWhisper(%q) = %q, %q", rest, to, text)
		}
		if to == "p_c" || to == "p_d" { // "bob" and "B0B" look alike: never chosen between
			t.Fatalf("splitWhisper(%q) chose %s between look-alikes", rest, to)
		}
	})
}

// TestKeyedLimiter: each key has its own bucket; check never spends; a
// negative rate turns the limiter off; an empty key is never limited.
func TestKeyedLimiter(t *testing.T) {
	for _, tt := range []struct {
		name      string
		perMinute int
		burst     int
		key       string
		takes     int // successful takes before the first refusal; -1: never refused
	}{
		{"burst then refused", 1, 3, "a", 3},
		{"burst of one", 1, 1, "a", 1},
		{"off", -1, 1, "a", -1},
		{"no key", 1, 1, "", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newKeyedLimiter("test", tt.perMinute, tt.burst)
			for range 3 { // checks spend nothing
				if ok, _ := k.check(tt.key); !ok {
					t.Fatal("check refused a full bucket")
				}
			}
			n := 0
			for ; n < 10; n++ {
				if ok, retry := k.take(tt.key); !ok {
					if retry <= 0 || retry > time.Minute {
						t.Fatalf("retry %v, want within a minute", retry)
					}
					if ok, retry2 := k.check(tt.key); ok || retry2 <= 0 {
						t.Fatalf("check after the refusal: %v %v", ok, retry2)
					}
					break
				}
			}
			if want := tt.takes; want == -1 && n != 10 || want >= 0 && n != want {
				t.Fatalf("%d takes before a refusal, want %d", n, tt.takes)
			}
			if ok, _ := k.take("other"); !ok && tt.perMinute >= 0 {
				t.Fatal("another key was refused")
			}
		})
	}
}

// TestNameKeyCacheBounded: names longer than any valid name are keyed but not
// kept, so a flood of long login names cannot grow the cache.
func TestNameKeyCacheBounded(t *testing.T) {
	var c nameKeys
	long := strings.Repeat("x", maxCachedName+1)
	if c.key(long) != comet.NameKey(long) || c.key("Ada") != comet.NameKey("Ada") {
		t.Fatal("cached key differs from comet.NameKey")
	}
	if _, ok := c.m[long]; ok || len(c.m) != 1 {
		t.Fatalf("cache holds %d names, the long one %v", len(c.m), ok)
	}
}
