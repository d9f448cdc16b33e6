package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"time"

	"comet/conform"
)

const conformUsage = `comet conform --base URL [--run REGEXP] [--seed N] [--timeout D] [--admin-token T]
    check a Comet server against docs/PROTOCOL.md: PASS|FAIL per check, then "N passed, M failed"
comet conform --serve ADDR [--heartbeat D]
    serve a scripted mock server for a client to be checked against; findings on stdout and GET /conform/report
`

// runConform is `comet conform`: it returns the exit status (0 every check
// passed, 1 a check failed, 2 bad usage).
func runConform(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("comet conform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, conformUsage); fs.PrintDefaults() }
	base := fs.String("base", "", "base URL of the server to check, e.g. http://localhost:8080")
	serve := fs.String("serve", "", "serve the scripted mock for clients on this address, e.g. 127.0.0.1:8099")
	run := fs.String("run", "", "run only the checks whose names match this regular expression")
	seed := fs.Uint64("seed", 0, "seed of the random cut offsets (0: a random one, printed)")
	timeout := fs.Duration("timeout", 30*time.Second, "each check's deadline, beyond four heartbeats")
	heartbeat := fs.Duration("heartbeat", time.Second, "--serve: heartbeat_ms of the mock's sessions")
	admin := fs.String("admin-token", "", "the server's admin token: adds the moderation checks (kick, ban) (env COMET_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*base == "") == (*serve == "") || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *serve != "" {
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			fmt.Fprintln(stderr, "comet conform:", err)
			return 1
		}
		fmt.Fprintf(stdout, "conform mock on http://%s: point a client at it; findings here and at /conform/report\n", ln.Addr())
		if err := conform.ServeMock(ctx, ln, &conform.Mock{Out: stdout, Heartbeat: *heartbeat}); err != nil {
			fmt.Fprintln(stderr, "comet conform:", err)
			return 1
		}
		return 0
	}
	if *admin == "" {
		*admin = os.Getenv("COMET_ADMIN_TOKEN")
	}
	cfg := conform.Config{Base: *base, Out: stdout, Seed: *seed, Timeout: *timeout, AdminToken: *admin}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fmt.Fprintln(stderr, "comet conform: --run:", err)
			return 2
		}
		cfg.Only = re
	}
	if rep := conform.Run(ctx, cfg); rep.Failed > 0 || rep.Passed == 0 {
		return 1
	}
	return 0
}
