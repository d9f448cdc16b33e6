package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lobby directories: what every node's lobby shows of the whole cluster —
// who is online ("presence") and which rooms are open ("rooms"). Each is a
// JetStream KV bucket (comet_<kind>, in memory, one value per key) whose
// keys are "<node>.<key>": a node writes only its own records, and every
// node watches the bucket and merges the records of the live nodes.
//
// Why a KV bucket with a watch rather than each node publishing its part on
// a subject: the watch hands a node that starts (or comes back from a
// fence) every record as it is now, then each change in order, and deletes
// are seen — with plain subjects every node would have to publish its whole
// part periodically so newcomers and anyone who missed a message (core NATS
// is at most once) catch up, and a change would wait for the next period.
// One record per player or room costs one KV write per change (coalesced:
// at most one per record per flush interval), not one per population.
//
// A dead node's records disappear from every lobby as soon as its lease
// expires (the directory checks Alive for every owner it holds records of),
// and its KV records are deleted by the sweeping node (the first live one,
// cluster.go) once it has been gone for dirSweepGrace, each delete a
// compare-and-set on the record's revision. A node's own records are kept
// right by a syncer: what it wants (Put) is written, and what the watch
// shows of its own that it does not want — a previous process's leftovers,
// a record swept while it was fenced, a bucket lost with a NATS restart —
// is rewritten or deleted, so the bucket heals by itself.

// dirSweepGrace is how long a dead node's records are kept in the bucket
// (though no longer listed): a session re-homed from it meanwhile learns
// from them which room it was in (LostRecord).
const dirSweepGrace = 30 * time.Second

// dirChange is one change of another node's record: Val is nil when the
// record was deleted; Died says its node died (Val is then its last value).
type dirChange struct {
	Node, Key string
	Val       []byte
	Died      bool
}

// dirRecord is a record of the bucket as this node last saw it.
type dirRecord struct {
	val []byte
	rev uint64
}

// directory is one lobby directory of this node.
type directory struct {
	n        *Node
	kind     string
	every    time.Duration // the syncer writes at most this often
	onChange func(node, key string, val []byte, died bool)

	mu      sync.Mutex
	kv      jetstream.KeyValue
	records map[string]map[string]dirRecord // node -> key -> record (every node's, this one's included)
	dead    map[string]time.Time            // owners of records seen dead, since when
	want    map[string][]byte               // this node's records as they should be
	dirty   map[string]bool                 // own keys to write or delete
	broken  bool                            // the watch ended: reopen the bucket
	wake    chan struct{}
}

