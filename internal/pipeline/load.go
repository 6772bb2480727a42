package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/pipeline/yamlfast"
)

// defaultMaxFileSize bounds one file when Options.MaxFileSize is 0.
const defaultMaxFileSize = 8 << 20

// defaultMaxTotalSize bounds the whole configuration when
// Options.MaxTotalSize is 0: GitLab's ci_max_total_yaml_size_bytes default
// since GitLab 17.3, max_yaml_size_bytes (2 MB) × ci_max_includes (150)
// (https://docs.gitlab.com/administration/instance_limits/#maximum-size-of-the-entire-cicd-configuration).
// GitLab adds up the included files as it fetches them and refuses the
// pipeline past it ("Total size of combined CI/CD configuration is too big",
// lib/gitlab/ci/config/external/mapper/verifier.rb); a pipeline GitLab runs
// with its default limits is under it. Issue 13, item 8.
const defaultMaxTotalSize = 314_572_800

// LoadProject reads dir's CI config (o.CIConfig, default ".gitlab-ci.yml")
// and everything it includes. The error is only for what stops reading
// altogether: the main file missing or unreadable (errors.Is(err,
// fs.ErrNotExist) works). Everything else (YAML errors, bad includes,
// extends cycles, limits) is a Problem in the result.
func LoadProject(dir string, o Options) (*Pipeline, error) {
	name := o.CIConfig
	if name == "" {
		name = ".gitlab-ci.yml"
	}
	return load(dir, filepath.Join(dir, filepath.FromSlash(name)), o)
}

// LoadFile reads one YAML file as a pipeline's main file. The project root
// is the nearest ancestor directory holding .git or .gitlab-ci.yml, else
// the file's own directory; local includes resolve against it.
func LoadFile(path string, o Options) (*Pipeline, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load ci file %q: %w", path, err)
	}
	return load(projectRoot(filepath.Dir(abs)), abs, o)
}

// projectRoot walks up from dir to a directory holding .git or
// .gitlab-ci.yml.
func projectRoot(dir string) string {
	for d := dir; ; {
		for _, marker := range []string{".git", ".gitlab-ci.yml"} {
			if _, err := os.Stat(filepath.Join(d, marker)); err == nil {
				return d
			}
		}
		up := filepath.Dir(d)
		if up == d {
			return dir
		}
		d = up
	}
}

func load(root, file string, o Options) (*Pipeline, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read ci config: %w; check the path or pass the file to lint", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read ci config %q: %w", file, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read ci config %q: is a directory; pass a YAML file", file)
	}
	name := filepath.Base(file)
	if rel, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(rel, "..") {
		name = filepath.ToSlash(rel)
	}
	l := newLoader(root, o)
	if st.Size() > l.maxSize() {
		l.p.Files = append(l.p.Files, &File{Path: name})
		l.problem(Pos{File: name}, "limit", fmt.Sprintf("file is larger than %d bytes; it is not read (raise the limit if it is really a CI config)", l.maxSize()))
		l.finish(&Node{Kind: Map, Tag: "!!map", Pos: Pos{File: name}})
		return l.p, nil
	}
	// Read into a buffer of the file's size: io.ReadAll would grow one
	// from 512 bytes, copying a large file several times (issue 15).
	buf := bytes.NewBuffer(make([]byte, 0, st.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, l.maxSize()+1)); err != nil {
		return nil, fmt.Errorf("read ci config %q: %w", file, err)
	}
	defer l.release()
	return l.run(name, buf.Bytes()), nil
}

// Parse reads src as the main file named name (for positions), with root
// as the project directory for local includes ("" = no local includes
// readable). It never fails: every problem is in the result.
func Parse(root, name string, src []byte, o Options) *Pipeline {
	l := newLoader(root, o)
	defer l.release()
	return l.run(name, src)
}

// loader reads one pipeline: the main one, or a child pipeline a trigger
// job starts (child.go), which has a loader of its own sharing *shared.
type loader struct {
	o         Options
	root      string
	p         *Pipeline
	seen      map[string]*Node
	seenFiles map[string][]string
	// nfiles counts this pipeline's included files: GitLab's include
	// limits hold per pipeline.
	nfiles int
	// level is how deep below the main pipeline this one is (0 for the
	// main pipeline, 1 for its children...).
	level int
	*shared
}

