package conform

// allChecks lists every check in the order it is printed; each cites the
// PROTOCOL.md statement it proves.
func allChecks() []check {
	cs := []check{
		{name: "session.create", cite: "Sessions: 201 with v 1, sid, player, token (128 bits base64url), heartbeat_ms, transports, limits; Set-Cookie comet_token Path=/ HttpOnly SameSite=Lax Max-Age 400 days", run: checkSessionCreate},
		{name: "session.version", cite: "Sessions: v 2 is 400 {error, code unsupported_version, versions}; no body is v 1; the Bearer scheme in any case", run: checkVersion},
		{name: "session.token", cite: "Players: a valid token or cookie keeps the player, a presented cookie gets no new cookie, an unknown cookie a new guest", run: checkSessionToken},
		{name: "session.name", cite: "Players: POST /comet/session with {\"name\"} renames first; a refused name is 400 or 409 with {\"error\"}", run: checkSessionName},
		{name: "session.expiry", cite: "Session states: a session nobody attaches to expires after grace_ms; every /comet/{sid}/… is then 404", run: checkExpiry},
		{name: "session.auth", cite: "Sessions: 401 without a valid token, 403 with another player's, 404 {\"error\":\"session not found\"} for an unknown sid, another 404 for an unknown transport", run: checkSessionAuth},
	}
	for _, tr := range heldTransports {
		cs = append(cs,
			check{name: "transport." + tr + ".framing", cite: "Downstream transports: " + tr + "'s headers (or handshake), prelude and framing byte by byte, an empty batch at once, seq 1 lobby.rooms, seq 2 lobby.presence, HTML-safe one-line batches", run: checkFraming(tr)},
			check{name: "transport." + tr + ".heartbeat", cite: "Liveness: a held stream that sent nothing for heartbeat_ms sends a heartbeat; no silence beyond heartbeat_ms × 1.5 (+1 s for scheduling)", quiet: true, run: checkHeartbeat(tr)},
			check{name: "transport." + tr + ".end", cite: "At most one downstream per session: opening a new one ends the older one cleanly (end marker, chunked terminator)", run: checkEnd(tr)},
		)
	}
	cs = append(cs,
		check{name: "transport.poll.framing", cite: "Long-poll and poll: 200 application/json, one batch; the first events of a new session", run: checkFraming("poll")},
		check{name: "transport.longpoll", cite: "Long-poll: wait=S holds until an event with seq > N, S seconds (then []), or a newer downstream replaces it; acknowledged events are never sent again", run: checkPoll},
		check{name: "transport.ws.handshake", cite: "WebSocket: 426 without Upgrade (Sec-WebSocket-Version: 13), 405 for POST (Allow: GET), 400 without a key; upstream messages as POST bodies, a non-array answered sys.error invalid ref 0", run: checkWSHandshake},
		check{name: "transport.sse.last-event-id", cite: "SSE: Last-Event-ID is accepted as last and wins over the query parameter", run: checkLastEventID},
	)
	for _, tr := range append([]string{"ws"}, allTransports...) {
		cs = append(cs, check{name: "resume." + tr + ".cuts", cite: "Events: no gaps, no duplicates across every reconnect — cuts at random byte offsets, resumed with last", run: checkResumeCuts(tr)})
	}
	for _, tr := range streamingTransports {
		cs = append(cs, check{name: "resume." + tr + ".recycle", cite: "Streaming responses are recycled after 256 KiB cleanly at a batch boundary; resuming with last loses and repeats nothing", run: checkRecycle(tr)})
	}
	cs = append(cs,
		check{name: "reset.sse", cite: "Downstream transports: when event N+1 left the replay buffer (1,024 events), sys.reset with its own seq, then lobby.rooms (full), lobby.presence, chat.history", run: checkReset("sse")},
		check{name: "reset.poll", cite: "the same on poll", run: checkReset("poll")},
		check{name: "upstream.dedup", cite: "Upstream: de-duplication is exact per seq within send_window (a resent request is ignored, a lower seq never taken runs, one more than send_window below is refused with the documented sys.error); a new session starts again at 1", run: checkDedup},
		check{name: "upstream.limits", cite: "Upstream: at most 64 events and 16 KiB (400 / 413), a body not a JSON array of events is 400, cross-origin 403; errors are JSON {\"error\"}", run: checkUpstreamLimits},
		check{name: "upstream.errors", cite: "Upstream: refused events answer sys.error {code, message, ref}; later events in the same request still run; unknown and mistyped members as documented", run: checkUpstreamErrors},
		check{name: "errors.session", cite: "Error catalogue, POST /comet/session: status, code and exact text of each row", run: checkCatalogueSession},
		check{name: "errors.stream", cite: "Error catalogue, GET /comet/{sid}/{transport}: status, code and exact text of each row (/longpoll is 404)", run: checkCatalogueStream},
		check{name: "errors.send", cite: "Error catalogue, POST /comet/{sid}/send: status, code and exact text of each row; a refused request runs none of its events", run: checkCatalogueSend},
		check{name: "errors.paths", cite: "Error catalogue, any path: 405 method_not_allowed \"Method Not Allowed\", 404 not_found \"not found\"", run: checkCataloguePaths},
		check{name: "errors.sys", cite: "Error catalogue, sys.error: code and exact message of each row", run: checkCatalogueSysError},
		check{name: "lobby.rooms", cite: "The lobby: a new public room reaches others as a lobby.rooms change (sorted, rooms/closed/total present) and GET /api/rooms; a private room is listed to its creator alone, without its code, and joined by code only", run: checkLobbyRooms},
		check{name: "lobby.presence", cite: "The lobby: lobby.presence {count, players} shows a newcomer", run: checkLobbyPresence},
		check{name: "chat.say", cite: "Chat: the line reaches everyone on the channel, the sender included, HTML-safe on the wire, trimmed; /me; chat.history", run: checkChat},
		check{name: "chat.dm", cite: "Chat: {\"to\"} goes to both players on dm:<a>:<b>, ids sorted", run: checkChatDM},
		check{name: "chat.errors", cite: "Chat: the chat.say, chat.history and muting error tables", run: checkChatErrors},
		check{name: "chat.rate", cite: "Chat: 5 lines at once, then rate_limited \"slow down: at most 5 lines per 5 seconds\"", run: checkChatRate},
		check{name: "chat.mute", cite: "Muting: chat.muted lists the muted ids; the muted player's lines stop reaching the muter", run: checkChatMute},
		check{name: "player.rename", cite: "player.rename: player.renamed {id, name}; the name rules' codes and messages; player.claim's password length", run: checkRename},
		check{name: "login.errors", cite: "Logging in: 400 body must be {\"name\", \"password\"} for a body not an object or mistyped members, 401 wrong name or password, also for a missing member", run: checkLoginErrors},
		check{name: "records", cite: "Records: /api/modes, /api/leaderboard and /api/players/{id}/matches and their error tables", run: checkRecords},
		check{name: "game.snapshot-diffs", cite: "Game: room.create with a name of every allowed punctuation mark (trimmed); room.joined, room.state, room.snapshot; a snapshot plus every diff applied as applyDiff equals the snapshot another player gets of that tick after room.resync", run: checkGame},
		check{name: "game.errors", cite: "Game: the room requests' error table; Room names: the two texts for a name over 40 characters and a character outside the set", run: checkGameErrors},
	)
	return cs
}

// adminChecks need the server's admin token (Config.AdminToken).
func adminChecks() []check {
	return []check{
		{name: "session.kicked", cite: "Session states and Moderation: a kick sends sys.error forbidden \"you were removed by a moderator\" ref 0, the stream ends with {\"end\":\"ended\"}, the sid is 404; a banned player's POST /comet/session is 403", run: checkKick},
	}
}