// Directory starts this node's part of the lobby directory kind
// ("presence", "rooms"): onChange is called, on the directory's own
// goroutine and never with a lock held, for each change of another live
// node's records (val nil: deleted), and for each record of a node that
// dies (died, with its last val) or comes back.
// every bounds how often this node's changes are written.
func (n *Node) Directory(kind string, every time.Duration, onChange func(node, key string, val []byte, died bool)) error {
	if !ValidNodeName(kind) {
		return fmt.Errorf("cluster: directory kind %q", kind)
	}
	d := &directory{n: n, kind: kind, every: max(every, 10*time.Millisecond), onChange: onChange,
		records: map[string]map[string]dirRecord{}, dead: map[string]time.Time{},
		want: map[string][]byte{}, dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
	kv, w, err := d.open(n.ctx)
	if err != nil {
		return err
	}
	n.dirs.Lock()
	if n.dirs.m == nil {
		n.dirs.m = map[string]*directory{}
	}
	if n.dirs.m[kind] != nil {
		n.dirs.Unlock()
		_ = w.Stop()
		return fmt.Errorf("cluster: directory %s started twice", kind)
	}
	n.dirs.m[kind] = d
	n.dirs.Unlock()
	d.kv = kv
	n.done.Add(1)
	go func() { defer n.done.Done(); d.run(w) }()
	return nil
}

// dirs are the node's lobby directories, by kind.
type dirs struct {
	sync.Mutex
	m map[string]*directory
}

func (n *Node) dir_(kind string) *directory {
	n.dirs.Lock()
	defer n.dirs.Unlock()
	return n.dirs.m[kind]
}

// Put sets (val nil: deletes) this node's record key in directory kind. It
// never waits for NATS: the syncer writes it within the directory's
// interval. Keys are KV key tokens ([-_=A-Za-z0-9], no dots).
func (n *Node) Put(kind, key string, val []byte) {
	d := n.dir_(kind)
	if d == nil {
		return
	}
	d.mu.Lock()
	if val == nil {
		delete(d.want, key)
	} else {
		d.want[key] = val
	}
	d.dirty[key] = true
	d.mu.Unlock()
	d.poke()
}

// Record returns another node's record key of directory kind and whether
// its node is alive.
func (n *Node) Record(kind, node, key string) (val []byte, alive bool) {
	d := n.dir_(kind)
	if d == nil {
		return nil, false
	}
	d.mu.Lock()
	r, ok := d.records[node][key]
	d.mu.Unlock()
	if !ok {
		return nil, false
	}
	return r.val, n.Alive(node)
}

// LostRecord returns the record key of a dead node in directory kind (kept
// until the sweep), and that node; "" when no dead node has one.
func (n *Node) LostRecord(kind, key string) (val []byte, node string) {
	d := n.dir_(kind)
	if d == nil {
		return nil, ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for node, recs := range d.records {
		if r, ok := recs[key]; ok && node != n.cfg.Node && !n.Alive(node) {
			return r.val, node
		}
	}
	return nil, ""
}

func (d *directory) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *directory) bucket() string { return "comet_" + d.kind }

// open (re)creates the bucket and starts a watch of every record.
func (d *directory) open(ctx context.Context) (jetstream.KeyValue, jetstream.KeyWatcher, error) {
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := d.n.bucket(octx, jetstream.KeyValueConfig{Bucket: d.bucket(), Storage: jetstream.MemoryStorage, History: 1})
	if err != nil {
		return nil, nil, err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: watch %s: %w", d.bucket(), err)
	}
	return kv, w, nil
}

// run applies the watch's updates, writes this node's changes, follows
// owners dying and coming back, sweeps, and reopens the bucket when the
// watch ends (NATS restarted) or a fence ends.
func (d *directory) run(w jetstream.KeyWatcher) {
	ctx := d.n.ctx
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastWrite time.Time
	fenced := false
	initial := true
	fresh := map[string]map[string]dirRecord{} // the initial values of a (re)opened watch
	updates := w.Updates()
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-updates:
			if !ok {
				d.mu.Lock()
				d.broken = true
				d.mu.Unlock()
				updates = nil
				continue
			}
			if e == nil { // the initial values are in: replace what was known
				d.replace(fresh)
				fresh, initial = nil, false
				continue
			}
			if initial {
				if e.Operation() == jetstream.KeyValuePut {
					node, key, ok := splitKey(e.Key())
					if ok {
						if fresh[node] == nil {
							fresh[node] = map[string]dirRecord{}
						}
						fresh[node][key] = dirRecord{val: e.Value(), rev: e.Revision()}
					}
				}
				continue
			}
			d.apply(e)
		case <-d.wake:
		case <-tick.C:
			d.follow()
			if f := d.n.Fenced(); f != fenced {
				fenced = f
				if !f {
					d.mu.Lock()
					d.broken = true // back from a fence: the bucket may be new
					d.mu.Unlock()
				}
			}
		}
		d.mu.Lock()
		broken := d.broken
		d.mu.Unlock()
		if broken && !fenced {
			nkv, nw, err := d.open(ctx)
			if err != nil {
				d.n.log.Warn("lobby directory not reopened; retrying", "kind", d.kind, "err", err)
				continue
			}
			_ = w.Stop()
			w, updates = nw, nw.Updates()
			d.mu.Lock()
			d.kv, d.broken = nkv, false
			d.mu.Unlock()
			initial, fresh = true, map[string]map[string]dirRecord{}
			continue
		}
		if !initial && !fenced && time.Since(lastWrite) >= d.every {
			if d.flush(ctx) {
				lastWrite = time.Now()
			}
		}
	}
}

// splitKey splits a bucket key into its node and the record's key.
func splitKey(k string) (node, key string, ok bool) {
	return strings.Cut(k, ".")
}

// replace takes a watch's initial values as the whole bucket: other nodes'
// records that changed are announced, and this node's own records that do
// not match what it wants are marked to be written.
func (d *directory) replace(fresh map[string]map[string]dirRecord) {
	var out []dirChange
	d.mu.Lock()
	self := d.n.cfg.Node
	for node, recs := range d.records {
		if node == self {
			continue
		}
		for key := range recs {
			if _, ok := fresh[node][key]; !ok && d.n.Alive(node) {
				out = append(out, dirChange{Node: node, Key: key})
			}
		}
	}
	for node, recs := range fresh {
		if node == self {
			continue
		}
		for key, r := range recs {
			if old, ok := d.records[node][key]; (!ok || !bytes.Equal(old.val, r.val)) && d.n.Alive(node) {
				out = append(out, dirChange{Node: node, Key: key, Val: r.val})
			}
		}
	}
	d.records = fresh
	for key := range fresh[self] {
		d.dirty[key] = true
	}
	for key := range d.want {
		d.dirty[key] = true
	}
	d.mu.Unlock()
	d.announce(out)
	d.poke()
}

// apply takes one update of the watch.
func (d *directory) apply(e jetstream.KeyValueEntry) {
	node, key, ok := splitKey(e.Key())
	if !ok {
		return
	}
	put := e.Operation() == jetstream.KeyValuePut
	var out []dirChange
	d.mu.Lock()
	if put {
		if d.records[node] == nil {
			d.records[node] = map[string]dirRecord{}
		}
		d.records[node][key] = dirRecord{val: e.Value(), rev: e.Revision()}
	} else if recs := d.records[node]; recs != nil {
		delete(recs, key)
		if len(recs) == 0 {
			delete(d.records, node)
		}
	}
	switch {
	case node == d.n.cfg.Node:
		// Our own record as the bucket has it: if it is not what we want
		// (swept while fenced, an earlier process's), write it again.
		if w, ok := d.want[key]; ok != put || (put && !bytes.Equal(w, e.Value())) {
			d.dirty[key] = true
		}
	case d.n.Alive(node):
		c := dirChange{Node: node, Key: key}
		if put {
			c.Val = e.Value()
		}
		out = append(out, c)
	}
	d.mu.Unlock()
	d.announce(out)
	if node == d.n.cfg.Node {
		d.poke()
	}
}

