package push

import (
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"unicode/utf8"

	"comet"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// fixed makes a transport's random parts (boundary, nonce) stable for goldens.
func fixedTransports() []Transport {
	return []Transport{
		&multipart{boundary: "comet-0123456789abcdef"},
		sse{},
		&iframe{sid: "s_golden", nonce: "N0NCE"},
	}
}

func goldenEvents() []event {
	return []event{
		{seq: 1, msg: comet.MustMessage("sys.pong", map[string]float64{"t": 1.5})},
		{seq: 2, msg: comet.MustMessage("chat.msg", map[string]string{"text": "</script><!-- & \u2028"})},
	}
}

// TestTransportFramingGolden pins every byte of each framing (prelude, batch,
// heartbeat, end); run with -update after a deliberate protocol change and
// update docs/PROTOCOL.md with it.
func TestTransportFramingGolden(t *testing.T) {
	for _, tr := range fixedTransports() {
		var b []byte
		b = tr.appendPrelude(b)
		b = tr.appendBatch(b, goldenEvents())
		b = tr.appendBatch(b, nil)
		b = tr.appendEnd(b, EndRecycle)
		checkGolden(t, "framing_"+tr.name(), b)
	}
}

// FuzzFramingCannotBreakOut: whatever text an event carries, the iframe frame
// holds exactly one script element per batch and the multipart frame exactly
// one part, and the JSON inside decodes back to the same text.
func FuzzFramingCannotBreakOut(f *testing.F) {
	for _, s := range []string{"</script>", "<!--", "\u2028\u2029", "--comet-0123456789abcdef\r\n", "</SCRIPT >", "\x00\xff", `"),alert(1)//`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := comet.NewMessage("chat.msg", map[string]string{"text": text})
		if err != nil {
			t.Fatal(err)
		}
		evs := []event{{seq: 7, msg: m}}
		fr := &iframe{sid: "s_x", nonce: "n"}
		out := string(fr.appendBatch(nil, evs))
		if strings.Count(strings.ToLower(out), "</script") != 1 || strings.Count(out, "<") != 2 || strings.Contains(out, "<!--") {
			t.Fatalf("iframe frame breaks out: %q", out)
		}
		if strings.ContainsAny(out, "\u2028\u2029") {
			t.Fatalf("iframe frame has a raw line separator: %q", out)
		}
		payload := strings.TrimSuffix(strings.TrimPrefix(out, `<script nonce="n">parent.__comet("s_x",`), ")</script>\n")
		var got []struct {
			Data struct{ Text string }
		}
		if err := json.Unmarshal([]byte(payload), &got); err != nil || len(got) != 1 {
			t.Fatalf("iframe payload %q: %v", payload, err)
		}
		if want := jsonValidUTF8(text); got[0].Data.Text != want {
			t.Fatalf("round trip %q != %q", got[0].Data.Text, want)
		}
		mp := &multipart{boundary: "comet-0123456789abcdef"}
		part := string(mp.appendBatch(nil, evs))
		boundaryLines := 0
		for _, line := range strings.Split(part, "\r\n") {
			if strings.HasPrefix(line, "--comet-0123456789abcdef") {
				boundaryLines++
			}
		}
		if strings.Count(part, "\n") != 4 || boundaryLines != 1 {
			t.Fatalf("multipart part is not one part of one line: %q", part)
		}
		s := string(sse{}.appendBatch(nil, evs))
		if strings.Count(s, "\n") != 3 {
			t.Fatalf("sse event spans extra lines: %q", s)
		}
	})
}

// jsonValidUTF8 is what encoding/json makes of s: each invalid byte becomes
// one U+FFFD (strings.ToValidUTF8 would fold a run of them into one).
func jsonValidUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte, n == 1
		i += n
	}
	return b.String()
}
