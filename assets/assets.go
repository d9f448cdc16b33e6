// Package assets holds the static files embedded in the binary: the page
// shell (an html/template) and the files served as they are under /assets/.
package assets

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

//go:embed index.html public
var files embed.FS

// ContentSecurityPolicy is the policy the page is built to run under: no
// inline script or handlers, everything from the page's own origin (the iframe
// transport's frames included).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

var page = template.Must(template.ParseFS(files, "index.html"))

// PageData fills the page shell. Script and Style are hashed bundle names
// (frontend.Bundle), loaded from /static/<name>.
type PageData struct {
	Script  string // required
	Style   string // "" if the bundle has no stylesheet
	Version string // shown in a <meta> for support
}

// Files returns the files served under /assets/ (favicon, images, sounds).
func Files() fs.FS {
	sub, err := fs.Sub(files, "public")
	if err != nil {
		panic(err) // "public" is a valid, embedded directory name
	}
	return sub
}

// Page renders the page shell to w. It fails without a script name, and
// writes nothing to w if the template fails.
func Page(w io.Writer, d PageData) error {
	if d.Script == "" {
		return errors.New("render page: no script name")
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, d); err != nil {
		return fmt.Errorf("render page: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("render page: %w", err)
	}
	return nil
}