// shared is what the loaders of a main pipeline and of its child
// pipelines share: the bounds on what is read in all, and what was read.
type shared struct {
	noted map[IncludeKind]bool
	tree  []string
	// total is the bytes of the files read; over is set once a file
	// would take it past maxTotal, and no include is read after that.
	total int64
	over  bool
	// nodes counts the YAML nodes of the files converted so far, toward
	// maxTotalNodes.
	nodes int
	// resolveBudget is the nodes resolved jobs may still expand to
	// (maxResolved in all).
	resolveBudget int
	// configs are the child pipelines read, by their configuration
	// (childKey), so that a child several trigger jobs start is read
	// once.
	configs map[string]*Pipeline
	// decoded are the YAML documents of the files read, by path: a
	// child pipeline often includes the files its parent does
	// (omnibus-gitlab's parent and child share 133 KB), and decoding is
	// most of the reading (issue 15). conv only reads yaml.Nodes, so
	// the loaders share them.
	decoded map[string]*decodedFile
	// slab is where conv takes its next Nodes from (conv.alloc), a
	// chunk of nodes, which the main Pipeline keeps for Release.
	slab  []Node
	pslab []Pair // as slab, for pair lists (shared.pairs)
	slabs *nodeSlabs
	// arena holds the YAML nodes decoded, which conv converts: none is
	// used once the pipeline is loaded, and release hands the arena to
	// the next load (issue 15).
	arena *yamlfast.Arena
}

var arenas = sync.Pool{New: func() any { return new(yamlfast.Arena) }}

// release gives the loader's YAML nodes back once the pipeline is loaded:
// the model holds none of them (conv copies what it reads).
func (l *loader) release() {
	if l.p.Parent == nil {
		l.p.nodes = l.shared.slabs
	}
	if a := l.shared.arena; a != nil {
		l.shared.arena, l.shared.decoded = nil, nil
		a.Reset()
		arenas.Put(a)
	}
}

// decodedFile is one file's decoded documents, with the problems decoding
// it found, for the same path with the same content read again.
type decodedFile struct {
	src      []byte
	docs     []*yaml.Node
	problems []Problem
}

func newLoader(root string, o Options) *loader {
	return &loader{
		o: o, root: root,
		p:         &Pipeline{Root: root},
		seen:      map[string]*Node{},
		seenFiles: map[string][]string{},
		shared: &shared{noted: map[IncludeKind]bool{}, configs: map[string]*Pipeline{}, resolveBudget: maxResolved,
			decoded: map[string]*decodedFile{}, arena: arenas.Get().(*yamlfast.Arena), slabs: slabPool.Get().(*nodeSlabs)},
	}
}

func (l *loader) maxSize() int64 {
	if l.o.MaxFileSize > 0 {
		return l.o.MaxFileSize
	}
	return defaultMaxFileSize
}

// defaultMaxTotalNodes bounds the nodes of the whole configuration when
// Options.MaxTotalNodes is 0. Bytes alone do not bound memory: GitLab's
// total (300 MiB) of job-heavy YAML is tens of millions of nodes and
// gigabytes here (40 includes of 7.5 MB took 6.3 GB). GitLab's own CI
// configuration, the largest we know, is about 470 KB in some 100 files
// and 50,000 nodes; two million leaves forty times that.
const defaultMaxTotalNodes = 2_000_000

func (l *loader) maxTotalNodes() int {
	if l.o.MaxTotalNodes > 0 {
		return l.o.MaxTotalNodes
	}
	return defaultMaxTotalNodes
}

func (l *loader) maxTotal() int64 {
	if l.o.MaxTotalSize > 0 {
		return l.o.MaxTotalSize
	}
	return defaultMaxTotalSize
}

// admit counts the size bytes of file name (met at pos) toward the whole
// configuration, or, when they would take it past maxTotal, reports it
// once and returns false: that file and every later include are not read.
func (l *loader) admit(pos Pos, name string, size int64) bool {
	if l.over {
		return false
	}
	if l.total+size <= l.maxTotal() {
		l.total += size
		return true
	}
	l.over = true
	l.problem(pos, "limit", fmt.Sprintf("the configuration is larger than %d bytes, the most keyless reads of one: %d bytes are read in %d files and %q would add %d; "+
		"it and later includes are not read, so what they define is not checked. GitLab refuses a configuration larger than ci_max_total_yaml_size_bytes "+
		"(default %d bytes): include fewer or smaller files", l.maxTotal(), l.total, len(l.p.Files), name, size, int64(defaultMaxTotalSize)))
	return false
}

func (l *loader) problem(pos Pos, kind, msg string) {
	l.p.Problems = append(l.p.Problems, Problem{Pos: pos, Kind: kind, Message: msg})
}

func (l *loader) run(name string, src []byte) *Pipeline {
	if int64(len(src)) > l.maxSize() {
		l.p.Files = append(l.p.Files, &File{Path: name})
		l.problem(Pos{File: name}, "limit", fmt.Sprintf("file is larger than %d bytes; it is not read", l.maxSize()))
		l.finish(&Node{Kind: Map, Tag: "!!map", Pos: Pos{File: name}})
		return l.p
	}
	if !l.admit(Pos{File: name}, name, int64(len(src))) {
		l.p.Files = append(l.p.Files, &File{Path: name})
		l.finish(&Node{Kind: Map, Tag: "!!map", Pos: Pos{File: name}})
		return l.p
	}
	l.p.key = childKey([]incEntry{{inc: &Include{Kind: IncludeLocal, Location: name}}})
	l.finish(l.loadFile(name, src, incEntry{}, fileCtx{}, 0))
	return l.p
}

