package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"comet/internal/pgtest"
)

// The cluster scenario end to end on real processes: nats-server built
// from the module, PostgreSQL, two comet nodes per cluster, the single
// node and the raw writers beside them. Every stream is held, every
// broadcast line arrives exactly once on the direct and the relayed
// variant, the relayed variant's lines cross NATS, and the room's relayed
// players see their inputs applied.
func TestClusterScenarioTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds comet and nats-server, starts PostgreSQL and four clusters of processes")
	}
	if os.Getenv(pgtest.SkipEnv) == "1" {
		t.Skip(pgtest.SkipEnv + "=1: PostgreSQL tests skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var errs lockedBuffer // the agents' stderr is copied in by exec's goroutines
	err := runClusterCmd(ctx, []string{"--nodes", "2", "--streams", "40", "--rate", "200", "--hold", "1s", "--settle", "500ms",
		"--messages", "2", "--spacing", "300ms", "--relay-share", "0.5", "--game-players", "6", "--input-hz", "5",
		"--game-duration", "3s", "--per-agent", "100", "--work", t.TempDir()}, &out, &errs)
	rep := out.String()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, rep, errs.String())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\| single node: 20 streams \| streams held / open failures / lost \| 20 / 0 / 0 \|`),
		regexp.MustCompile(`(?m)^\| single node: 20 streams \| broadcast of 2 lines: got / expected, [^|]* \| 40 / 40, 0 / 0 / 0 / 0, [^|]* \| exactly once \| met \|`),
		regexp.MustCompile(`(?m)^\| floor: 2 raw writers, 40 sockets \| broadcast deliveries \(got / expected\)[^|]* \| 80 / 80, `),
		regexp.MustCompile(`(?m)^\| cluster direct: 40 streams over 2 nodes \| streams held / open failures / lost \| 40 / 0 / 0 [^|]*\| ≥ 40, 0, 0 \| met \|`),
		regexp.MustCompile(`(?m)^\| cluster direct: 40 streams over 2 nodes \| direct1: streams held, [^|]* \| 20, `),
		regexp.MustCompile(`(?m)^\| cluster direct: 40 streams over 2 nodes \| direct2: streams held, [^|]* \| 20, `),
		regexp.MustCompile(`(?m)^\| cluster direct: [^|]* \| broadcast of 2 lines: [^|]* \| 80 / 80, 0 / 0 / 0 / 0, [^|]* \| exactly once \| met \|`),
		regexp.MustCompile(`(?m)^\| cluster relayed: 40 streams over 2 nodes \(20 relayed\) \| streams held / open failures / lost \| 40 / 0 / 0 `),
		regexp.MustCompile(`(?m)^\| cluster relayed: [^|]* \| broadcast of 2 lines: [^|]* \| 80 / 80, 0 / 0 / 0 / 0, [^|]* \| exactly once \| met \|`),
		regexp.MustCompile(`(?m)^\| cluster relayed: [^|]* \| NATS added per relayed stream per broadcast line: [^|]* \| `),
		regexp.MustCompile(`(?m)^\| cluster game: [^|]* \| bots joined / running / join failures \| 6 / 6 / 0 \| all running \| met \|`),
		regexp.MustCompile(`(?m)^\| cluster game: [^|]* \| input errors \(same node / relayed\) \| 0 / 0 \|`),
	} {
		if !want.MatchString(rep) {
			t.Errorf("report lacks %s:\n%s", want, rep)
		}
	}
	// The relayed players saw inputs applied through the relay, and the
	// relayed broadcast carried the lines to the edge over NATS.
	relayed := lineOf(rep, "on node 2 (relayed): input → observed diff")
	if relayed == "" || strings.Contains(relayed, "(0 seen of") {
		t.Errorf("no relayed input seen applied: %q", relayed)
	}
	direct := lineOf(rep, "cluster direct: 40 streams over 2 nodes | NATS during the broadcast")
	relay := lineOf(rep, "cluster relayed: 40 streams over 2 nodes (20 relayed) | NATS during the broadcast")
	if direct == "" || relay == "" {
		t.Fatalf("NATS rows missing:\n%s", rep)
	}
}

// lockedBuffer is a buffer several goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lineOf is the first line of s containing sub ("" if none).
func lineOf(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// What a relayed variant adds is read against the direct one: memory per
// relayed stream from the all-node totals, NATS per relayed stream per line.
func TestRelayCostRows(t *testing.T) {
	d := clusterLobby{Held: 100, HoldPer: 1000, Idle: 10 * time.Second, NATSIdle: varz{InMsgs: 20},
		BC: broadcastResult{Messages: 2}, NATSBC: varz{InMsgs: 10, InBytes: 1000}}
	l := clusterLobby{Held: 100, Relayed: 25, HoldPer: 1500, Idle: 10 * time.Second, NATSIdle: varz{InMsgs: 30},
		BC: broadcastResult{Messages: 2}, NATSBC: varz{InMsgs: 60, InBytes: 26600}}
	rows := relayCostRows("sc", d, l)
	got := map[string]string{}
	for _, r := range rows {
		got[r.Metric] = r.Value
	}
	for metric, want := range map[string]string{
		"RSS added per relayed stream (all nodes, after the hold, vs direct)":             kib(2000), // (150,000-100,000)/25
		"NATS added per relayed stream per broadcast line: msgs in, bytes in (vs direct)": "1.0000, 512 B",
		"NATS added by the relayed streams while idle: msgs in per second (vs direct)":    "1.0",
	} {
		if got[metric] != want {
			t.Errorf("%s = %q, want %q", metric, got[metric], want)
		}
	}
	if v := (varz{5, 6, 7, 8}).sub(varz{1, 2, 3, 4}); v != (varz{4, 4, 4, 4}) {
		t.Errorf("varz.sub: %+v", v)
	}
}
