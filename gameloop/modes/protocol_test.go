package modes_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"comet/gameloop"
	"comet/gameloop/modes"
)

// TestProtocolDocMatchesDeclarations holds docs/PROTOCOL.md's per-mode tables
// to the modes' own declarations: for every registered mode the document
// describes, its tick rate, entity kinds, their fields in order and labels
// must be the declared ones, and its example input must decode. A mode the
// document does not describe yet is only logged.
func TestProtocolDocMatchesDeclarations(t *testing.T) {
	raw, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	inputs := section(doc, "### Inputs")
	entities := section(doc, "### Entities per mode")
	if inputs == "" || entities == "" {
		t.Fatal(`PROTOCOL.md lost its "### Inputs" or "### Entities per mode" section`)
	}
	exampleRe := regexp.MustCompile("(?m)^\\| (\\w+) \\| `(\\{.*?\\})` \\|")
	examples := map[string]string{}
	for _, m := range exampleRe.FindAllStringSubmatch(inputs, -1) {
		examples[m[1]] = m[2]
	}
	headRe := regexp.MustCompile(`(?m)^\*\*(\w+)\*\* \((\d+) Hz`)
	heads := headRe.FindAllStringSubmatchIndex(entities, -1)
	documented := map[string]bool{}
	for i, h := range heads {
		name, hz := entities[h[2]:h[3]], entities[h[4]:h[5]]
		end := len(entities)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		documented[name] = true
		md := find(name)
		if md == nil {
			t.Errorf("PROTOCOL.md describes mode %s, which is not registered", name)
			continue
		}
		if want := strconv.Itoa(md.Defaults().TickHz); hz != want {
			t.Errorf("%s: PROTOCOL.md says %s Hz, declared %s", name, hz, want)
		}
		if got, want := docKinds(entities[h[1]:end]), declKinds(md); got != want {
			t.Errorf("%s: PROTOCOL.md kinds\n  %s\ndeclared\n  %s", name, got, want)
		}
		ex, ok := examples[name]
		if !ok {
			t.Errorf("%s: no example in PROTOCOL.md's input table", name)
		} else if err := gameloop.CheckInput(md, []byte(ex)); err != nil {
			t.Errorf("%s: PROTOCOL.md's example input %s: %v", name, ex, err)
		}
	}
	for _, md := range modes.All() {
		if !documented[md.Name()] {
			t.Logf("mode %s is not described in PROTOCOL.md yet", md.Name())
		}
	}
	if len(documented) == 0 {
		t.Error("no mode found in PROTOCOL.md's entity tables: has the format changed?")
	}
}

// section is the text under heading, up to the next heading of its level
// or a higher one.
func section(doc, heading string) string {
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	level := strings.IndexByte(heading, ' ') // its number of #
	rest := doc[i+len(heading)+2:]
	for off := 0; ; {
		j := strings.Index(rest[off:], "\n#")
		if j < 0 {
			return rest
		}
		j += off + 1
		n := 0
		for j+n < len(rest) && rest[j+n] == '#' {
			n++
		}
		if n <= level && j+n < len(rest) && rest[j+n] == ' ' {
			return rest[:j]
		}
		off = j
	}
}

var kindRowRe = regexp.MustCompile("(?m)^\\| `(\\w+)` \\| ([^|]*) \\|")
var fieldRe = regexp.MustCompile("`(\\w+)`")

// docKinds renders the kinds table of one mode's section as "k:f,f[+name] …".
func docKinds(s string) string {
	var out []string
	for _, m := range kindRowRe.FindAllStringSubmatch(s, -1) {
		var fields []string
		for _, f := range fieldRe.FindAllStringSubmatch(m[2], -1) {
			fields = append(fields, f[1])
		}
		k := m[1] + ":" + strings.Join(fields, ",")
		if strings.Contains(m[2], "+ name") {
			k += "+name"
		}
		out = append(out, k)
	}
	return strings.Join(out, " ")
}

func declKinds(md gameloop.Mode) string {
	var out []string
	for _, k := range md.Kinds() {
		s := k.Name + ":" + strings.Join(k.Fields, ",")
		if k.Label {
			s += "+name"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func find(name string) gameloop.Mode {
	for _, md := range modes.All() {
		if md.Name() == name {
			return md
		}
	}
	return nil
}
