package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// broadcastParams: publish Messages chat lines, Spacing apart, to every
// stream the fleet holds, after opening Extra more streams of
// ExtraTransports (long-poll, so every transport is in the broadcast).
type broadcastParams struct {
	Messages        int
	Spacing         time.Duration
	Extra           int
	ExtraTransports []string
	Rate            float64
}

// broadcastResult: did every stream get every line exactly once, and how fast.
type broadcastResult struct {
	Held      int64
	Messages  int
	Expected  int64 // live streams (liveStreams) × messages
	Got       int64 // first receipts
	Dups      int64 // repeated receipts of a line on one stream
	SeqGaps   int64
	SeqDups   int64
	Resets    int64
	LostConns int64
	MinPerMsg int64 // the fewest streams any one line reached
	Refused   int64 // lines the server refused (rate limit)
	Lat       histSnap
	Errs      []string
}

// runBroadcast sends chat lines on the lobby channel from a separate player
// and checks that each of the fleet's streams gets each line once; latency
// is from the send timestamp in the text to the receipt.
func runBroadcast(ctx context.Context, t *target, f *fleet, p broadcastParams, log *slog.Logger) (broadcastResult, error) {
	r := broadcastResult{Messages: p.Messages}
	if p.Extra > 0 {
		if _, err := f.open(ctx, p.Extra, p.Rate, p.ExtraTransports); err != nil {
			return r, fmt.Errorf("broadcast: %w", err)
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return r, err
		}
	}
	// One line a second per player is the chat limit: enough publishers that
	// each stays under it.
	n := int(math.Ceil(float64(time.Second)/float64(p.Spacing))) + 1
	pub, err := newCometPublishers(ctx, t.Base, n, log)
	if err != nil {
		return r, err
	}
	defer pub.close()
	st0, err := f.stats(ctx, true)
	if err != nil {
		return r, err
	}
	r.Held = st0.Held
	r.Expected = liveStreams(st0) * int64(p.Messages)
	for k := 0; k < p.Messages; k++ {
		if k > 0 {
			if err := sleepCtx(ctx, p.Spacing); err != nil {
				return r, err
			}
		}
		if err := pub.publish(ctx, k, time.Now()); err != nil {
			return r, fmt.Errorf("broadcast: %w", err)
		}
	}
	st, err := waitTagged(ctx, f, r.Expected, 5*time.Second, 30*time.Second)
	if err != nil {
		return r, err
	}
	r.Got, r.Dups, r.SeqGaps, r.SeqDups, r.Resets = st.Tagged, st.TagDups, st.SeqGaps, st.SeqDups, st.Resets
	r.LostConns = st.Lost - st0.Lost
	r.Lat, r.Errs = st.Lat, st.Errs
	r.MinPerMsg = math.MaxInt64
	for k := 0; k < p.Messages; k++ {
		var got int64
		if k < len(st.PerTag) {
			got = st.PerTag[k]
		}
		r.MinPerMsg = min(r.MinPerMsg, got)
	}
	r.Refused, _ = pub.refused()
	return r, nil
}

// liveStreams counts the streams a line must reach: every stream opened
// and not given up, the held ones and those between a recycle's end and
// their resume, which get the line from the replay buffer. Counting only
// the streams held at one instant made a long run's verdict "NOT met" with
// negative losses: 411 of 60,000 streams were mid-recycle as it began.
func liveStreams(st agentStats) int64 { return max(st.Held, st.Opened-st.Lost) }

// broadcastRows reports a broadcast; goal is the stream count the run must
// reach (0: a short run, no target).
func broadcastRows(r broadcastResult, goal int) []row {
	sc := fmt.Sprintf("broadcast: %d chat lines to %s streams", r.Messages, count(r.Held))
	lost := r.Expected - r.Got
	exact := lost == 0 && r.Dups == 0 && r.SeqDups == 0 && r.SeqGaps == 0
	p99 := r.Lat.Quantile(0.99)
	rows := []row{
		{sc, "deliveries (got / expected)", fmt.Sprintf("%s / %s", count(r.Got), count(r.Expected)), "every stream, every line", verdict(lost == 0)},
		{sc, "losses / duplicates / seq gaps / seq repeats", fmt.Sprintf("%d / %d / %d / %d", lost, r.Dups, r.SeqGaps, r.SeqDups), "0 / 0 / 0 / 0", verdict(exact)},
		{sc, "fewest streams one line reached", count(r.MinPerMsg), "", ""},
		{sc, "latency p50", ms(r.Lat.Quantile(0.5)), "", ""},
		{sc, "latency p99", ms(p99), "≤ 250 ms", verdictIf(goal == 0 || r.Held >= int64(goal), p99 <= 250*time.Millisecond)},
		{sc, "latency max", ms(r.Lat.Max()), "", ""},
	}
	if r.Resets > 0 || r.LostConns > 0 || r.Refused > 0 {
		rows = append(rows, row{sc, "sys.reset / streams lost / lines refused", fmt.Sprintf("%d / %d / %d", r.Resets, r.LostConns, r.Refused), "0", "NOT met"})
	}
	return rows
}

// broadcastFloorRows compare the broadcast with a baseline (name) sending
// the same number of lines, as far apart, to as many sockets; with target,
// the p99 ratio is held to issue 14's ≤ 1.1.
func broadcastFloorRows(c broadcastResult, name string, raw throughputResult, target bool) []row {
	sc := fmt.Sprintf("broadcast baseline: %s, %d lines to %s sockets", name, raw.Messages, count(raw.Held))
	cp99, rp99 := c.Lat.Quantile(0.99), raw.Lat.Quantile(0.99)
	q := float64(cp99) / float64(max(rp99, 1))
	ratioRow := row{"broadcast: comet ÷ " + name, "latency p99, ratio", fmt.Sprintf("%.2f", q), "", ""}
	if target {
		ratioRow.Target, ratioRow.Verdict = "≤ 1.1 (issue 14)", verdictIf(rp99 > 0, q <= 1.1)
	}
	return []row{
		{sc, "deliveries (got / expected) / duplicates / seq gaps", fmt.Sprintf("%s / %s / %d / %d", count(raw.Got), count(raw.Expected), raw.Dups, raw.SeqGaps), "", ""},
		{sc, "latency p50 / p99 / max", fmt.Sprintf("%s / %s / %s", ms(raw.Lat.Quantile(0.5)), ms(rp99), ms(raw.Lat.Max())), "", ""},
		ratioRow,
	}
}
