package lint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// Request is one lint run: what to lint and how. Lint runs it.
type Request struct {
	// Paths are project directories (each with its CIConfig) or lone
	// YAML files; none means the current directory.
	Paths []string
	// Recursive treats each directory in Paths as a tree and lints
	// every project below it: every directory holding CIConfig, but for
	// those whose CIConfig another project's configuration reads (a
	// local include or a child pipeline of it), which are linted as that
	// project's files.
	Recursive bool
	// CIConfig is a project's configuration file, relative to the
	// project directory; "" is .gitlab-ci.yml.
	CIConfig string
	// Inputs are the spec:inputs values of the main file.
	Inputs map[string]string
	// Fetcher reads remote includes; nil leaves them unresolved.
	Fetcher pipeline.Fetcher
	// Options select the rules.
	Options
	// Baseline is a baseline file (NewBaseline, Baseline.Write): the
	// findings it holds are left out. "" leaves nothing out.
	Baseline string
}

// Report is what Lint found.
type Report struct {
	// Findings of every project, in the order of the projects; paths
	// (and so fingerprints) relative to the working directory when there
	// are several projects, to the project otherwise.
	Findings []Finding
	// Sources are the files the findings are in, by finding path.
	Sources map[string][]byte
	// Errors are the projects that could not be linted; the others'
	// findings are still in Findings.
	Errors []error
}

// ErrNoConfig is a directory with no CI/CD configuration file in it (or,
// with Request.Recursive, below it).
var ErrNoConfig = errors.New("no CI/CD configuration file")

// PathError is a path of Request.Paths that cannot be linted: it does not
// exist, or it holds no configuration (ErrNoConfig).
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return fmt.Sprintf("lint %s: %v", e.Path, e.Err) }
func (e *PathError) Unwrap() error { return e.Err }

// BaselineError is a Request.Baseline that cannot be read.
type BaselineError struct {
	Path string
	Err  error
}

func (e *BaselineError) Error() string { return fmt.Sprintf("baseline %s: %v", e.Path, e.Err) }
func (e *BaselineError) Unwrap() error { return e.Err }

// Lint finds the projects of r, lints them in parallel and leaves out the
// findings of r's baseline. A project that cannot be loaded is in
// Report.Errors; an error is returned only when r itself cannot be run
// (*PathError, *BaselineError, unknown rule ids).
//
// With several projects, finding paths are prefixed with the project's
// directory before fingerprints are computed, so the same secret in two
// projects has two fingerprints and a baseline of one does not silence the
// other (issue 14); a lone project's fingerprints do not depend on where
// it is.
func Lint(ctx context.Context, r Request) (*Report, error) {
	if err := CheckRuleIDs(append(append([]string(nil), r.Rules...), r.SkipRules...)); err != nil {
		return nil, err
	}
	if r.CIConfig == "" {
		r.CIConfig = ".gitlab-ci.yml"
	}
	if len(r.Paths) == 0 {
		r.Paths = []string{"."}
	}
	var base *Baseline
	if r.Baseline != "" {
		b, err := readBaselineFile(r.Baseline)
		if err != nil {
			return nil, &BaselineError{Path: r.Baseline, Err: err}
		}
		base = b
	}
	targets, err := findTargets(r)
	if err != nil {
		return nil, err
	}
	results := make([]result, len(targets))
	// The largest projects first: started last, one of them would keep a
	// worker busy after the others ran out of work.
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return targets[order[a]].weight > targets[order[b]].weight })
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(targets)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = lintTarget(targets[i], r)
			}
		}()
	}
	for _, i := range order {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	if r.Recursive {
		skipReached(results)
	}

	rep := &Report{Sources: map[string][]byte{}}
	for _, res := range results {
		if res.skip {
			continue
		}
		if res.err != nil {
			rep.Errors = append(rep.Errors, res.err)
			continue
		}
		rep.Findings = append(rep.Findings, res.findings...)
		for k, v := range res.sources {
			rep.Sources[k] = v
		}
	}
	if base != nil {
		rep.Findings = base.Filter(rep.Findings)
	}
	return rep, nil
}

func readBaselineFile(path string) (*Baseline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadBaseline(f)
}

// target is one project (or lone file) to lint.
type target struct {
	dir  string // project directory; "" for a lone file
	file string // a lone file
	// prefix is prepended to the finding paths (relative to the project
	// root) so that, with several projects, they are relative to the
	// working directory.
	prefix string
	// rootPrefix asks for the prefix of a lone file's project root, which
	// is known once the file is loaded (LoadFile walks up to it).
	rootPrefix bool
	// weight is the bytes of YAML below dir, how long it may take.
	weight int64
}

// result is one target's findings, and the sources of the files they are
// in (for the text format's source lines).
type result struct {
	findings []Finding
	sources  map[string][]byte
	err      error
	// config is the target's configuration file and reads the project
	// files its pipeline reads (pipeline.Pipeline.LocalFiles), both
	// absolute, for skipReached; skip is set there.
	config string
	reads  []string
	skip   bool
}

