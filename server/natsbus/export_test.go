package natsbus

import "comet"

// EncodeForTest is a message's payload as a Bus publishes it.
func EncodeForTest(m *comet.Message) []byte { return appendMessage(nil, 1, m) }
