package frontend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/evanw/esbuild/pkg/api"
)

// namespace is the esbuild namespace of every module read from the fs.FS, so
// esbuild never looks at the real file system.
const namespace = "src"

// Build bundles the page (AppEntry) from src: minified ES2020 modules with
// content-hashed names, a linked source map per script, and the CSS the
// scripts import. Errors name file:line:col.
func Build(ctx context.Context, src fs.FS) (*Bundle, error) {
	return BuildEntry(ctx, src, AppEntry, AppName)
}

// BuildEntry bundles another entry point of src (a test page, for example)
// whose outputs are named "<name>-<hash>.js" and "<name>-<hash>.css".
func BuildEntry(ctx context.Context, src fs.FS, entry, name string) (*Bundle, error) {
	return build(ctx, src, entry, name, "")
}

// build is BuildEntry with label prefixed to the file names in error messages
// (Dev uses the source directory, so its errors point at real files).
func build(ctx context.Context, src fs.FS, entry, name, label string) (*Bundle, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", entry, err)
	}
	if !fs.ValidPath(entry) {
		return nil, fmt.Errorf("bundle %s: invalid entry path", entry)
	}
	if name == "" || strings.ContainsAny(name, "/\\[]") {
		return nil, fmt.Errorf("bundle %s: invalid output name %q", entry, name)
	}
	bc, cerr := api.Context(api.BuildOptions{
		EntryPointsAdvanced: []api.EntryPoint{{InputPath: entry, OutputPath: name}},
		Bundle:              true,
		Write:               false,
		Outdir:              "out",
		EntryNames:          "[name]-[hash]",
		ChunkNames:          "chunk-[hash]",
		AssetNames:          "[name]-[hash]",
		Format:              api.FormatESModule,
		Splitting:           true, // lets later game modes load with import()
		Platform:            api.PlatformBrowser,
		Target:              api.ES2020,
		MinifyWhitespace:    true,
		MinifyIdentifiers:   true,
		MinifySyntax:        true,
		Sourcemap:           api.SourceMapLinked,
		LegalComments:       api.LegalCommentsNone,
		Metafile:            true,
		LogLevel:            api.LogLevelSilent,
		// Kept in step with frontend/tsconfig.json, which esbuild cannot see here.
		TsconfigRaw: `{"compilerOptions":{"useDefineForClassFields":true,"verbatimModuleSyntax":true}}`,
		Plugins:     []api.Plugin{fsPlugin(src)},
	})
	if cerr != nil {
		return nil, fmt.Errorf("bundle %s: %w", entry, messagesError(cerr.Errors, label))
	}
	defer bc.Dispose()
	stop := context.AfterFunc(ctx, bc.Cancel)
	res := bc.Rebuild()
	stop()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", entry, err)
	}
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("bundle %s: %w", entry, messagesError(res.Errors, label))
	}
	b, err := collect(res, namespace+":"+entry)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", entry, err)
	}
	return b, nil
}

