// Command cometbench is Comet's load tool. It speaks the public protocol
// (docs/PROTOCOL.md) over every transport with raw sockets, runs the server
// under test as a subprocess (or measures --url), spreads its clients over
// child processes and many loopback source addresses, and prints a markdown
// table of what it measured:
//
//	cometbench short        every scenario, small (about two minutes; make bench)
//	cometbench full         the measurement run (15,000 streams, a 1,000-player room)
//	cometbench idle|broadcast|throughput|game [--short] [flags]
//	cometbench ws [--short]  WebSocket streams beside gorilla/websocket and the raw writer; a room's inputs by POST and up the socket
//	cometbench restart      a graceful restart's hand-over and the gap clients see
//	cometbench cluster      60,000 streams over 4 nodes on NATS and PostgreSQL, a cross-node room
//
// It also runs as its own helpers: `agent` (a client process, driven over
// stdin/stdout), `naive-server` (the goroutine-per-stream baseline) and
// `raw-writer` (the no-framework throughput limit).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := dispatch(ctx, args, stdin, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "cometbench:", err)
		return 1
	}
	return 0
}

const usage = `cometbench — load tool for the Comet server

  cometbench short [flags]                 every scenario, small (about 2 minutes)
  cometbench full [flags]                  15,000 streams, a 1,000-player room (about 15 minutes)
  cometbench idle|broadcast|throughput|game [--short] [flags]
  cometbench ws [--short] [flags]          WebSocket streams beside gorilla/websocket and the raw writer,
                                           and the 1,000-player room with inputs by POST and up the socket
  cometbench soak [--duration 10m --streams 3000 --rooms 20]   memory, goroutines, files over time
  cometbench restart [--sessions 200 --rooms 20 --rounds 3]   a graceful restart: save, restore, the gap clients and players see
  cometbench cluster [--nodes 4 --streams 60000 --relay-share 0.25 --game-players 200]
                                           streams over cluster nodes beside one node and the raw writers,
                                           a broadcast to all, a room played from another node, NATS traffic
  cometbench naive-server --addr A         the goroutine-per-stream baseline server (gorilla/websocket for ws)
  cometbench raw-writer --addr A           the no-framework throughput limit

Run "cometbench short -h" for the flags.
`

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "help"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "agent":
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return serveAgent(stdin, stdout, log)
	case "naive-server":
		return serveMode(ctx, "naive-server", args, stderr)
	case "raw-writer":
		return serveMode(ctx, "raw-writer", args, stderr)
	case "soak":
		return runSoakCmd(ctx, args, stdout, stderr)
	case "restart":
		return runRestartCmd(ctx, args, stdout, stderr)
	case "cluster":
		return runClusterCmd(ctx, args, stdout, stderr)
	case "short", "full", "idle", "broadcast", "throughput", "game", "ws":
		return runSuite(ctx, cmd, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// serveMode runs one of the helper servers until ctx ends (or its parent dies).
func serveMode(ctx context.Context, mode string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	hb := fs.Duration("heartbeat", 25*time.Second, "heartbeat interval (naive-server)")
	life := fs.Duration("max-life", 2*time.Hour, "exit after this long whatever happens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *life)
	defer cancel()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", mode, err)
	}
	if mode == "naive-server" {
		return serveNaive(ctx, ln, *hb)
	}
	return serveRaw(ctx, ln)
}

// runSuite parses the measurement flags over the chosen preset and runs it.
func runSuite(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	short := fs.Bool("short", cmd == "short", "use the short sizes")
	fs.StringVar(&cfg.URL, "url", "", "measure this running server (http://host:port) instead of starting ./cmd/comet")
	fs.IntVar(&cfg.Pid, "pid", 0, "with --url: the server's process id, for RSS and CPU")
	fs.StringVar(&cfg.Work, "work", "", "scratch directory (default: a new temp dir)")
	fs.IntVar(&cfg.PerAgent, "per-agent", 7000, "connections per client process (open files are capped at 20,000)")
	out := fs.String("out", "", "also write the report to this file")
	timeout := fs.Duration("timeout", 0, "stop after this long (default 6m short, 40m full)")
	// Overrides of the preset; zero keeps the preset's value.
	streams := fs.Int("streams", 0, "lobby streams to hold")
	rate := fs.Float64("rate", 0, "streams opened per second")
	hold := fs.Duration("hold", 0, "idle hold")
	transports := fs.String("transports", "", "held transports, comma-separated (multipart,sse,iframe,ws)")
	msgRate := fs.Float64("msg-rate", 0, "throughput: chat lines per second")
	tpDur := fs.Duration("tp-duration", 0, "throughput: publishing time")
	messages := fs.Int("messages", 0, "broadcast: lines")
	spacing := fs.Duration("spacing", 0, "broadcast: time between lines")
	longpoll := fs.Int("longpoll", -1, "broadcast: long-poll streams added")
	history := fs.Int("history", -1, "streams added once the chat history is full")
	games := fs.String("games", "", "game layouts, e.g. 1x1000,100x10 (rooms x players)")
	gameTransports := fs.String("game-transports", "", "game: the bots' transports, one run per variant, e.g. multipart+sse+iframe,ws (on ws inputs go up the socket)")
	inputHz := fs.Float64("input-hz", 0, "game: inputs per second per bot")
	gameDur := fs.Duration("game-duration", 0, "game: input time per layout")
	noNaive := fs.Bool("no-naive", false, "skip the naive baseline")
	noRaw := fs.Bool("no-raw", false, "skip the raw-writer limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	s := fullSuite()
	if *short {
		s = shortSuite()
	}
	if cmd == "ws" {
		s = wsSuite(*short)
	}
	if cmd != "short" && cmd != "full" && cmd != "ws" {
		s.Title = "cometbench " + cmd
		s.Idle, s.Naive = cmd == "idle", cmd == "idle"
		s.Throughput, s.Raw = cmd == "throughput", cmd == "throughput"
		s.Broadcast, s.Game = cmd == "broadcast", cmd == "game"
		s.Raw = s.Raw || cmd == "broadcast" // the broadcast's floor
		if cmd != "idle" {
			s.History = 0
			s.Hold = 2 * time.Second // the streams are only opened for the other scenarios
		}
	}
	setIf(&s.Streams, *streams)
	setIf(&s.Rate, *rate)
	setIf(&s.Hold, *hold)
	setIf(&s.MsgRate, *msgRate)
	setIf(&s.TPDuration, *tpDur)
	setIf(&s.Messages, *messages)
	setIf(&s.Spacing, *spacing)
	setIf(&s.InputHz, *inputHz)
	setIf(&s.GameDuration, *gameDur)
	if *longpoll >= 0 {
		s.Longpoll = *longpoll
	}
	if *history >= 0 {
		s.History = *history
	}
	if *transports != "" {
		s.Transports = strings.Split(*transports, ",")
		for _, t := range s.Transports {
			if !validTransport(t) || t == "longpoll" {
				return fmt.Errorf("--transports: %q is not a held transport (multipart, sse, iframe, ws)", t)
			}
		}
	}
	if *gameTransports != "" {
		v, err := parseVariants(*gameTransports)
		if err != nil {
			return err
		}
		s.GameTransports = v
	}
	if *games != "" {
		g, err := parseGames(*games)
		if err != nil {
			return err
		}
		s.Games = g
	}
	s.Naive = s.Naive && !*noNaive
	s.Raw = s.Raw && !*noRaw
	if *timeout <= 0 {
		*timeout = 40 * time.Minute
		if *short {
			*timeout = 6 * time.Minute
		}
	}
	return runBench(ctx, cfg, *timeout, *out, stdout, stderr, func(ctx context.Context, b *bench) error { return b.run(ctx, s) })
}

// runBench runs fn on a new bench of cfg for at most timeout; the report
// goes to stdout and, when out is set, to that file too.
func runBench(ctx context.Context, cfg Config, timeout time.Duration, out string, stdout, stderr io.Writer, fn func(context.Context, *bench) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var report strings.Builder
	cfg.Out = io.MultiWriter(stdout, &report)
	cfg.Stderr = stderr
	b, err := newBench(cfg)
	if err != nil {
		return err
	}
	if cfg.Work == "" {
		defer os.RemoveAll(b.cfg.Work)
	}
	runErr := fn(ctx, b)
	if out != "" {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			return errors.Join(runErr, fmt.Errorf("write report: %w", err))
		}
	}
	return runErr
}

func setIf[T int | float64 | time.Duration](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}

// parseVariants reads the game's transport variants, like "multipart+sse,ws".
func parseVariants(s string) ([][]string, error) {
	var out [][]string
	for _, part := range strings.Split(s, ",") {
		tr := strings.Split(strings.TrimSpace(part), "+")
		for _, t := range tr {
			if !validTransport(t) {
				return nil, fmt.Errorf("--game-transports: %q is not a transport (multipart, sse, iframe, ws, longpoll)", t)
			}
		}
		out = append(out, tr)
	}
	return out, nil
}

// parseGames reads room layouts like "1x1000,100x10".
func parseGames(s string) ([]gameParams, error) {
	var out []gameParams
	for _, part := range strings.Split(s, ",") {
		r, p, ok := strings.Cut(strings.TrimSpace(part), "x")
		rooms, err1 := strconv.Atoi(r)
		players, err2 := strconv.Atoi(p)
		if !ok || err1 != nil || err2 != nil || rooms < 1 || players < 2 || players > 1000 {
			return nil, fmt.Errorf("--games: %q is not ROOMSxPLAYERS (players 2..1000)", part)
		}
		out = append(out, gameParams{Rooms: rooms, Players: players})
	}
	return out, nil
}
