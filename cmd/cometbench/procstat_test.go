package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "1234 (comet) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200", 3 * time.Second, false},
		{"name with spaces and parens", "1 (a) b (c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1", 100 * time.Millisecond, false},
		{"short", "1 (x) S 1 2 3", 0, true},
		{"no name", "1 x S", 0, true},
		{"not numbers", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a b 0", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: %v, %v; want %v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseStatus(t *testing.T) {
	rss, threads, err := parseStatus([]byte("Name:\tcomet\nVmRSS:\t  10240 kB\nThreads:\t7\n"))
	if err != nil || rss != 10<<20 || threads != 7 {
		t.Fatalf("= %d, %d, %v", rss, threads, err)
	}
	if _, _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("no VmRSS: no error")
	}
	if _, _, err := parseStatus([]byte("VmRSS:\tlots kB\n")); err == nil {
		t.Fatal("bad VmRSS: no error")
	}
}

func TestSampleSelf(t *testing.T) {
	s, err := sampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS < 1<<20 || s.Thread < 1 {
		t.Fatalf("implausible sample of this process: %+v", s)
	}
	if _, err := sampleProc(1 << 30); err == nil {
		t.Fatal("sampled a process that cannot exist")
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (comet) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0"))
	f.Add([]byte("1 ()) ("))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStat(b); err == nil && d < 0 {
			t.Fatalf("negative CPU %v", d)
		}
	})
}