// collect turns esbuild's output files into a Bundle, finding the entry
// script and its stylesheet through the metafile. (Modules loaded with
// import() are entry points of their own there, so match the input.)
func collect(res api.BuildResult, entry string) (*Bundle, error) {
	b := &Bundle{Files: make(map[string][]byte, len(res.OutputFiles))}
	for _, f := range res.OutputFiles {
		b.Files[path.Base(filepathToSlash(f.Path))] = f.Contents
	}
	var meta struct {
		Outputs map[string]struct {
			EntryPoint string `json:"entryPoint"`
			CSSBundle  string `json:"cssBundle"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(res.Metafile), &meta); err != nil {
		return nil, fmt.Errorf("read metafile: %w", err)
	}
	for out, o := range meta.Outputs {
		if o.EntryPoint != entry || !strings.HasSuffix(out, ".js") {
			continue
		}
		b.Script = path.Base(out)
		if o.CSSBundle != "" {
			b.Style = path.Base(o.CSSBundle)
		}
	}
	if b.Script == "" {
		return nil, errors.New("no entry script in the output")
	}
	for _, n := range []string{b.Script, b.Style} {
		if _, ok := b.Files[n]; n != "" && !ok {
			return nil, fmt.Errorf("output %s is missing", n)
		}
	}
	return b, nil
}

func filepathToSlash(p string) string { return strings.ReplaceAll(p, "\\", "/") }

// BuildError is a failed build: every esbuild error, each formatted as
// "file:line:col: message".
type BuildError struct {
	Messages []string
}

func (e *BuildError) Error() string { return strings.Join(e.Messages, "\n") }

func messagesError(msgs []api.Message, label string) error {
	e := &BuildError{}
	for _, m := range msgs {
		e.Messages = append(e.Messages, formatMessage(m, label))
	}
	if len(e.Messages) == 0 {
		e.Messages = []string{"unknown esbuild error"}
	}
	return e
}

func formatMessage(m api.Message, label string) string {
	text := m.Text
	if m.PluginName != "" {
		text = "[" + m.PluginName + "] " + text
	}
	loc := m.Location
	if loc == nil {
		return text
	}
	file := strings.TrimPrefix(loc.File, namespace+":")
	if label != "" {
		file = path.Join(label, file)
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, loc.Line, loc.Column+1, text)
}

// loaders maps file extensions to esbuild loaders; anything else cannot be
// imported.
var loaders = map[string]api.Loader{
	".ts":    api.LoaderTS,
	".js":    api.LoaderJS,
	".css":   api.LoaderCSS,
	".json":  api.LoaderJSON,
	".svg":   api.LoaderFile,
	".png":   api.LoaderFile,
	".webp":  api.LoaderFile,
	".woff2": api.LoaderFile,
	".ogg":   api.LoaderFile,
	".wav":   api.LoaderFile,
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// resolveSuffixes are tried, in order, after an import path as written.
var resolveSuffixes = []string{"", ".ts", "/index.ts"}

// fsPlugin resolves and loads every module from src. Only relative imports
// exist in this tree (no node_modules), so a bare import is an error.
func fsPlugin(src fs.FS) api.Plugin {
	return api.Plugin{
		Name: "fs",
		Setup: func(pb api.PluginBuild) {
			pb.OnResolve(api.OnResolveOptions{Filter: ".*"}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
				var p string
				switch {
				case args.Kind == api.ResolveEntryPoint:
					p = path.Clean(args.Path)
				case strings.HasPrefix(args.Path, "./") || strings.HasPrefix(args.Path, "../"):
					p = path.Join(path.Dir(args.Importer), args.Path)
				default:
					return api.OnResolveResult{}, fmt.Errorf("cannot import %q: only relative imports are supported", args.Path)
				}
				found, err := resolve(src, p)
				if err != nil {
					return api.OnResolveResult{}, err
				}
				return api.OnResolveResult{Path: found, Namespace: namespace}, nil
			})
			pb.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: namespace}, func(args api.OnLoadArgs) (api.OnLoadResult, error) {
				loader, ok := loaders[path.Ext(args.Path)]
				if !ok {
					return api.OnLoadResult{}, fmt.Errorf("no loader for %s", args.Path)
				}
				data, err := fs.ReadFile(src, args.Path)
				if err != nil {
					return api.OnLoadResult{}, fmt.Errorf("read %s: %w", args.Path, err)
				}
				// esbuild (v0.28) loops forever quoting a source that ends in a
				// truncated UTF-8 sequence into the source map, so refuse such
				// text up front.
				if loader != api.LoaderFile && !utf8.Valid(data) {
					return api.OnLoadResult{}, fmt.Errorf("%s is not valid UTF-8 (at byte %d)", args.Path, invalidUTF8At(data))
				}
				s := string(data)
				return api.OnLoadResult{Contents: &s, Loader: loader}, nil
			})
		},
	}
}

// resolve finds the file an import path names, TypeScript style: as written,
// with .ts, as a directory's index.ts, or a ".js" import of a ".ts" file.
func resolve(src fs.FS, p string) (string, error) {
	if !fs.ValidPath(p) {
		return "", fmt.Errorf("cannot import %q: outside the source tree", p)
	}
	candidates := make([]string, 0, len(resolveSuffixes)+1)
	for _, s := range resolveSuffixes {
		candidates = append(candidates, p+s)
	}
	if strings.HasSuffix(p, ".js") {
		candidates = append(candidates, strings.TrimSuffix(p, ".js")+".ts")
	}
	for _, c := range candidates {
		if st, err := fs.Stat(src, c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("cannot find %q (tried %s)", p, strings.Join(candidates, ", "))
}
