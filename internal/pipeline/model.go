// Package pipeline reads GitLab CI/CD configuration into a positioned model
// that resolves as GitLab does: includes, spec:inputs, anchors and << merges,
// !reference, extends and default: inheritance. Every value keeps the file,
// line and column where it is written (for a merged value, where it was
// written, not where it was merged), and problems do not stop the reading:
// each is recorded and the rest of the configuration is still modelled.
package pipeline

import (
	"io/fs"
	"sync"
)

// Pos is where a value is written. File is slash-separated and relative to
// the project root; Line and Col are 1-based (0 when unknown).
type Pos struct {
	File string
	Line int
	Col  int
}

// Kind is the kind of a Node.
type Kind uint8

const (
	Null Kind = iota
	Scalar
	Map
	Seq
)

// Node is one YAML value after anchors, aliases, << merges, spec:inputs
// interpolation and (in resolved jobs) !reference, extends and default:
// are applied. Scalars keep their text; Tag tells how GitLab reads it.
type Node struct {
	Kind Kind
	// style is how a scalar is written: 0 plain, '|' literal, '>'
	// folded, '\'' or '"' quoted. Pipeline.At reads it to find a value
	// inside the scalar.
	style byte
	// Tag is the resolved YAML tag: "!!str", "!!int", "!!bool", "!!float",
	// "!!null", or a custom tag such as "!reference" left unresolved.
	Tag string
	// Value is a scalar's text, as GitLab reads it (YAML 1.1 booleans such
	// as yes/on are Tag "!!bool" with Value "true"/"false"; the source
	// text is Raw).
	Value string
	Raw   string
	Pairs []Pair // Map, in source order; a repeated key keeps the last
	// Items are a Seq's items; for a Scalar that ContainerLines joins
	// from an argument list, the arguments, which Pipeline.At reads to
	// place an offset of the joined line.
	Items []*Node
	Pos   Pos
}

// Pair is one key of a Map.
type Pair struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Get returns the value of key in a Map, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Map {
		return nil
	}
	for i := range n.Pairs {
		if n.Pairs[i].Key == key {
			return n.Pairs[i].Value
		}
	}
	return nil
}

// Pipeline is a project's CI/CD configuration, resolved.
type Pipeline struct {
	// Root is the project directory (or the directory of a lone file).
	Root string
	// Files are every file read, the main one first, then includes in
	// the order GitLab reads them, then the files of the child pipelines
	// (Children) not read already.
	Files []*File
	// Global is the merged top level after includes, before jobs are
	// resolved: stages, variables, default, workflow, and every job as
	// written (with anchors applied, without extends).
	Global *Node
	// Jobs are the jobs in definition order, hidden jobs (".name")
	// included, each resolved: extends, !reference and default: applied.
	Jobs []*Job
	// Includes lists every include: entry met, resolved or not.
	Includes []*Include
	// Problems are the syntax and resolution problems, in file order.
	Problems []Problem

	// Children are the child pipelines the jobs start with
	// trigger:include (https://docs.gitlab.com/ci/pipelines/downstream_pipelines/#parent-child-pipelines),
	// each read once however many trigger jobs start it. A child is a
	// pipeline of its own: its jobs resolve against its own files (not
	// the parent's jobs, default: or workflow:), and it has its own
	// Files, Includes (the trigger:include entries among them, with
	// Trigger set) and Problems.
	Children []*Pipeline
	// Parent is the pipeline whose jobs start this one; nil for the
	// main pipeline.
	Parent *Pipeline
	// Triggers are the jobs that start this pipeline: Parent's, then
	// those of other pipelines that start the same configuration.
	Triggers []*Job
	// Upstream are the variables the trigger jobs pass down, as each
	// sees them: the parent's global variables (unless the job has
	// inherit:variables: false), then the job's own and its rules'
	// (unless trigger:forward:yaml_variables is false). GitLab passes
	// them as trigger variables, which win over the child's own
	// (https://docs.gitlab.com/ci/pipelines/downstream_pipelines/#pass-yaml-defined-cicd-variables,
	// https://docs.gitlab.com/ci/yaml/#triggerforward).
	Upstream []Variable

	// key names the configuration read (childKey), to read a child
	// once and to stop at a cycle.
	key string

	// lines caches where each file's lines start, for At: rules ask
	// for positions inside block scalars thousands of times.
	linesMu sync.Mutex
	lines   map[string][]int
	// nodes are the slabs this pipeline's Nodes are in (Release).
	nodes *nodeSlabs
	// views are JobViews' slabs, while the main pipeline has nodes.
	views *viewSlabs
}

