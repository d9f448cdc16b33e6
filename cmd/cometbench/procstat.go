package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every architecture Go supports.
const clockTicks = 100

// procSample is what /proc says about one process at one moment.
type procSample struct {
	At     time.Time
	RSS    int64         // resident set, bytes (VmRSS)
	CPU    time.Duration // user + system time so far
	Thread int           // threads
}

// sampleProc reads /proc/<pid>/status and /proc/<pid>/stat.
func sampleProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status of %d: %w", pid, err)
	}
	if s.RSS, s.Thread, err = parseStatus(status); err != nil {
		return s, fmt.Errorf("status of %d: %w", pid, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	if s.CPU, err = parseStat(stat); err != nil {
		return s, fmt.Errorf("stat of %d: %w", pid, err)
	}
	return s, nil
}

// parseStatus reads VmRSS (kB) and Threads from /proc/<pid>/status.
func parseStatus(b []byte) (rss int64, threads int, err error) {
	found := 0
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		f := strings.Fields(string(v))
		if len(f) == 0 {
			continue
		}
		switch string(k) {
		case "VmRSS":
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("VmRSS %q: %w", f[0], err)
			}
			rss = kb << 10
			found++
		case "Threads":
			threads, err = strconv.Atoi(f[0])
			if err != nil {
				return 0, 0, fmt.Errorf("Threads %q: %w", f[0], err)
			}
		}
	}
	if found == 0 {
		return 0, 0, fmt.Errorf("no VmRSS line")
	}
	return rss, threads, nil
}

// parseStat reads utime and stime (fields 14 and 15) from /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// loadAvg returns the first line of /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// machine describes the host for the report.
func machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d cores, %s RAM, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), mem, runtime.Version())
}
