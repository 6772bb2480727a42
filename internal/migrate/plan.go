package migrate

import (
	"fmt"
	"sort"
	"strings"
)

// Plan is what a migration changes and what it refuses; the JSON format
// prints it. It holds names and positions, never a variable's value.
type Plan struct {
	// Project is the project directory or file migrated, as given.
	Project string `json:"project"`
	// Includes are the component includes the migrated jobs use, new or
	// already in the configuration.
	Includes []IncludePlan `json:"includes"`
	// Jobs are the jobs migrated, one entry per job and cloud.
	Jobs []JobPlan `json:"jobs"`
	// Refused are the jobs left as they are, with why and what to do.
	Refused []Refusal `json:"refused"`
	// Files are the files the migration changes.
	Files []string `json:"files"`
}

// IncludePlan is one component include: one identity of one cloud.
type IncludePlan struct {
	File      string            `json:"file"`
	Component string            `json:"component"`
	Cloud     string            `json:"cloud"`
	As        string            `json:"as"`
	Inputs    map[string]string `json:"inputs"`
	// Credentials are the stored variables this identity replaces.
	Credentials []string `json:"credentials"`
	// Existing is an include the configuration already has.
	Existing bool `json:"existing"`
}

// JobPlan is one job moved to one cloud's component.
type JobPlan struct {
	Job   string `json:"job"`
	Rule  string `json:"rule"`
	Cloud string `json:"cloud"`
	// Extends is the hidden job the job now extends.
	Extends string `json:"extends"`
	// Credentials are the stored variables the job no longer reads.
	Credentials []string `json:"credentials"`
	// Removed are the lines and variables removed from where they are
	// written.
	Removed []Removal `json:"removed"`
	// Scripts says how the job gets the component's before_script and
	// after_script: "extends" (it has none of its own), "reference" (its
	// own keep running after a !reference to the component's).
	Scripts string `json:"scripts"`
	// Needs is set when keyless:install was added to the job's needs:.
	Needs bool `json:"needs,omitempty"`
	// Variables are the variables added to the job (Azure's
	// KEYLESS_AZURE_REFRESHABLE).
	Variables []string `json:"variables,omitempty"`
}

// Removal is one line or variable removed.
type Removal struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// What names it: "variables: AWS_ACCESS_KEY_ID", "script line
	// (aws configure set)". Never the value.
	What string `json:"what"`
	// With is the line written in its place, when there is one (Azure's
	// az login with the job's ID token); it holds variable names only.
	With string `json:"with,omitempty"`
}

// Reasons a job is refused.
const (
	ReasonShared        = "shared"         // written in an anchor or template that other jobs keep using
	ReasonNotLocal      = "not-local"      // written in a remote, project, template or component include
	ReasonDynamic       = "dynamic"        // the script builds or passes on credentials migrate cannot follow
	ReasonLowConf       = "low-confidence" // a tool reads keys from the environment; none in sight
	ReasonNoIdentity    = "no-identity"    // no flag or mapping names the identity that replaces the credential
	ReasonLayout        = "layout"         // YAML written in a way migrate does not edit (flow style, aliases)
	ReasonChild         = "child-pipeline"
	ReasonDefaultScript = "default-script" // before_script/after_script from default: or the top level
	ReasonEmptyScript   = "empty-script"   // the script is only the credential setup
	ReasonNpmPackage    = "npm-package"    // the npm package the job publishes cannot be read (issue 18)
	ReasonRegistry      = "registry"       // the job publishes to a registry other than the component's (issue 18)
)

// Refusal is a job migrate leaves as it is.
type Refusal struct {
	Job    string `json:"job"`
	Rule   string `json:"rule"`
	Cloud  string `json:"cloud"`
	Reason string `json:"reason"`
	// Message says what is in the way, Manual what to do by hand.
	Message string `json:"message"`
	Manual  string `json:"manual"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
}

// count is "1 job", "2 jobs".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Summary is one line per outcome, for a terminal.
func (p *Plan) Summary() string {
	var b strings.Builder
	jobs := map[string]bool{}
	for _, j := range p.Jobs {
		jobs[j.Job] = true
	}
	fmt.Fprintf(&b, "migrate %s: %s migrated, %d refused, %s changed\n", p.Project, count(len(jobs), "job"), len(p.Refused), count(len(p.Files), "file"))
	for _, r := range p.Refused {
		at := ""
		switch {
		case r.File != "" && r.Line > 0:
			at = fmt.Sprintf("%s:%d: ", r.File, r.Line)
		case r.File != "":
			at = r.File + ": "
		}
		fmt.Fprintf(&b, "%srefused job %q (%s, %s): %s; %s\n", at, r.Job, r.Cloud, r.Reason, r.Message, r.Manual)
	}
	return b.String()
}

func (p *Plan) sort() {
	// Lists are [] in the JSON plan, never null.
	p.Includes = nonNil(p.Includes)
	p.Jobs = nonNil(p.Jobs)
	p.Refused = nonNil(p.Refused)
	p.Files = nonNil(p.Files)
	for i := range p.Jobs {
		p.Jobs[i].Removed = nonNil(p.Jobs[i].Removed)
		p.Jobs[i].Credentials = nonNil(p.Jobs[i].Credentials)
	}
	sort.SliceStable(p.Refused, func(i, j int) bool {
		a, b := p.Refused[i], p.Refused[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Job < b.Job
	})
	sort.Strings(p.Files)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
