package natsbus

import (
	"strings"
	"testing"
)

func TestSubject(t *testing.T) {
	for topic, want := range map[string]string{
		"lobby":           "comet.topic.lobby",
		"room:r_1":        "comet.topic.room_3Ar_5F1",
		"chat:dm:p-1:p-2": "comet.topic.chat_3Adm_3Ap-1_3Ap-2",
		"a.b c*>":         "comet.topic.a_2Eb_20c_2A_3E",
		"":                "comet.topic._",
		"ü":               "comet.topic._C3_BC",
	} {
		if got := Subject(topic); got != want {
			t.Errorf("Subject(%q) = %q, want %q", topic, got, want)
		}
		if back, ok := TopicOf(want); !ok || back != topic {
			t.Errorf("TopicOf(%q) = %q, %v; want %q", want, back, ok, topic)
		}
	}
	for _, bad := range []string{"comet.topic.", "comet.topic.a_", "comet.topic.a_3", "comet.topic._61", "comet.topic.a_zz", "other.a", "comet.topic.a.b"} {
		if topic, ok := TopicOf(bad); ok {
			t.Errorf("TopicOf(%q) = %q, true; want refused", bad, topic)
		}
	}
}

// FuzzSubject: every topic maps to one valid NATS token (no '.', no space or
// control byte, never a lone wildcard) and back.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"", "lobby", "room:r_1", "a.b", "*", ">", "_", "_3A", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		subj := Subject(topic)
		tok := strings.TrimPrefix(subj, SubjectPrefix)
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, ". \t\r\n*>") {
			t.Fatalf("Subject(%q) = %q: not one plain NATS token", topic, subj)
		}
		for i := 0; i < len(tok); i++ {
			if tok[i] < 0x21 || tok[i] > 0x7e {
				t.Fatalf("Subject(%q) = %q: byte %#x", topic, subj, tok[i])
			}
		}
		if back, ok := TopicOf(subj); !ok || back != topic {
			t.Fatalf("TopicOf(Subject(%q)) = %q, %v", topic, back, ok)
		}
		if back, ok := TopicOf(SubjectPrefix + topic); ok && Subject(back) != SubjectPrefix+topic {
			t.Fatalf("TopicOf accepted %q, which Subject never returns", SubjectPrefix+topic)
		}
	})
}
