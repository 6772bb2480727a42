package lint

import (
	"hash/maphash"
	"slices"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// grams is a Bloom filter of the byte trigrams of a text, ASCII letters
// folded to lower case: a string of three bytes or more can be in the
// text, in any case, only if each of its trigrams is in the filter. Rules ask whether a job's script mentions a command
// dozens of times; most jobs mention none of them, and the filter says so
// without reading the script again (issue 15's bench-lint: the scans of
// every job's lines for every rule were a fifth of the run).
type grams [64]uint64 // 4,096 bits

func gramBit(a, b, c byte) uint32 {
	return (uint32(fold(a))<<16 | uint32(fold(b))<<8 | uint32(fold(c))) * 2654435761 >> 20
}

func fold(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func (g *grams) add(s string) {
	for i := 0; i+3 <= len(s); i++ {
		h := gramBit(s[i], s[i+1], s[i+2])
		g[h>>6] |= 1 << (h & 63)
	}
}

func (g *grams) or(o *grams) {
	for i := range g {
		g[i] |= o[i]
	}
}

// mayHave reports whether sub can be in the text, in any case: false
// means it is not; true, that it may be. A sub shorter than three bytes
// may always be.
func (g *grams) mayHave(sub string) bool {
	if g == nil {
		return true
	}
	for i := 0; i+3 <= len(sub); i++ {
		h := gramBit(sub[i], sub[i+1], sub[i+2])
		if g[h>>6]&(1<<(h&63)) == 0 {
			return false
		}
	}
	return true
}

// mayHaveAny reports whether any of subs can be in the text; always
// when there is no filter.
func (g *grams) mayHaveAny(subs []string) bool {
	if g == nil {
		return true
	}
	for _, s := range subs {
		if g.mayHave(s) {
			return true
		}
	}
	return false
}

// lineGrams holds the filters of single lines, made when a rule first
// asks about a line (lineMayHaveAny): most lines are never asked about,
// as their job's filter already says no.
type lineGrams map[*pipeline.Node]*grams

// jobGrams shares the filters of jobs with the same lines (a template's
// script that many jobs extend), by their first line.
type jobGrams map[*pipeline.Node][]linesGrams

type linesGrams struct {
	lines []*pipeline.Node
	g     *grams
}

// of returns the filter of lines, made once for the jobs that have them.
func (jg jobGrams) of(lines []*pipeline.Node) *grams {
	if len(lines) == 0 {
		return newGrams(lines)
	}
	for _, e := range jg[lines[0]] {
		if slices.Equal(e.lines, lines) {
			return e.g
		}
	}
	g := newGrams(lines)
	jg[lines[0]] = append(jg[lines[0]], linesGrams{lines, g})
	return g
}

// newGrams returns the filter of lines. It is built in a local and
// copied to the heap whole: add reads each word before writing it, and a
// first read of a fresh heap page maps the zero page, whose copy on the
// write that follows makes the kernel flush the other CPUs' TLBs (perf:
// the most such faults of a corpus run were in add).
func newGrams(lines []*pipeline.Node) *grams {
	var g grams
	for _, l := range lines {
		g.add(l.Value)
	}
	out := new(grams)
	*out = g
	return out
}

// lineMayHaveAny reports whether any of subs can be in l, one of the
// job's lines.
func (ji *jobInfo) lineMayHaveAny(l *pipeline.Node, subs ...string) bool {
	if !ji.grams.mayHaveAny(subs) {
		return false
	}
	g, ok := ji.lineGrams[l]
	if !ok {
		g = newGrams([]*pipeline.Node{l})
		ji.lineGrams[l] = g
	}
	return g.mayHaveAny(subs)
}

// varNames is what rules ask of a job's variables by name: the filter of
// their names, and which of them may hold an AppRole secret_id (a name
// with "secret" in it, in any case), the few appRoleSignals reads.
type varNames struct {
	set     nameSet
	secrets []int // indexes in the list
}

func newVarNames(vars []variable) *varNames {
	vn := new(varNames)
	for i, v := range vars {
		vn.set.add(v.Name)
		if hasFold(v.Name, "secret") {
			vn.secrets = append(vn.secrets, i)
		}
	}
	return vn
}

// with returns the names of vars, whose first from entries are those vn
// has the names of.
func (vn *varNames) with(vars []variable, from int) *varNames {
	out := &varNames{set: vn.set, secrets: slices.Clip(vn.secrets)}
	for i := from; i < len(vars); i++ {
		out.set.add(vars[i].Name)
		if hasFold(vars[i].Name, "secret") {
			out.secrets = append(out.secrets, i)
		}
	}
	return out
}

// nameSet is a Bloom filter of variable names, two bits each: lookups of
// names a job does not set, which most are, end without reading its
// variables.
type nameSet [8]uint64 // 512 bits

// nameSeed seeds nameBits' hash. A filter only spares lookups, so
// which names share bits, which changes from run to run, changes no
// result.
var nameSeed = maphash.MakeSeed()

// nameBits hashes with the runtime's string hash, faster than FNV-1a a
// byte at a time: rules look up names of every job's variables.
func nameBits(name string) (uint32, uint32) {
	h := maphash.String(nameSeed, name)
	return uint32(h & 511), uint32(h >> 32 & 511)
}

func (ns *nameSet) add(name string) {
	a, b := nameBits(name)
	ns[a>>6] |= 1 << (a & 63)
	ns[b>>6] |= 1 << (b & 63)
}

func (ns *nameSet) mayHave(name string) bool {
	a, b := nameBits(name)
	return ns[a>>6]&(1<<(a&63)) != 0 && ns[b>>6]&(1<<(b&63)) != 0
}

// hasFold reports whether s holds sub in any case of ASCII letters,
// without allocating (sub in lower case).
func hasFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && fold(s[i+j]) == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}
