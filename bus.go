package comet

// Sink receives the messages addressed to one session (one browser tab).
// Send never blocks: a session that cannot keep up is resynchronised or cut by
// its owner, never allowed to stall the publisher.
type Sink interface {
	Send(m *Message)
}

// Bus carries every topic (the lobby, each chat channel, each game room).
// Publishers publish once per topic; the bus hands the same *Message to every
// subscriber. The in-process bus lives in server/bus; a distributed one can
// replace it behind this interface.
type Bus interface {
	// Publish delivers m to every current subscriber of topic.
	Publish(topic string, m *Message)
	// Subscribe adds s to topic. Subscribing the same sink twice is a no-op;
	// Close on the returned subscription removes it.
	Subscribe(topic string, s Sink) Subscription
	// Subscribers reports how many sinks a topic has.
	Subscribers(topic string) int
}

// Subscription is one sink's membership of one topic.
type Subscription interface {
	Topic() string
	Close()
}

// Well-known topic names. Rooms use RoomTopic, chat channels ChatTopic.
const (
	TopicLobby = "lobby"
)

// RoomTopic is the bus topic of a game room.
func RoomTopic(roomID string) string { return "room:" + roomID }

// ChatTopic is the bus topic of a chat channel.
func ChatTopic(channel string) string { return "chat:" + channel }
