// Command lintgen writes a deterministic GitLab CI/CD monorepo with planted synthetic secrets, the
// second data set of bench/lint.sh (keyless lint vs gitleaks; bench/README.md).
//
//	go run ./bench/lintgen -out DIR [-files 5000] [-secrets 500] [-seed 1]
//
// DIR/projects/pNNNN/ is one project: a .gitlab-ci.yml that includes four local files
// (/ci/common.yml, /ci/build.yml, /ci/test.yml, /ci/deploy.yml), five pipeline files in all, each
// 1–10 KB. DIR/planted.tsv lists every planted secret: the file (relative to DIR), the lines a
// finding may be reported on, its kind, the YAML construct it sits in, and the SHA-256 of the
// value, so that found/planted can be counted without writing the secrets a second time.
//
// The secrets are random strings drawn from -seed in each kind's real format; none is real, and
// none is a documented placeholder (AWS's …EXAMPLE keys and the like would be skipped, rightly,
// by a scanner). The same flags always write the same bytes.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// includedFiles are the local files each project's .gitlab-ci.yml includes, in this order.
var includedFiles = []string{"ci/common.yml", "ci/build.yml", "ci/test.yml", "ci/deploy.yml"}

// filesPerProject: the .gitlab-ci.yml and the files it includes.
const filesPerProject = 5

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "lintgen: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("lintgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the monorepo to `DIR` (DIR/projects must not exist yet)")
	files := fs.Int("files", 5000, "number of pipeline `FILES` (5 per project)")
	secrets := fs.Int("secrets", -1, "number of planted `SECRETS` (default: files/10)")
	seed := fs.Uint64("seed", 1, "random `SEED`; the same flags write the same bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: lintgen -out DIR [-files N] [-secrets N] [-seed N]")
	}
	if *files < 1 {
		return fmt.Errorf("-files %d: give at least 1", *files)
	}
	if *secrets < 0 {
		*secrets = *files / 10
	}
	if *secrets > *files {
		return fmt.Errorf("-secrets %d: at most one planting per file, so at most -files (%d)", *secrets, *files)
	}
	root := filepath.Join(*out, "projects")
	if _, err := os.Stat(root); err == nil {
		return fmt.Errorf("%s exists: remove it or choose another -out", root)
	}

	g := newGen(*seed)
	repo := g.monorepo(*files, *secrets)

	var bytesWritten int64
	for _, f := range repo.files {
		p := filepath.Join(*out, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.buf.Bytes(), 0o644); err != nil {
			return err
		}
		bytesWritten += int64(f.buf.Len())
	}
	var tsv bytes.Buffer
	tsv.WriteString("file\tline\tend_line\tkind\tconstruct\tsha256\n")
	for _, r := range repo.planted {
		fmt.Fprintf(&tsv, "%s\t%d\t%d\t%s\t%s\t%s\n", r.file, r.line, r.endLine, r.kind, r.construct, r.sha256)
	}
	if err := os.WriteFile(filepath.Join(*out, "planted.tsv"), tsv.Bytes(), 0o644); err != nil {
		return err
	}
	plantedFiles := map[string]bool{}
	for _, r := range repo.planted {
		plantedFiles[r.file] = true
	}
	fmt.Fprintf(stderr, "lintgen: %d pipeline files (%d bytes) in %d projects under %s; %d secrets planted in %d files, listed in %s\n",
		len(repo.files), bytesWritten, repo.projects, root, len(repo.planted), len(plantedFiles), filepath.Join(*out, "planted.tsv"))
	return nil
}

// plantedRow is one line of planted.tsv.
type plantedRow struct {
	file          string
	line, endLine int
	kind          string
	construct     string
	sha256        string
}

type repo struct {
	projects int
	files    []*yfile
	planted  []plantedRow
}

// monorepo lays out the projects, decides which files get which planting, then renders them.
func (g *gen) monorepo(nfiles, nsecrets int) repo {
	nproj := (nfiles + filesPerProject - 1) / filesPerProject
	type slot struct {
		project int
		role    string // "root" or an entry of includedFiles
	}
	var slots []slot
	for p := 0; p < nproj; p++ {
		for i := 0; i < filesPerProject && len(slots) < nfiles; i++ {
			role := "root"
			if i > 0 {
				role = includedFiles[i-1]
			}
			slots = append(slots, slot{p, role})
		}
	}

	// Plantings cycle through plantSpecs; "included-file" needs an included file, the rest go
	// anywhere. Each file gets at most one planting; an AWS key pair counts two secrets.
	var roots, included []int
	for i, s := range slots {
		if s.role == "root" {
			roots = append(roots, i)
		} else {
			included = append(included, i)
		}
	}
	g.r.Shuffle(len(roots), func(i, j int) { roots[i], roots[j] = roots[j], roots[i] })
	g.r.Shuffle(len(included), func(i, j int) { included[i], included[j] = included[j], included[i] })
	pop := func(pool *[]int) (int, bool) {
		if len(*pool) == 0 {
			return 0, false
		}
		v := (*pool)[0]
		*pool = (*pool)[1:]
		return v, true
	}
	plans := make([]*plantSpec, len(slots))
	left := nsecrets
	for k := 0; left > 0 && len(roots)+len(included) > 0; k++ {
		spec := plantSpecs[k%len(plantSpecs)]
		if spec.secrets > left {
			continue // the next spec plants one secret
		}
		var at int
		var ok bool
		switch {
		case spec.construct == "included-file":
			at, ok = pop(&included)
		case g.r.IntN(len(roots)+len(included)) < len(roots):
			at, ok = pop(&roots)
		default:
			at, ok = pop(&included)
		}
		if !ok {
			continue // no included file left for this spec; the others still fit a root file
		}
		s := spec
		s.variant = k / len(plantSpecs)
		plans[at] = &s
		left -= spec.secrets
	}

	rp := repo{projects: nproj}
	sizes := make([]int, nproj)
	for _, s := range slots {
		sizes[s.project]++
	}
	var pr *project
	for i, s := range slots {
		if pr == nil || pr.index != s.project {
			pr = g.project(s.project, sizes[s.project])
		}
		f := g.file(pr, s.role, plans[i])
		rp.files = append(rp.files, f)
		rp.planted = append(rp.planted, f.planted...)
	}
	sort.SliceStable(rp.planted, func(i, j int) bool {
		a, b := rp.planted[i], rp.planted[j]
		if a.file != b.file {
			return a.file < b.file
		}
		return a.line < b.line
	})
	return rp
}

// yfile is one YAML file being written; line is the number of lines written so far, so that a
// planting knows its own line numbers.
type yfile struct {
	path    string
	buf     bytes.Buffer
	line    int
	planted []plantedRow
}

// l writes lines; each argument is one line without its newline.
func (f *yfile) l(lines ...string) {
	for _, s := range lines {
		if strings.Contains(s, "\n") {
			panic("lintgen: newline inside a line: " + s)
		}
		f.buf.WriteString(s)
		f.buf.WriteByte('\n')
		f.line++
	}
}

// next is the 1-based number of the next line to be written.
func (f *yfile) next() int { return f.line + 1 }

// gen holds the one random source every choice is drawn from, in a fixed order.
type gen struct {
	r *rand.Rand
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, 0x6b65796c6573735f))} // "keyless_"
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) chance(percent int) bool { return g.r.IntN(100) < percent }
