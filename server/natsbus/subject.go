package natsbus

import "strings"

// SubjectPrefix starts the NATS subject of every topic: a topic's subject is
// SubjectPrefix followed by the topic escaped into one NATS token.
const SubjectPrefix = "comet.topic."

// Subject returns the NATS subject that carries topic. Topic names contain
// ':' ("room:r_1", "chat:dm:a:b") and may contain anything else, while a
// NATS token may not contain '.', whitespace or a lone '*' or '>'; so every
// byte outside [A-Za-z0-9-] (the escape character '_' included) becomes '_'
// and two upper-case hex digits, and the empty topic becomes a lone "_".
// The mapping is one to one: "room:r_1" is "comet.topic.room_3Ar_5F1".
func Subject(topic string) string {
	if topic == "" {
		return SubjectPrefix + "_"
	}
	var b strings.Builder
	b.Grow(len(SubjectPrefix) + len(topic) + 8)
	b.WriteString(SubjectPrefix)
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// TopicOf is the inverse of Subject; ok is false for a subject Subject
// cannot return.
func TopicOf(subject string) (topic string, ok bool) {
	tok, ok := strings.CutPrefix(subject, SubjectPrefix)
	if !ok || tok == "" {
		return "", false
	}
	if tok == "_" {
		return "", true
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if plain(c) {
			b = append(b, c)
			continue
		}
		if c != '_' || i+2 >= len(tok) {
			return "", false
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		v := byte(hi<<4 | lo)
		if plain(v) { // Subject never escapes a plain byte
			return "", false
		}
		b = append(b, v)
		i += 2
	}
	return string(b), true
}

const hexDigits = "0123456789ABCDEF"

func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
