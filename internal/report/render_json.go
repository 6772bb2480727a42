package report

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
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

// Render writes what json.Encoder with a two-space indent writes, but the
// three long lists are encoded one element at a time: an instance's report
// runs to a hundred megabytes, and encoding it whole would hold that, and
// its indented copy, in memory at once (bench/report.sh).
func (jsonRenderer) Render(w io.Writer, r *Report) error {
	if r == nil {
		return errNilReport
	}
	out := normalizedReport(r)
	head := *out
	head.Credentials, head.Projects, head.Errors = []Credential{}, []Project{}, []Error{}
	b, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	rest := b
	for _, list := range []struct {
		key  string
		n    int
		item func(i int) any
	}{
		{`"credentials": []`, len(out.Credentials), func(i int) any { return &out.Credentials[i] }},
		{`"projects": []`, len(out.Projects), func(i int) any { return &out.Projects[i] }},
		{`"errors": []`, len(out.Errors), func(i int) any { return &out.Errors[i] }},
	} {
		at := bytes.Index(rest, []byte(list.key))
		if at < 0 {
			return fmt.Errorf("json report: no %s in the header", list.key)
		}
		bw.Write(rest[:at+len(list.key)-1]) // up to and with "["
		rest = rest[at+len(list.key):]
		for i := range list.n {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString("\n    ")
			item, err := json.MarshalIndent(list.item(i), "    ", "  ")
			if err != nil {
				return err
			}
			bw.Write(item)
		}
		if list.n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteByte(']')
	}
	bw.Write(rest)
	bw.WriteByte('\n')
	return bw.Flush()
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
