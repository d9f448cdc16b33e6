-- 0006_chat_idem_key: a chat line's idempotency key (comet.ChatMessage.Key:
-- session id and client seq of the chat.say), so a say retried after its
-- answer was lost (its session re-homed on another node, which no longer
-- knows the seq) is stored once. NULL for lines without one (older rows);
-- a unique index allows any number of NULLs.
ALTER TABLE chat_messages ADD COLUMN idem_key text COLLATE "C";

CREATE UNIQUE INDEX chat_messages_idem_key ON chat_messages (idem_key);
