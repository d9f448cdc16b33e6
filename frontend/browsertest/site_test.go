package browsertest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"comet/assets"
	"comet/frontend"
)

var (
	bundlesMu sync.Mutex
	bundles   = map[string]*frontend.Bundle{}
)

// bundle builds (once per test binary) an entry of the embedded sources.
func bundle(t testing.TB, entry, name string) *frontend.Bundle {
	t.Helper()
	bundlesMu.Lock()
	defer bundlesMu.Unlock()
	if b := bundles[entry]; b != nil {
		return b
	}
	b, err := frontend.BuildEntry(context.Background(), frontend.Sources(), entry, name)
	if err != nil {
		t.Fatal(err)
	}
	bundles[entry] = b
	return b
}

// newSite serves a bundle under /static/, assets under /assets/, the Comet
// endpoints from proto (if any) and page at every other path, all under the
// page CSP, as the real server will.
func newSite(t testing.TB, b *frontend.Bundle, page http.HandlerFunc, proto *protoServer) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/static/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		data, ok := b.Files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
	mux.Handle("/assets/", http.StripPrefix("/assets/", http.FileServerFS(assets.Files())))
	if proto != nil {
		mux.Handle("/comet/", proto)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", assets.ContentSecurityPolicy)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// scriptPage serves a bare page that loads one module script.
func scriptPage(script string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>test</title>` +
			`<script type="module" src="/static/` + script + `"></script></head><body></body></html>`))
	}
}
