package report

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// shardProjects returns the projects of shard s (all when s is nil), in
// project ID order: the i-th project (0-based) in that order belongs to
// shard i % Total + 1. The order is the same in every job of a parallel
// run, as long as no project is created or deleted in between.
func shardProjects(ps []gitlabapi.Project, s *Shard) []gitlabapi.Project {
	sorted := slices.Clone(ps)
	slices.SortFunc(sorted, func(a, b gitlabapi.Project) int { return cmp.Compare(a.ID, b.ID) })
	if s == nil || s.Total <= 1 {
		return sorted
	}
	var out []gitlabapi.Project
	for i, p := range sorted {
		if inShard(i, s) {
			out = append(out, p)
		}
	}
	return out
}

// inShard reports whether the i-th project (0-based, in project ID order)
// belongs to shard s.
func inShard(i int, s *Shard) bool {
	return s == nil || s.Total <= 1 || i%s.Total == s.Index-1
}

func sameShard(a, b *Shard) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func shardString(s *Shard) string {
	if s == nil {
		return "none (a whole run)"
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Total)
}

// projectDone reports whether a project of a saved report was read: a
// resumed run does not read it again. A 401, 403 or 404 is an answer;
// another failure (a 5xx, a timeout) is worth another try.
func projectDone(p *Project) bool {
	switch p.Status {
	case "ok", "unauthorized", "forbidden", "not-found":
		return p.ID != 0
	}
	return false
}

// resumedProjects returns the projects of a saved report that were read,
// by ID, each with its own credentials and the uses its jobs make of
// every credential, as Collect would have read them.
func resumedProjects(prev *Report) map[int64]projectResult {
	out := map[int64]projectResult{}
	byPath := map[string]int64{}
	for _, p := range prev.Projects {
		if !projectDone(&p) {
			continue
		}
		p.Findings = append([]Finding{}, p.Findings...)
		out[p.ID] = projectResult{project: p, uses: map[string][]Usage{}}
		byPath[p.Path] = p.ID
	}
	for _, c := range prev.Credentials {
		if c.Level == levelProject {
			if id, ok := byPath[c.Owner]; ok {
				r := out[id]
				cc := c
				cc.Usage = nil
				cc.Exposure = slices.Clone(c.Exposure)
				r.creds = append(r.creds, cc)
				out[id] = r
			}
		}
		for _, u := range c.Usage {
			if id, ok := byPath[u.Project]; ok {
				out[id].uses[c.ID] = append(out[id].uses[c.ID], u)
			}
		}
	}
	return out
}

// Merge combines the partial reports of one sharded run (--shard i/n,
// every shard 1..n once, of the same scope, instance and keyless version)
// into the report of the whole run: projects side by side, each instance
// and group credential (which every shard reports) once with the uses
// found by all shards, replacements and the summary computed again.
func Merge(parts ...*Report) (*Report, error) {
	if len(parts) == 0 {
		return nil, errors.New("no partial reports to merge")
	}
	first := parts[0]
	for i, p := range parts {
		n := i + 1
		switch {
		case p == nil:
			return nil, fmt.Errorf("part %d is empty", n)
		case p.Version != Version:
			return nil, fmt.Errorf("part %d is report version %d, this keyless reads version %d", n, p.Version, Version)
		case p.Shard == nil:
			return nil, option.Errorf("part %d is a whole report, not a shard: merge the files written with %s", n, option.Ref(OptShard))
		case !sameScope(p.Scope, first.Scope):
			return nil, fmt.Errorf("part %d is of %s, part 1 of %s: merge the shards of one run", n, scopeString(p.Scope), scopeString(first.Scope))
		case p.GitLabURL != first.GitLabURL:
			return nil, fmt.Errorf("part %d is of %q, part 1 of %q: merge the shards of one run", n, p.GitLabURL, first.GitLabURL)
		case p.Tool != first.Tool:
			return nil, fmt.Errorf("part %d was written by %s %s, part 1 by %s %s: run every shard with the same keyless", n, p.Tool.Name, p.Tool.Version, first.Tool.Name, first.Tool.Version)
		case p.Shard.Total != first.Shard.Total:
			return nil, fmt.Errorf("part %d is shard %d/%d, part 1 is one of %d shards: merge the shards of one run", n, p.Shard.Index, p.Shard.Total, first.Shard.Total)
		}
	}
	total := first.Shard.Total
	seen := make([]bool, total+1)
	for _, p := range parts {
		i := p.Shard.Index
		if i < 1 || i > total {
			return nil, fmt.Errorf("shard %d/%d is not a shard of %d", i, total, total)
		}
		if seen[i] {
			return nil, fmt.Errorf("shard %d/%d is given twice", i, total)
		}
		seen[i] = true
	}
	var missing []string
	for i := 1; i <= total; i++ {
		if !seen[i] {
			missing = append(missing, fmt.Sprintf("%d/%d", i, total))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("shard %s missing: merge every shard of the run", strings.Join(missing, ", "))
	}

	out := &Report{
		Version:   Version,
		Tool:      first.Tool,
		GitLabURL: first.GitLabURL,
		Scope:     Scope{Kind: first.Scope.Kind, Paths: append([]string{}, first.Scope.Paths...)},
	}
	creds := map[string]int{}
	projects := map[string]bool{}
	for _, p := range parts {
		if p.GeneratedAt.After(out.GeneratedAt) {
			out.GeneratedAt = p.GeneratedAt
		}
		for _, pr := range p.Projects {
			key := strconv.FormatInt(pr.ID, 10)
			if pr.ID == 0 {
				key = "path:" + pr.Path
			}
			if projects[key] {
				continue
			}
			projects[key] = true
			pr.Findings = append([]Finding{}, pr.Findings...)
			out.Projects = append(out.Projects, pr)
		}
		for _, c := range p.Credentials {
			if i, ok := creds[c.ID]; ok {
				out.Credentials[i].Usage = append(out.Credentials[i].Usage, c.Usage...)
				continue
			}
			creds[c.ID] = len(out.Credentials)
			c.Usage = append([]Usage{}, c.Usage...)
			c.Exposure = slices.Clone(c.Exposure)
			out.Credentials = append(out.Credentials, c)
		}
		out.Errors = append(out.Errors, p.Errors...)
		// Every shard reads every group of the scope: the most any shard
		// read, in case one missed some.
		out.Summary.Groups = max(out.Summary.Groups, p.Summary.Groups)
		out.Summary.Subgroups = max(out.Summary.Subgroups, p.Summary.Subgroups)
	}
	finish(out)
	for _, p := range parts {
		if r := p.Summary.Requests; r != nil {
			if out.Summary.Requests == nil {
				out.Summary.Requests = &Requests{}
			}
			out.Summary.Requests.Sent += r.Sent
			out.Summary.Requests.Throttled += r.Throttled
			out.Summary.Requests.Retried += r.Retried
		}
	}
	return out, nil
}
