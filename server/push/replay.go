package push

import "comet"

// event is one numbered entry of a session's outbound stream. The message is
// shared with every other session it was published to.
type event struct {
	seq uint64
	msg *comet.Message
}

// replay is a session's bounded buffer of recent events, so a transport that
// reconnects with ?last=N resumes exactly where it stopped. It keeps at most
// maxEvents entries and maxBytes of messages, dropping the oldest first; an
// idle session holds no backing array at all.
type replay struct {
	buf []event // ring storage, grows by doubling up to maxEvents
	// int32s: every session embeds one, and 16 bytes less takes a Session
	// into a smaller size class. The limits are far below 2^31.
	head      int32 // index of the oldest entry
	n         int32
	bytes     int32
	maxEvents int32
	maxBytes  int32
}

func (r *replay) push(e event) {
	if int(r.n) == len(r.buf) {
		if len(r.buf) < int(r.maxEvents) {
			r.grow()
		} else {
			r.dropOldest()
		}
	}
	r.buf[(int(r.head)+int(r.n))%len(r.buf)] = e
	r.n++
	r.bytes += int32(e.msg.Size())
	for r.bytes > r.maxBytes && r.n > 1 {
		r.dropOldest()
	}
}

func (r *replay) grow() {
	size := min(max(len(r.buf)*2, 4), int(r.maxEvents))
	r.resize(size)
}

// resize moves the entries to a new backing array of size slots.
func (r *replay) resize(size int) {
	nb := make([]event, size)
	for i := 0; i < int(r.n); i++ {
		nb[i] = r.buf[(int(r.head)+i)%len(r.buf)]
	}
	r.buf, r.head = nb, 0
}

func (r *replay) dropOldest() {
	e := &r.buf[r.head]
	r.bytes -= int32(e.msg.Size())
	*e = event{}
	r.head = int32((int(r.head) + 1) % len(r.buf))
	r.n--
}

// oldest returns the seq of the oldest buffered event, or 0 when empty.
func (r *replay) oldest() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.buf[r.head].seq
}

// newestReset returns the seq of the newest buffered sys.reset, or 0. The
// events after it are all buffered too (the oldest go first), so a client
// sent from it gets that reset and the whole fresh state that follows it.
func (r *replay) newestReset() uint64 {
	for i := int(r.n) - 1; i >= 0; i-- {
		if e := r.buf[(int(r.head)+i)%len(r.buf)]; e.msg == msgReset {
			return e.seq
		}
	}
	return 0
}

// after appends to dst the buffered events with seq > last, stopping once
// maxBytes of messages are collected (at least one event is always taken).
func (r *replay) after(dst []event, last uint64, maxBytes int) []event {
	if r.n == 0 {
		return dst
	}
	first := r.buf[r.head].seq
	start := 0
	if last >= first {
		start = int(last - first + 1)
	}
	size := 0
	for i := start; i < int(r.n); i++ {
		e := r.buf[(int(r.head)+i)%len(r.buf)]
		size += e.msg.Size()
		if size > maxBytes && len(dst) > 0 {
			break
		}
		dst = append(dst, e)
	}
	return dst
}

// release drops the buffered events with seq <= upTo (the client has them
// for sure, or they were written long enough ago), then shrinks the backing
// array when it is mostly empty, so a session's memory follows its backlog,
// not its history.
func (r *replay) release(upTo uint64) {
	for r.n > 0 && r.buf[r.head].seq <= upTo {
		r.dropOldest()
	}
	r.shrink()
}

// trimWritten drops the oldest events with seq <= written while more than
// keep events are buffered: a client resuming from further back gets
// sys.reset and fresh state, which for frequent updates is cheaper than a minute of them.
func (r *replay) trimWritten(written uint64, keep int) {
	for int(r.n) > keep && r.buf[r.head].seq <= written {
		r.dropOldest()
	}
}

// shrink reallocates the ring at half its size while it is at most a quarter
// full, and frees it entirely when empty.
func (r *replay) shrink() {
	if r.n == 0 {
		r.buf, r.head = nil, 0
		return
	}
	if len(r.buf) <= 8 || int(r.n) > len(r.buf)/4 {
		return
	}
	r.resize(len(r.buf) / 2)
}
