package sqlite

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const openChildEnv = "COMET_SQLITE_OPEN_CHILD"

// TestOpenChild is the child half of TestOpenWithoutPermission: it opens each
// of the newline-separated paths it is given and prints, one line each, the
// error or "ok".
func TestOpenChild(t *testing.T) {
	paths := os.Getenv(openChildEnv)
	if paths == "" {
		t.Skip("helper process for TestOpenWithoutPermission")
	}
	for path := range strings.Lines(paths) {
		db, err := Open(context.Background(), strings.TrimSuffix(path, "\n"), nil)
		if err != nil {
			fmt.Println(err)
			continue
		}
		db.Close()
		fmt.Println("ok")
	}
	os.Exit(0)
}

// TestOpenWithoutPermission opens databases as an unprivileged user (root
// ignores file modes), the usual way a path is unwritable in production.
func TestOpenWithoutPermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the child as nobody")
	}
	const nobody = 65534
	// t.TempDir is 0700; nobody must reach the binary and the paths.
	dir, err := os.MkdirTemp("", "comet-perm-")
	mustNil(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	mustNil(t, os.Chmod(dir, 0o755))

	bin := filepath.Join(dir, "sqlite.test")
	copyFile(t, os.Args[0], bin, 0o755)

	// A database root made, readable by all, writable by root only.
	roDB := filepath.Join(dir, "ro.db")
	db, err := Open(context.Background(), roDB, nil)
	mustNil(t, err)
	mustNil(t, db.Close())
	mustNil(t, os.Chmod(roDB, 0o644))

	// A folder nobody may write in, holding a database it may write.
	mine := filepath.Join(dir, "mine")
	mustNil(t, os.Mkdir(mine, 0o755))
	mustNil(t, os.Chown(mine, nobody, nobody))

	tests := []struct {
		name string
		path string
		want string
	}{
		{"file in a folder of root's", filepath.Join(dir, "new.db"), "unable to open database file"},
		{"folder in a folder of root's", filepath.Join(dir, "sub", "x.db"), "mkdir " + filepath.Join(dir, "sub") + ": permission denied"},
		{"read-only database", roDB, "database is read-only"},
		{"own folder works", filepath.Join(mine, "x.db"), ""},
	}
	// One child opens every path: starting a process is the slow part.
	var paths []string
	for _, tt := range tests {
		paths = append(paths, tt.path)
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenChild$")
	cmd.Env = append(os.Environ(), openChildEnv+"="+strings.Join(paths, "\n"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(tests) {
		t.Fatalf("child printed %d lines for %d paths: %q", len(lines), len(tests), out)
	}
	for i, tt := range tests {
		want := "ok"
		if tt.want != "" {
			want = "open database " + tt.path + ": " + tt.want
		}
		if lines[i] != want {
			t.Errorf("%s: child said %q\nwant %q", tt.name, lines[i], want)
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	mustNil(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	mustNil(t, err)
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	mustNil(t, dst.Close())
}
