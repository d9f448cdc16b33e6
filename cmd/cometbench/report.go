package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	Scenario string
	Metric   string
	Value    string
	Target   string
	Verdict  string // "met", "NOT met", or "" for a figure without a target
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// writeTable prints rows as a markdown table.
func writeTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| scenario | metric | measured | target | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cell(r.Scenario), cell(r.Metric), cell(r.Value), cell(r.Target), cell(r.Verdict))
	}
}

func cell(s string) string {
	if s == "" {
		return " "
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// report prints the header, the table and the notes.
func (b *bench) report(title string, params []string) {
	w := b.cfg.Out
	fmt.Fprintf(w, "\n## %s\n\n", title)
	fmt.Fprintf(w, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %s\n", machine())
	fmt.Fprintf(w, "- load average (1/5/15 min): %s at the start, %s at the end\n", b.load0, loadAvg())
	fmt.Fprintf(w, "- took: %s\n", time.Since(b.start).Round(time.Second))
	for _, p := range params {
		fmt.Fprintf(w, "- %s\n", p)
	}
	fmt.Fprintln(w)
	b.mu.Lock()
	rows, notes := b.rows, b.notes
	b.mu.Unlock()
	writeTable(w, rows)
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// Formatting helpers: figures are shown with their unit, NaN as "n/a".

func kib(bytes float64) string {
	if math.IsNaN(bytes) || math.IsInf(bytes, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f KiB", bytes/1024)
}

func mib(bytes float64) string {
	if math.IsNaN(bytes) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %% of a core", v)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if math.Abs(v) >= 100 {
		return count(int64(math.Round(v)))
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}
