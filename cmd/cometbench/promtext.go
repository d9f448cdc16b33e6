package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// series is one sample line of the Prometheus text exposition format.
type series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// promSet is one scrape of /metrics.
type promSet []series

// parseProm reads the Prometheus text format (comments skipped). A line it
// cannot read is an error naming the line, never a panic.
func parseProm(r io.Reader) (promSet, error) {
	var out promSet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		s, err := parsePromLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

func parsePromLine(line string) (series, error) {
	var s series
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, fmt.Errorf("no value in %.60q", line)
	}
	s.Name, line = line[:i], line[i:]
	if line[0] == '{' {
		s.Labels = map[string]string{}
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ,")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.IndexByte(line, '=')
			if eq <= 0 || len(line) < eq+2 || line[eq+1] != '"' {
				return s, fmt.Errorf("bad label in %.60q", line)
			}
			name := strings.TrimSpace(line[:eq])
			val, rest, err := promQuoted(line[eq+1:])
			if err != nil {
				return s, err
			}
			s.Labels[name] = val
			line = rest
		}
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return s, fmt.Errorf("no value for %s", s.Name)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("value of %s: %w", s.Name, err)
	}
	s.Value = v
	return s, nil
}

// promQuoted reads a quoted label value with \\, \" and \n escapes.
func promQuoted(s string) (val, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 >= len(s) {
				return "", "", fmt.Errorf("unterminated label value")
			}
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
			} else {
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated label value")
}

// Sum adds every series called name whose labels include all of match
// (label, value pairs). NaN when no series matches.
func (p promSet) Sum(name string, match ...string) float64 {
	total, found := 0.0, false
	for _, s := range p {
		if s.Name != name || !s.has(match) {
			continue
		}
		total += s.Value
		found = true
	}
	if !found {
		return math.NaN()
	}
	return total
}

func (s series) has(match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		if s.Labels[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// Buckets returns a histogram's cumulative buckets (le → count) summed over
// the series matching match.
func (p promSet) Buckets(name string, match ...string) map[float64]float64 {
	out := map[float64]float64{}
	for _, s := range p {
		if s.Name != name+"_bucket" || !s.has(match) {
			continue
		}
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			continue
		}
		out[le] += s.Value
	}
	return out
}

// bucketQuantile estimates the q-quantile of the samples between two scrapes
// of a cumulative histogram: the upper bound of the bucket it falls in
// (+Inf when beyond the last finite bucket), NaN with no samples.
func bucketQuantile(before, after map[float64]float64, q float64) float64 {
	les := make([]float64, 0, len(after))
	for le := range after {
		les = append(les, le)
	}
	slices.Sort(les)
	if len(les) == 0 {
		return math.NaN()
	}
	total := after[les[len(les)-1]] - before[les[len(les)-1]]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	for _, le := range les {
		if after[le]-before[le] >= rank {
			return le
		}
	}
	return math.Inf(1)
}

// scrape fetches and parses base + "/metrics".
func scrape(ctx context.Context, c *http.Client, base string) (promSet, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", base, resp.StatusCode)
	}
	return parseProm(resp.Body)
}
