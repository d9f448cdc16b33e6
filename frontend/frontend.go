// Package frontend bundles the browser code (TypeScript and CSS under src/)
// with esbuild's Go API, in memory, so neither building nor running the server
// needs Node. The sources are embedded; Dev rebuilds them from disk in --dev
// mode.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed src
var sources embed.FS

// Entry points inside the source tree, with the base name of their output.
const (
	AppEntry = "app/main.ts" // the page; bundled by Build as "app-<hash>.js"
	AppName  = "app"
)

// Bundle is one build: every file the page loads, keyed by its content-hashed
// name, which is also its URL under /static/.
type Bundle struct {
	Files  map[string][]byte // hashed name ("app-3F2A9C1B.js") -> contents; JS, CSS, source maps, assets
	Script string            // hashed name of the entry script (an ES module)
	Style  string            // hashed name of the stylesheet ("" if none)
}

// Sources returns the embedded frontend/src tree (paths like "app/main.ts").
func Sources() fs.FS {
	sub, err := fs.Sub(sources, "src")
	if err != nil {
		panic(err) // "src" is a valid, embedded directory name
	}
	return sub
}
