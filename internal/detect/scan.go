package detect

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Info describes one detector, for documentation and tests.
type Info struct {
	ID          string
	Kind        Kind
	Description string
}

// detector is one entry of the registry: what it reports and how it wins an
// overlap against another detector's match (higher rank wins at equal
// confidence).
type detector struct {
	Info
	rank int
}

// Overlap ranks: a token with a documented prefix or structure is more
// specific than a password found by its position in a command, which is more
// specific than a secret-named variable's value.
const (
	rankGeneric    = 1
	rankContext    = 2
	rankPrefix     = 3
	rankStructured = 4
)

// family is a set of detectors that share one scan function (one file
// each). Scan calls the scan functions directly rather than through the
// registry, so that the scanner stays on the stack.
type family struct {
	detectors []detector
}

// families is the registry, in documentation order.
var families = []family{
	awsFamily,
	gcpFamily,
	azureFamily,
	gitlabFamily,
	vaultFamily,
	privateKeyFamily,
	registryFamily,
	urlFamily,
	packageFamily,
	serviceFamily,
	genericFamily,
}

// byID indexes the registry. It is filled by init because the scan
// functions refer to it, which a variable initializer cannot express.
var byID map[string]detector

func init() {
	byID = make(map[string]detector)
	for _, f := range families {
		for _, d := range f.detectors {
			if _, dup := byID[d.ID]; dup {
				panic("detect: duplicate detector id " + d.ID)
			}
			byID[d.ID] = d
		}
	}
}

// Detectors lists every detector (id, kind, description), in registry order.
func Detectors() []Info {
	var out []Info
	for _, f := range families {
		for _, d := range f.detectors {
			out = append(out, d.Info)
		}
	}
	return out
}

// scanner carries one Scan call's input and its candidate matches.
type scanner struct {
	v    string
	ctx  Context
	trig uint32 // triggers(v)
	// keyUpper and keySecret are ctx.Key in upper case and
	// SecretName(ctx.Key), computed once.
	keyUpper  string
	keySecret bool
	cands     []Match
}

// has reports whether the value contains the keyword of trigger t.
func (s *scanner) has(t uint32) bool { return s.trig&t != 0 }

// add records a candidate. desc overrides the detector's description when
// one detector reports several variants (an ASIA key id); it must never be
// built from the value.
func (s *scanner) add(id string, start, end int, conf Confidence, desc string) {
	d, ok := byID[id]
	if !ok {
		panic("detect: unknown detector id " + id)
	}
	if start < 0 || end > len(s.v) || start >= end {
		return
	}
	if desc == "" {
		desc = d.Description
	}
	s.cands = append(s.cands, Match{
		Detector:    id,
		Kind:        d.Kind,
		Start:       start,
		End:         end,
		Confidence:  conf,
		Hint:        Hint(s.v[start:end]),
		Description: desc,
	})
}

// Scan returns the secrets in value, in order of Start, non-overlapping.
// When candidates overlap, the higher confidence wins, then the more
// specific detector (a prefixed token over a password found by position
// over a secret-named variable), then the longer match.
//
// Scan pairs an AWS access key id with a secret access key found in the same
// value (Match.Paired). Pairing across the variables of one scope is the
// caller's job: see Pair.
func Scan(value string, ctx Context) []Match {
	if len(value) < 8 {
		// No detector reports anything shorter; the generic detector
		// needs 12 characters.
		return nil
	}
	s := scanner{v: value, ctx: ctx, trig: triggers(value)}
	if ctx.Key != "" {
		s.keyUpper = strings.ToUpper(ctx.Key)
		s.keySecret = SecretName(ctx.Key)
	}
	if s.trig == 0 && !s.keySecret {
		return nil
	}
	scanAWS(&s)
	scanGCP(&s)
	scanAzure(&s)
	scanGitLab(&s)
	scanVault(&s)
	scanPrivateKey(&s)
	scanRegistry(&s)
	scanURLs(&s)
	scanPackages(&s)
	scanServices(&s)
	scanGeneric(&s)
	if len(s.cands) == 0 {
		return nil
	}
	out := resolve(s.cands)
	Pair(out)
	return out
}

// resolve keeps the best of overlapping candidates and sorts by Start.
func resolve(c []Match) []Match {
	if len(c) == 1 {
		return c
	}
	sort.SliceStable(c, func(i, j int) bool {
		a, b := c[i], c[j]
		if a.Confidence != b.Confidence {
			return a.Confidence > b.Confidence
		}
		if ra, rb := byID[a.Detector].rank, byID[b.Detector].rank; ra != rb {
			return ra > rb
		}
		if la, lb := a.End-a.Start, b.End-b.Start; la != lb {
			return la > lb
		}
		return a.Start < b.Start
	})
	// out stays sorted by Start and non-overlapping, so the neighbours
	// found by binary search are the only ones a candidate can overlap.
	var out []Match
	for _, m := range c {
		k := sort.Search(len(out), func(i int) bool { return out[i].Start >= m.Start })
		if k > 0 && out[k-1].End > m.Start {
			continue
		}
		if k < len(out) && out[k].Start < m.End {
			continue
		}
		out = append(out, Match{})
		copy(out[k+1:], out[k:])
		out[k] = m
	}
	return out
}

// Detector ids that Pair and the lint rules pair across a scope.
const (
	AWSAccessKeyIDDetector     = "aws-access-key-id"
	AWSSecretAccessKeyDetector = "aws-secret-access-key"
)

// Pair sets Paired on every AWS access key id and secret access key in the
// given matches when both appear among them. Pass the matches of all the
// variables of one scope (a job's variables plus the global ones) to pair
// across values; Scan already pairs within one value. Pair changes the
// slices' elements in place.
func Pair(matches ...[]Match) {
	var id, key bool
	for _, ms := range matches {
		for _, m := range ms {
			switch m.Detector {
			case AWSAccessKeyIDDetector:
				id = true
			case AWSSecretAccessKeyDetector:
				key = true
			}
		}
	}
	if !id || !key {
		return
	}
	for _, ms := range matches {
		for i := range ms {
			switch ms[i].Detector {
			case AWSAccessKeyIDDetector, AWSSecretAccessKeyDetector:
				ms[i].Paired = true
			}
		}
	}
}

// hintMin is the shortest secret whose first characters a hint shows: below
// it, four characters are too large a share of the value.
const hintMin = 12

// Hint is what findings may show of a secret: its first four characters and
// its length, e.g. "AKIA… (20 chars)". Secrets shorter than 12 characters
// show only their length: "(8 chars)".
func Hint(secret string) string {
	n := utf8.RuneCountInString(secret)
	length := "(" + strconv.Itoa(n) + " chars)"
	if n < hintMin {
		return length
	}
	i, r := 0, 0
	for r < 4 {
		_, size := utf8.DecodeRuneInString(secret[i:])
		i += size
		r++
	}
	return secret[:i] + "… " + length
}
