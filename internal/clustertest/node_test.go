package clustertest

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestNodeTermAndKill: a built comet node answers /healthz 200; SIGTERM
// drains it to exit 0; SIGKILL ends another at once; neither listens after.
func TestNodeTermAndKill(t *testing.T) {
	bin := Comet(t)
	db := filepath.Join(t.TempDir(), "node.db")
	a := StartNode(t, bin, "", "--db", db)
	code, body, err := a.Health()
	if err != nil || code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/healthz = %d %q, %v", code, body, err)
	}
	if err := a.Term(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.Log(), "hand-over saved") {
		t.Fatalf("SIGTERM did not drain:\n%s", a.Log())
	}
	b := StartNode(t, bin, "", "--db", db)
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, b} {
		if c, err := net.Dial("tcp", n.Addr); err == nil {
			c.Close()
			t.Fatalf("%s still listening after it exited", n.Addr)
		}
	}
}

// TestMissingFlags names a flag comet serve lacks and not one it has.
func TestMissingFlags(t *testing.T) {
	got := MissingFlags(t, Comet(t), "--addr", "--handover", "--no-such-flag")
	if len(got) != 1 || got[0] != "--no-such-flag" {
		t.Fatalf("MissingFlags = %v, want [--no-such-flag]", got)
	}
}

// TestPostgres: the DSN reaches a fresh, empty database on a real server.
func TestPostgres(t *testing.T) {
	dsn := Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tables in a fresh database = %d, %v", n, err)
	}
}

// TestCluster: with the cluster flags, three nodes on one NATS and one
// PostgreSQL come up behind nginx, and sessions made through it work on
// every node. Skipped while comet serve has no cluster mode.
func TestCluster(t *testing.T) {
	if missing := MissingFlags(t, Comet(t), ClusterFlags...); len(missing) > 0 {
		t.Skipf("cluster core lacks %v (issue 18)", missing)
	}
	c := Start(t, Options{Nodes: 3})
	for _, n := range c.Nodes {
		if code, body, err := n.Health(); err != nil || code != 200 {
			t.Fatalf("%s /healthz = %d %q, %v", n.Name, code, body, err)
		}
	}
	for range 6 {
		resp, err := c.Client.Post(c.URL+"/comet/session", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("session through nginx: %d\n%s", resp.StatusCode, c.Logs())
		}
	}
}
