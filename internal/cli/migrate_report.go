//go:build !keyless_slim

package cli

import (
	"encoding/json"
	"os"
	"sort"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
	"gitlab.com/keyless-ci/keyless/internal/report"
)

// readReportUses reads a keyless report (--format json) and returns, for
// project, the stored credentials each job of its own pipeline uses, by
// migrate.Use(job, component). With project "", the report must hold one
// project's usage.
func readReportUses(file, project string) (map[string][]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, pathUsage("--from-report "+file, err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil || rep.Version == 0 {
		return nil, usagef("--from-report %s: not the JSON of keyless report (keyless report --format json): %v", file, err)
	}
	projects := map[string]bool{}
	for _, c := range rep.Credentials {
		for _, u := range c.Usage {
			projects[u.Project] = true
		}
	}
	if project == "" {
		if len(projects) != 1 {
			var names []string
			for p := range projects {
				names = append(names, p)
			}
			sort.Strings(names)
			return nil, usagef("--from-report %s: the report shows %d projects using credentials %v: name this one with --project PATH", file, len(projects), names)
		}
		for p := range projects {
			project = p
		}
	}
	out := map[string][]string{}
	for _, c := range rep.Credentials {
		comp := c.Replacement.Component
		if comp == "" {
			continue
		}
		for _, u := range c.Usage {
			if u.Project != project || u.Child != "" {
				continue
			}
			k := migrate.Use(u.Job, comp)
			out[k] = append(out[k], c.Key)
		}
	}
	return out, nil
}
