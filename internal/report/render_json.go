package report

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"strings"
)

// jsonRenderer writes the Report as versioned JSON (Version), the form
// `keyless report merge` and --resume read back. The output is stable:
// credentials sorted by ID, projects by path, errors by what failed,
// usages and lint findings by position, exposures most serious first; an
// empty list is [] and an empty map {}, never null.
type jsonRenderer struct{}

func (jsonRenderer) Render(w io.Writer, r *Report) error {
	if r == nil {
		return errNilReport
	}
	out := normalizedReport(r)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// normalized returns a sorted copy of r with no nil slice or map; r is
// left as it is.
func normalizedReport(r *Report) *Report {
	out := *r
	if out.Version == 0 {
		out.Version = Version
	}
	if out.Shard != nil {
		s := *out.Shard
		out.Shard = &s
	}
	out.Scope.Paths = nonNil(slices.Clone(r.Scope.Paths))
	out.Summary.ByKind = nonNilMap(cloneCounts(r.Summary.ByKind))
	out.Summary.ByExposure = nonNilMap(cloneCounts(r.Summary.ByExposure))
	out.Summary.ByLevel = nonNilMap(cloneCounts(r.Summary.ByLevel))

	out.Credentials = make([]Credential, len(r.Credentials))
	for i, c := range r.Credentials {
		c.Exposure = nonNil(sortedExposure(c.Exposure))
		c.Usage = nonNil(sortedUsage(c.Usage))
		c.Replacement.Steps = nonNil(slices.Clone(c.Replacement.Steps))
		out.Credentials[i] = c
	}
	slices.SortStableFunc(out.Credentials, func(a, b Credential) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), byExposure(&a, &b))
	})

	out.Projects = projectsByPath(r)
	for i := range out.Projects {
		p := &out.Projects[i]
		p.Findings = nonNil(sortedFindings(p.Findings))
		p.IDTokenSubClaimComponents = slices.Clone(p.IDTokenSubClaimComponents)
	}
	out.Projects = nonNil(out.Projects)
	out.Errors = nonNil(sortedReportErrors(r))
	return &out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func cloneCounts(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
