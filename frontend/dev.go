package frontend

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Dev serves the page from sources on disk in --dev mode: each Bundle call
// rebuilds only when a file under the directory changed (by a cheap scan of
// names, sizes and modification times), so a reload in the browser picks up an
// edit without restarting the server.
type Dev struct {
	dir    string
	logger *slog.Logger

	mu      sync.Mutex // serialises scans and builds
	scanned bool       // stamp describes a finished build
	stamp   uint64     // fingerprint of the tree at the last build
	last    *Bundle    // last good bundle
	lastErr error      // error of the last build, nil if it succeeded
	builds  int        // completed builds, for tests
}

// NewDev returns a Dev for the source tree dir (normally frontend/src). It
// does not build until the first Bundle call.
func NewDev(dir string, logger *slog.Logger) *Dev {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Dev{dir: dir, logger: logger}
}

// Bundle returns the current bundle, rebuilding first if a file under the
// directory changed since the last build. If that build fails it returns the
// last good bundle (nil if there never was one) together with the error, so a
// typo does not take the page down.
func (d *Dev) Bundle(ctx context.Context) (*Bundle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	stamp, err := fingerprint(d.dir)
	if err != nil {
		return d.last, fmt.Errorf("dev bundle: %w", err)
	}
	if d.scanned && stamp == d.stamp {
		return d.last, d.lastErr
	}
	start := time.Now()
	b, err := build(ctx, os.DirFS(d.dir), AppEntry, AppName, d.dir)
	if err != nil && ctx.Err() != nil {
		// Cancelled, not broken: build again next time.
		return d.last, err
	}
	d.builds++
	d.scanned, d.stamp = true, stamp
	if err != nil {
		d.lastErr = err
		d.logger.Warn("frontend build failed", "dir", d.dir, "err", err)
		return d.last, err
	}
	d.last, d.lastErr = b, nil
	d.logger.Info("frontend rebuilt", "dir", d.dir, "script", b.Script, "style", b.Style, "took", time.Since(start))
	return b, nil
}

// fingerprint hashes the relative path, size and modification time of every
// regular file under dir.
func fingerprint(dir string) (uint64, error) {
	h := fnv.New64a()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walked; the next scan sees it
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(rel))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, info.Size(), 10))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, info.ModTime().UnixNano(), 10))
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan %s: %w", dir, err)
	}
	return h.Sum64(), nil
}
