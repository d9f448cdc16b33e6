package push

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestMuxFramingGolden pins every byte of the mux framing on each transport:
// prelude, a batch of two sessions, a session's end, a refused sid, a
// heartbeat and the stream's end. Run with -update after a deliberate change,
// and update docs/PROTOCOL.md ("Mux") with it: TestProtocolDocMuxIsGolden
// holds the two together.
func TestMuxFramingGolden(t *testing.T) {
	for _, tr := range fixedTransports() {
		mx := &muxConn{inner: tr}
		if f, ok := tr.(*iframe); ok {
			f.sid = "mux"
		}
		var b []byte
		b = mx.appendPrelude(b)
		b = mx.appendSessionBatch(b, "s_A", goldenEvents())
		b = mx.appendSessionBatch(b, "s_B", goldenEvents()[:1])
		b = mx.appendSessionEnd(b, "s_A", EndReplaced.String())
		b = mx.appendSessionEnd(b, "s_X", muxGone)
		b = mx.appendBatch(b, nil)
		b = mx.appendEnd(b, EndRecycle)
		checkGolden(t, "mux_"+tr.name(), b)
	}
}

// TestProtocolDocMuxIsGolden: each ```text mux <transport> block of
// docs/PROTOCOL.md is that transport's mux golden file, byte for byte.
func TestProtocolDocMuxIsGolden(t *testing.T) {
	docIsGolden(t, "text mux ", "mux_")
}

// checkGolden compares b, its long runs of spaces folded, with
// testdata/<name>.golden (rewritten with -update).
func checkGolden(t *testing.T, name string, b []byte) {
	t.Helper()
	// The prelude's padding is long and blank; fold it for readable goldens.
	got := regexp.MustCompile(` {64,}`).ReplaceAllFunc(b, func(p []byte) []byte {
		return []byte("<" + strconv.Itoa(len(p)) + " spaces>")
	})
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed:\n got: %q\nwant: %q", name, got, want)
	}
}

// docIsGolden checks that each ```<info><transport> block of
// docs/PROTOCOL.md is testdata/<prefix><transport>.golden, byte for byte.
func docIsGolden(t *testing.T, info, prefix string) {
	t.Helper()
	for _, name := range []string{"multipart", "sse", "iframe"} {
		blocks := docBlocks(t, info+name)
		if len(blocks) != 1 {
			t.Fatalf("PROTOCOL.md has %d ```%s%s blocks, want 1", len(blocks), info, name)
		}
		doc := blocks[0]
		if name == "multipart" { // the doc shows multipart's CRLFs as line breaks
			doc = strings.ReplaceAll(doc, "\n", "\r\n")
		}
		golden, err := os.ReadFile("testdata/" + prefix + name + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		if doc != string(golden) {
			t.Errorf("PROTOCOL.md's %s%s block differs from testdata/%s%s.golden:\n doc: %q\nreal: %q", info, name, prefix, name, doc, golden)
		}
	}
}

func TestValidSID(t *testing.T) {
	for sid, want := range map[string]bool{
		"s_" + randomID(16): true, "s_a-b_C9": true, "s_": false, "x_abc": false, `s_a"b`: false,
		"s_</script>": false, "s_" + strings.Repeat("a", 62): true, "s_" + strings.Repeat("a", 63): false,
	} {
		if got := ValidSID(sid); got != want {
			t.Errorf("ValidSID(%q) = %v, want %v", sid, got, want)
		}
	}
}