// File is one configuration file read.
type File struct {
	Path string // as in Pos.File
	Src  []byte
	// Inputs are the spec:inputs values the file was read with.
	Inputs map[string]string
}

// Job is one job of the pipeline.
type Job struct {
	Name   string
	Hidden bool // the name starts with "."
	// Pos is where the job's key is written.
	Pos Pos
	// Node is the job after extends, !reference and default: inheritance
	// (inherit: default honoured); values keep their own positions.
	Node *Node
	// Extends is the job's extends chain, nearest first.
	Extends []string
}

// IncludeKind is how an include: entry names its file.
type IncludeKind string

const (
	IncludeLocal     IncludeKind = "local"
	IncludeProject   IncludeKind = "project"
	IncludeRemote    IncludeKind = "remote"
	IncludeTemplate  IncludeKind = "template"
	IncludeComponent IncludeKind = "component"
)

// Include is one include: entry.
type Include struct {
	Kind IncludeKind
	// Location is the local path or glob, the remote URL, the template
	// name, the component reference, or for project: the file path.
	Location string
	Project  string // include:project
	Ref      string // include:project ref
	Inputs   map[string]string
	Pos      Pos
	// Resolved is true when the included files were read (Files).
	Resolved bool
	Files    []string
	// Conditional is true when the include has rules: (evaluated
	// conservatively: the file is read as if they matched).
	Conditional bool
	// Trigger is the job whose trigger:include this entry is, in the
	// parent pipeline; nil for an include: entry.
	Trigger *Job
}

// Problem is a syntax or resolution problem.
type Problem struct {
	Pos Pos
	// Kind is "syntax" (YAML GitLab would refuse), "include" (a file that
	// cannot be read or is refused), "unresolved" (an include read only
	// with --online, noted once per kind), "extends", "reference",
	// "inputs" or "limit" (hostile input cut short).
	Kind    string
	Message string
}

// Options configure reading a project.
type Options struct {
	// CIConfig is the main file relative to the project directory;
	// ".gitlab-ci.yml" when empty.
	CIConfig string
	// Inputs are spec:inputs values for the main file (--input k=v); the
	// inputs' defaults fill the rest.
	Inputs map[string]string
	// Fetcher reads project:, remote:, template: and component: includes;
	// nil leaves them unresolved (one "unresolved" problem per kind).
	Fetcher Fetcher
	// MaxFileSize bounds one file (default 8 MiB; GitLab's own limit is
	// smaller); a larger file is a "limit" problem, not read.
	MaxFileSize int64
	// MaxTotalSize bounds the bytes read across the main file and all its
	// includes (default 314572800, GitLab's ci_max_total_yaml_size_bytes
	// default); the file that would take the total over it and every later
	// include are not read, with one "limit" problem.
	MaxTotalSize int64
	// MaxTotalNodes bounds the YAML nodes of the main file and all its
	// includes together (default 2,000,000): what bounds memory, as bytes
	// alone do not. Past it the rest is not read, with one "limit" problem.
	MaxTotalNodes int
	// FS, when set, holds the project's files (paths relative to the
	// project root, without a leading slash): LoadFS reads the main file
	// from it, and local includes are read from it instead of the disk.
	// A glob include needs fs.ReadDir; where FS cannot list directories
	// (an API-backed FS) the glob is an "include" problem.
	FS fs.FS
}

// Fetcher reads an include that is not in the project directory. It
// returns the file's path for positions (e.g. "project:group/p@ref:/ci.yml")
// and its content.
type Fetcher interface {
	Fetch(inc *Include) (path string, src []byte, err error)
}
