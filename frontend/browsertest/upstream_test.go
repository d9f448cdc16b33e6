package browsertest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Upstream fails while the stream flows (every POST answers 503): the HUD
// says so within 2 s, the game keeps arriving, movement inputs made during
// the failure are dropped instead of replayed late, chat said meanwhile is
// sent once recovered, in order; the warning goes once sends get through.
// The render loop survives frames that throw.
func TestUpstreamFailureShown(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOptions{})
	a := openGame(t, s, "?transport=sse")
	a.SetTimeout(20 * time.Second)
	a.Do(t, "quick play", chromedp.Click(chromedp.CSS(`[data-testid="quick-play"][data-mode="arena"]`)))
	a.WaitFor(t, `comet.state().room !== "" && comet.state().tick > 0 && comet.state().you > 0`)
	sid := Eval[string](t, a, `comet.client.sessionInfo.sid`)
	const banner = `document.querySelector('[data-testid="reconnect-banner"]')`
	warned := banner + `.textContent.includes("Sending is failing") && !` + banner + `.hidden`

	s.faults.set(func(f *faults) { f.failSends = 1 << 30 })
	before := len(s.faults.received(sid))
	start := time.Now()
	key(t, a, "KeyD", "d", 68, true) // an input that cannot go up
	a.WaitFor(t, warned)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the HUD showed the failing upstream after %v, want within 2 s", d)
	} else {
		t.Logf("the HUD showed the failing upstream after %v", d.Round(time.Millisecond))
	}
	// The stream still flows.
	tick := roomOf(t, a).Tick
	a.WaitFor(t, fmt.Sprintf(`comet.state().tick > %d + 10`, tick))
	// Moves made while failing go nowhere; chat is kept.
	for _, k := range []struct {
		code, key string
		vk        int64
	}{{"KeyD", "d", 68}, {"KeyS", "s", 83}, {"KeyA", "a", 65}} {
		key(t, a, k.code, k.key, k.vk, false)
		key(t, a, k.code, k.key, k.vk, true)
	}
	key(t, a, "KeyA", "a", 65, false)
	say(t, a, "first while failing")
	say(t, a, "second while failing")
	if got := Eval[int](t, a, `comet.client.stats.pending`); got < 2 {
		t.Errorf("%d events pending while sends fail, want the chat lines at least", got)
	}

	s.faults.set(func(f *faults) { f.failSends = 0 })
	waitChat(t, a, "second while failing")
	a.WaitFor(t, `!(`+warned+`)`)
	var inputs, chat []string
	for _, ev := range s.faults.received(sid)[before:] {
		switch ev.Type {
		case "room.input":
			inputs = append(inputs, string(ev.Data))
		case "chat.say":
			chat = append(chat, string(ev.Data))
		}
	}
	if len(chat) != 2 || !strings.Contains(chat[0], "first while failing") || !strings.Contains(chat[1], "second while failing") {
		t.Errorf("chat after the recovery: %q, want the two lines once each, in order", chat)
	}
	// Each line carries its own key, which makes it once for the player
	// even when resent into a renewed session (PROTOCOL.md, chat.say).
	keys := map[string]bool{}
	for _, c := range chat {
		var d struct{ Key string }
		if err := json.Unmarshal([]byte(c), &d); err != nil || !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(d.Key) || keys[d.Key] {
			t.Errorf("chat.say %s: want a key of its own (24 hex digits)", c)
		}
		keys[d.Key] = true
	}
	// The batch out when sends began failing is resent as is (it may hold
	// the first input); the seven control changes made while failing are
	// not replayed, only the controls as they are now.
	if len(inputs) > 3 {
		t.Errorf("%d inputs replayed after the recovery, want at most 3: %q", len(inputs), inputs)
	}

	// The render loop survives frames that throw, and draws on.
	Eval[bool](t, a, `(() => {
		const st = comet.room.stage, draw = st.drawFn;
		window.__frames = 0;
		st.drawFn = (...args) => { window.__frames++; if (window.__frames <= 5) throw new Error("a broken frame"); draw(...args); };
		return true;
	})()`)
	a.WaitFor(t, `window.__frames > 30 && comet.room.stage.frameErrors >= 5`)
	for _, e := range appErrors(a) {
		if !strings.Contains(e, "a broken frame") && !strings.Contains(e, "503") {
			t.Errorf("page error: %s", e)
		}
	}
}
