package push

import (
	"context"
	"time"
)

// The sweeper's work follows what needs doing, not how many streams are held:
// each stream sits in a timing wheel at the second its heartbeat falls due and
// is looked at then (about once per heartbeat interval, whether idle or busy);
// stalled streams are kept in their own set; with no poller, every stream is
// probed for a hung-up peer every peekEvery.

// wheel is a ring of buckets, one per sweep period, holding streams by the
// time they next need a look. Buckets are swapped out whole, so a sweep holds
// the pool's lock only to take one.
type wheel struct {
	period  int64 // nanoseconds per bucket
	buckets [][]*stream
}

func (w *wheel) init(period, span time.Duration) {
	w.period = period.Nanoseconds()
	w.buckets = make([][]*stream, int(span/period)+2)
}

// add files st under the bucket of time at (unix nanos), at most one turn ahead.
func (w *wheel) add(st *stream, at int64) {
	i := (at / w.period) % int64(len(w.buckets))
	w.buckets[i] = append(w.buckets[i], st)
}

// take empties and returns the bucket of time now.
func (w *wheel) take(now int64) []*stream {
	i := (now / w.period) % int64(len(w.buckets))
	b := w.buckets[i]
	w.buckets[i] = nil
	return b
}

// sweepPeriod is how often the sweeper runs: a quarter heartbeat, at most a second.
func sweepPeriod(hb time.Duration) time.Duration {
	return min(hb/4, time.Second)
}

// peekEvery is how often streams are probed for a hung-up peer without a poller.
const peekEvery = 5 * time.Second

// sweep marks streams due a heartbeat or recycling, releases what they
// delivered long ago, and cuts the ones that made no progress (or whose peer
// left, when there is no poller to say so).
func (p *writerPool) sweep(ctx context.Context) {
	t := time.NewTicker(time.Duration(p.wheel.period))
	defer t.Stop()
	var list, refile []*stream
	var at []int64
	var lastPeek time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case tick := <-t.C:
			now := tick.UnixNano()
			p.mu.Lock()
			due := p.wheel.take(now)
			list = list[:0]
			for st := range p.stalled {
				list = append(list, st)
			}
			p.mu.Unlock()

			for _, st := range list {
				switch d, closed := st.stalledFor(now); {
				case closed: // closed by another path after it stalled
					p.markStalled(st, false)
				case d > p.hub.cfg.WriteTimeout:
					st.close(errNoProgress)
				}
			}
			refile, at = p.visit(due, now, refile[:0], at[:0])

			if p.poll == nil && tick.Sub(lastPeek) >= peekEvery {
				lastPeek = tick
				list = p.snapshot(list[:0])
				for _, st := range list {
					if st.conn != nil && peerGone(st.conn) {
						st.close(errPeerGone)
					}
				}
			}
			clear(list)
		}
	}
}

// visit handles the streams whose time came: a heartbeat when they have been
// silent for one, a flush that recycles them when they are old, a release of
// events they delivered long ago; then files each open one under its next time.
func (p *writerPool) visit(due []*stream, now int64, refile []*stream, at []int64) ([]*stream, []int64) {
	hb, age := p.hub.cfg.Heartbeat.Nanoseconds(), p.hub.cfg.RecycleAge.Nanoseconds()
	for _, st := range due {
		st.mu.Lock()
		closed := st.closed
		st.mu.Unlock()
		if closed {
			continue
		}
		next := st.lastWrite.Load() + hb
		switch {
		case now-st.started >= age:
			p.schedule(st, markNone) // flush notices the age and recycles
			next = now + hb
		case next <= now:
			p.schedule(st, markHeartbeat)
			next = now + hb
		}
		st.noteRelease(now, p.hub.cfg.ReleaseAfter)
		refile = append(refile, st)
		at = append(at, max(next, now+p.wheel.period))
	}
	p.mu.Lock()
	for i, st := range refile {
		p.wheel.add(st, at[i])
	}
	p.mu.Unlock()
	clear(refile)
	return refile, at
}
