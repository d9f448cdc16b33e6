package browsertest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestChromePath(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "chrome")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		want    string // path, or "" for an error
		wantErr string
	}{
		{"CHROME_PATH wins", exe, exe, ""},
		{"CHROME_PATH missing", filepath.Join(t.TempDir(), "nope"), "", "Debian package chromium"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chromePath(func(k string) string {
				if k == "CHROME_PATH" {
					return tt.env
				}
				return ""
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("chromePath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// The browser process must be gone once the test that started it ends.
func TestBrowserStopsAtCleanup(t *testing.T) {
	t.Parallel()
	var pid int
	t.Run("start", func(t *testing.T) {
		b := New(t)
		proc := chromedp.FromContext(b.ctx).Browser.Process()
		if proc == nil {
			t.Fatal("no browser process")
		}
		pid = proc.Pid
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("browser %d not running: %v", pid, err)
		}
	})
	if pid == 0 {
		t.FailNow()
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("browser %d still there after cleanup (kill -0: %v)", pid, err)
	}
}