func (l *loader) finish(global *Node) {
	l.resolve(global)
	order := make(map[string]int, len(l.p.Files))
	for i, f := range l.p.Files {
		if _, ok := order[f.Path]; !ok {
			order[f.Path] = i
		}
	}
	rank := func(f string) int {
		if i, ok := order[f]; ok {
			return i
		}
		return len(order)
	}
	sort.SliceStable(l.p.Problems, func(i, j int) bool {
		a, b := l.p.Problems[i].Pos, l.p.Problems[j].Pos
		if ra, rb := rank(a.File), rank(b.File); ra != rb {
			return ra < rb
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	l.children()
}

// loadFile reads one file and returns its top level with its own includes
// merged in: included files first, in order, then the file's own keys,
// which win (https://docs.gitlab.com/ci/yaml/includes/#merge-method-for-include).
func (l *loader) loadFile(name string, src []byte, e incEntry, ctx fileCtx, depth int) *Node {
	main := e.inc == nil
	f := &File{Path: name, Src: src}
	l.p.Files = append(l.p.Files, f)
	empty := &Node{Kind: Map, Tag: "!!map", Pos: Pos{File: name, Line: 1, Col: 1}}
	docs := l.decodeDocs(name, src)

	var header, body *yaml.Node
	switch {
	case len(docs) >= 2 && isSpecHeader(docs[0]):
		header, body = docs[0], docs[1]
		if len(docs) > 2 {
			l.problem(Pos{File: name, Line: docs[2].Line}, "syntax", "file has more than two YAML documents; GitLab reads a spec: header and one body")
		}
	case len(docs) == 1 && isSpecHeader(docs[0]):
		header = docs[0]
	case len(docs) >= 1:
		body = docs[0]
		if len(docs) > 2 {
			l.problem(Pos{File: name, Line: docs[2].Line}, "syntax", "file has more than two YAML documents; GitLab reads a spec: header and one body")
		}
	}

	c := &conv{l: l, file: name}
	defer func() { l.nodes += c.nodes }()
	var given map[string]*Node
	where := Pos{File: name, Line: 1, Col: 1}
	if !main {
		given, where = e.inputs, e.inc.Pos
	}
	if header != nil {
		h, _, _ := c.node(header, 0)
		if main {
			given = l.cliInputs(h, l.o.Inputs, where)
			if sp := h.Lookup("spec", "inputs"); sp != nil {
				where = sp.Pos
			}
		}
		ip, values := l.specInputs(name, h, given, where, main)
		if !main && e.inc.Kind == IncludeComponent {
			ip.component = componentFields(e.inc.Location)
		}
		c.interp, f.Inputs = ip, values
	} else if len(given) > 0 || (main && len(l.o.Inputs) > 0) {
		l.problem(where, "inputs", fmt.Sprintf("inputs are given but %s has no spec:inputs header; remove the inputs or add the header", name))
	}

	if body == nil {
		if main {
			l.problem(Pos{File: name, Line: 1, Col: 1}, "syntax", "file has no content; GitLab needs at least one job")
		} else {
			l.problem(e.inc.Pos, "include", fmt.Sprintf("included file %q is empty; GitLab refuses it", name))
		}
		return empty
	}
	top, _, _ := c.node(body, 0)
	switch top.Kind {
	case Map:
	case Null:
		if main {
			l.problem(top.Pos, "syntax", "file has no content; GitLab needs at least one job")
		} else {
			l.problem(e.inc.Pos, "include", fmt.Sprintf("included file %q is empty; GitLab refuses it", name))
		}
		return empty
	default:
		l.problem(top.Pos, "syntax", "the top level of a CI file must be a mapping of keywords and jobs")
		return empty
	}

	inc := top.Get("include")
	if inc == nil {
		return top
	}
	var merged *Node
	for _, e := range l.parseIncludes(inc, ctx) {
		for _, n := range l.include(e, depth) {
			merged = l.deepMerge(merged, n, false)
		}
	}
	// The included files have no include: left (loadFile), so the
	// file's own is all there is to drop.
	return l.mergeWithout(merged, top, false, "include")
}

// isSpecHeader is a first document whose top level holds spec:
// (https://docs.gitlab.com/ci/yaml/#spec).
func isSpecHeader(d *yaml.Node) bool {
	if d.Kind == yaml.DocumentNode && len(d.Content) == 1 {
		d = d.Content[0]
	}
	if d.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(d.Content); i += 2 {
		if d.Content[i].Value == "spec" {
			return true
		}
	}
	return false
}

// Job returns the job named name, or nil.
func (p *Pipeline) Job(name string) *Job {
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}
