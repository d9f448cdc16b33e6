package clustertest

import (
	"fmt"
	"net/http"
	"testing"

	"comet/internal/nginxtest"
)

// ClusterFlags are the `comet serve` flags a cluster node needs (issue 18).
var ClusterFlags = []string{"--nats", "--node"}

// Options shape a Cluster; the zero value is three nodes.
type Options struct {
	Nodes int      // how many `comet serve` nodes (default 3)
	Args  []string // extra `comet serve` flags for every node
}

// Cluster is nats-server, PostgreSQL, N comet nodes and nginx round-robin in
// front of them (docs/deploy/nginx-cluster.conf), all real processes.
type Cluster struct {
	NATS  *NATS
	DB    string // the nodes' postgres:// URL
	Bin   string // the comet binary
	Nodes []*Node
	Nginx *nginxtest.Deployed
	// URL is nginx's HTTPS address and Client a client trusting its
	// certificate on HTTP/1.1: what players use.
	URL    string
	Client *http.Client
	args   []string
	owner  testing.TB // the test that started the cluster: its nodes live as long
}

// Start starts a whole cluster; everything is stopped when the test ends.
// It fails the test (naming the flags) when the comet binary has no cluster
// flags; callers that want to skip instead check MissingFlags first.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	c := &Cluster{Bin: Comet(t), args: opts.Args, owner: t}
	if missing := MissingFlags(t, c.Bin, ClusterFlags...); len(missing) > 0 {
		t.Fatalf("comet serve has no %v flag: no cluster mode to start", missing)
	}
	c.DB = Postgres(t)
	c.NATS = StartNATS(t)
	addrs := make([]string, opts.Nodes)
	for i := range opts.Nodes {
		n := c.StartNode(t, fmt.Sprintf("node%d", i+1))
		c.Nodes = append(c.Nodes, n)
		addrs[i] = n.Addr
	}
	c.Nginx = nginxtest.StartCluster(t, addrs...)
	c.URL, c.Client = c.Nginx.HTTPS, c.Nginx.HTTP1Client()
	return c
}

// StartNode starts one more node of the cluster named name (not put behind
// nginx: the upstream list is fixed at Start).
func (c *Cluster) StartNode(t testing.TB, name string) *Node {
	t.Helper()
	return StartNodeAt(t, c.Bin, name, FreeAddr(t), c.nodeArgs(name)...)
}

// Restart starts node i again (after a Kill or a Term) with its name and
// address, so nginx sends it requests again. t may be a subtest: the node
// runs until the test that started the cluster ends.
func (c *Cluster) Restart(t testing.TB, i int) *Node {
	t.Helper()
	old := c.Nodes[i]
	select {
	case <-old.Done():
	default:
		t.Fatalf("clustertest: restart of %s while it runs", old.Name)
	}
	c.Nodes[i] = startNodeAt(t, c.owner, c.Bin, old.Name, old.Addr, c.nodeArgs(old.Name)...)
	return c.Nodes[i]
}

func (c *Cluster) nodeArgs(name string) []string {
	return append([]string{"--db", c.DB, "--nats", c.NATS.URL(), "--node", name,
		"--trusted-proxy", "127.0.0.1/32"}, c.args...)
}

// Logs is every node's log, each under its name: for a failing test.
func (c *Cluster) Logs() string {
	var s string
	for _, n := range c.Nodes {
		s += fmt.Sprintf("---- %s (%s)\n%s", n.Name, n.Addr, n.Log())
	}
	return s + "---- nginx\n" + c.Nginx.ErrorLog()
}