// skipReached leaves out the targets whose configuration file another
// target's pipeline reads: in a monorepo whose root pipeline includes
// sub/.gitlab-ci.yml (or starts it as a child pipeline), that file is
// part of the root's pipeline, its local includes relative to the root,
// and linted there; linted as a project of its own it would be read
// wrongly (issue 15). Targets come parents first (findTargets sorts
// them), and only a target that is linted skips others.
func skipReached(results []result) {
	read := map[string]bool{}
	for i := range results {
		if results[i].config != "" && read[results[i].config] {
			results[i].skip = true
			continue
		}
		for _, f := range results[i].reads {
			if f != results[i].config {
				read[f] = true
			}
		}
	}
}

// findTargets turns the paths into projects and files.
func findTargets(r Request) ([]target, error) {
	var out []target
	prefix := func(dir string) string {
		if len(r.Paths) == 1 && !r.Recursive {
			return ""
		}
		return filepath.ToSlash(filepath.Clean(dir))
	}
	for _, p := range r.Paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, &PathError{Path: p, Err: err}
		}
		switch {
		case !fi.IsDir():
			out = append(out, target{file: p, prefix: filepath.ToSlash(filepath.Clean(p)), rootPrefix: prefix(p) != ""})
		case r.Recursive:
			projects, err := findProjects(p, r.CIConfig)
			if err != nil {
				return nil, fmt.Errorf("lint: searching %s: %w", p, err)
			}
			if len(projects) == 0 {
				return nil, &PathError{Path: p, Err: ErrNoConfig}
			}
			for _, pr := range projects {
				out = append(out, target{dir: pr.dir, prefix: prefix(pr.dir), weight: pr.yaml})
			}
		default:
			if _, err := os.Stat(filepath.Join(p, r.CIConfig)); err != nil {
				return nil, &PathError{Path: p, Err: ErrNoConfig}
			}
			out = append(out, target{dir: p, prefix: prefix(p)})
		}
	}
	// A lone file's prefix is its path until its root is known: the order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].prefix < out[j].prefix })
	return out, nil
}

// project is a directory that holds the CI configuration file, and the
// bytes of YAML files below it (nested projects' included).
type project struct {
	dir  string
	yaml int64
}

// findProjects lists the directories below root that hold ciConfig,
// skipping .git and node_modules, with the YAML they hold.
func findProjects(root, ciConfig string) ([]project, error) {
	var out []project
	sizes := map[string]int64{} // directory -> bytes of YAML in it, then below it
	var dirs []string           // in the walk's (lexical) order
	rel, top := filepath.ToSlash(ciConfig), filepath.ToSlash(filepath.Join(root, ciConfig))
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == ".git" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			dirs = append(dirs, path)
			return nil
		}
		sp := filepath.ToSlash(path)
		if sp == top || strings.HasSuffix(sp, "/"+rel) {
			out = append(out, project{dir: filepath.Clean(strings.TrimSuffix(sp, rel))})
		}
		if ext := filepath.Ext(path); ext == ".yml" || ext == ".yaml" {
			if fi, err := d.Info(); err == nil {
				sizes[filepath.Dir(path)] += fi.Size()
			}
		}
		return nil
	})
	// A directory's bytes go to its parent after its own subdirectories'
	// (the walk lists a parent before its children).
	for i := len(dirs) - 1; i >= 0; i-- {
		if dirs[i] != root {
			sizes[filepath.Dir(dirs[i])] += sizes[dirs[i]]
		}
	}
	for i := range out {
		out[i].yaml = sizes[filepath.FromSlash(out[i].dir)]
	}
	return out, err
}

// absPath is p absolute and clean; p itself, clean, when the working
// directory is unknown.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// relToWorkdir is dir relative to the working directory, slash-separated;
// dir itself when it is elsewhere.
func relToWorkdir(dir string) string {
	wd, err := os.Getwd()
	if err != nil {
		return filepath.ToSlash(dir)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(dir)
	}
	return filepath.ToSlash(rel)
}

func lintTarget(t target, r Request) result {
	po := pipeline.Options{CIConfig: r.CIConfig, Inputs: r.Inputs, Fetcher: r.Fetcher}
	var p *pipeline.Pipeline
	var err error
	config := t.file
	if t.file != "" {
		p, err = pipeline.LoadFile(t.file, po)
	} else {
		p, err = pipeline.LoadProject(t.dir, po)
		config = filepath.Join(t.dir, r.CIConfig)
	}
	config = absPath(config)
	if err != nil {
		return result{err: fmt.Errorf("lint: %w", err), config: config}
	}
	// Findings copy what they need of the model: its memory goes to the
	// next project (issue 15).
	defer p.Release()
	var reads []string
	for _, f := range p.LocalFiles() {
		reads = append(reads, absPath(filepath.Join(p.Root, filepath.FromSlash(f))))
	}
	if t.file != "" {
		t.prefix = ""
		if t.rootPrefix {
			t.prefix = relToWorkdir(p.Root)
		}
	}
	if t.prefix == "." {
		t.prefix = ""
	}
	fs, err := run(p, r.Options, t.prefix)
	if err != nil {
		return result{err: err}
	}
	src := map[string][]byte{}
	for _, f := range p.Files {
		src[prefixPath(t.prefix, f.Path)] = f.Src
	}
	res := result{findings: fs, sources: map[string][]byte{}, config: config, reads: reads}
	for _, f := range fs {
		res.sources[f.Pos.File] = src[f.Pos.File]
	}
	return res
}