// follow announces the records of owners that died (Died) or came back,
// and sweeps the records of owners dead longer than dirSweepGrace.
func (d *directory) follow() {
	var out []dirChange
	var sweep []string
	now := time.Now()
	d.mu.Lock()
	for node, recs := range d.records {
		if node == d.n.cfg.Node {
			continue
		}
		alive := d.n.Alive(node)
		since, wasDead := d.dead[node]
		switch {
		case !alive && !wasDead:
			d.dead[node] = now
			for key, r := range recs {
				out = append(out, dirChange{Node: node, Key: key, Val: r.val, Died: true})
			}
		case alive && wasDead:
			delete(d.dead, node)
			for key, r := range recs {
				out = append(out, dirChange{Node: node, Key: key, Val: r.val})
			}
		case !alive && now.Sub(since) >= dirSweepGrace:
			sweep = append(sweep, node)
		}
	}
	for node := range d.dead {
		if _, ok := d.records[node]; !ok {
			delete(d.dead, node)
		}
	}
	d.mu.Unlock()
	d.announce(out)
	if len(sweep) > 0 && !d.n.Fenced() && d.n.sweeper() {
		d.sweep(sweep)
	}
}

// sweep deletes the records of dead nodes, each a compare-and-set on the
// revision seen (a node that came back and wrote again keeps its record).
func (d *directory) sweep(nodes []string) {
	type rec struct {
		key string
		rev uint64
	}
	var dels []rec
	d.mu.Lock()
	kv := d.kv
	for _, node := range nodes {
		for key, r := range d.records[node] {
			dels = append(dels, rec{node + "." + key, r.rev})
		}
	}
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(d.n.ctx, 10*time.Second)
	defer cancel()
	for _, r := range dels {
		if err := kv.Delete(ctx, r.key, jetstream.LastRevision(r.rev)); err != nil && !gone(err) {
			d.n.log.Warn("lobby directory sweep", "kind", d.kind, "key", r.key, "err", err)
			return
		}
	}
}

// announce hands changes to the application, with no lock held.
func (d *directory) announce(out []dirChange) {
	for _, c := range out {
		d.onChange(c.Node, c.Key, c.Val, c.Died)
	}
}

// flush writes this node's dirty records; false when there was nothing to
// write. A failed write stays dirty for the next round.
func (d *directory) flush(ctx context.Context) bool {
	d.mu.Lock()
	if len(d.dirty) == 0 {
		d.mu.Unlock()
		return false
	}
	type op struct {
		key string
		val []byte
	}
	ops := make([]op, 0, len(d.dirty))
	for key := range d.dirty {
		ops = append(ops, op{key, d.want[key]})
	}
	clear(d.dirty)
	kv := d.kv
	d.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	self := d.n.cfg.Node
	var failed []string
	for _, o := range ops {
		var err error
		if o.val != nil {
			_, err = kv.Put(wctx, self+"."+o.key, o.val)
		} else {
			err = kv.Delete(wctx, self+"."+o.key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				err = nil
			}
		}
		if err != nil {
			failed = append(failed, o.key)
			if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
				d.mu.Lock()
				d.broken = true
				d.mu.Unlock()
			}
			d.n.log.Debug("lobby directory write", "kind", d.kind, "key", o.key, "err", err)
		}
	}
	if len(failed) > 0 {
		d.mu.Lock()
		for _, k := range failed {
			d.dirty[k] = true
		}
		d.mu.Unlock()
	}
	return true
}

// Lookup finds record key of directory kind on a live node other than this
// one by reading the bucket itself (not the watch, which may lag a record
// just written): its node and value, or "" when none has it.
func (n *Node) Lookup(ctx context.Context, kind, key string) (node string, val []byte, err error) {
	d := n.dir_(kind)
	if d == nil {
		return "", nil, nil
	}
	d.mu.Lock()
	kv := d.kv
	d.mu.Unlock()
	for _, node := range n.Nodes() {
		if node == n.cfg.Node {
			continue
		}
		e, err := kv.Get(ctx, node+"."+key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("cluster: look up %s %s: %w", kind, key, err)
		}
		return node, e.Value(), nil
	}
	return "", nil, nil
}

// Written waits until this node's record key of directory kind is in the
// bucket (the watch brought it back), so that other nodes' watches have it
// or are about to; the context's error otherwise.
func (n *Node) Written(ctx context.Context, kind, key string) error {
	d := n.dir_(kind)
	if d == nil {
		return fmt.Errorf("cluster: no directory %s", kind)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		d.mu.Lock()
		_, ok := d.records[n.cfg.Node][key]
		d.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s record %s not written: %w", kind, key, ctx.Err())
		case <-t.C:
		}
	}
}
