package report

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Renderer writes a Report in one format. Each format is one file
// (render_<format>.go); NewRenderer is the one place a format is chosen.
type Renderer interface {
	Render(w io.Writer, r *Report) error
}

// renderers is every format, in the order Formats lists them.
var renderers = []struct {
	name string
	new  func() Renderer
}{
	{"markdown", func() Renderer { return markdownRenderer{maxChars: issueDescriptionLimit} }},
	{"json", func() Renderer { return jsonRenderer{} }},
	{"csv", func() Renderer { return csvRenderer{} }},
	{"html", func() Renderer { return htmlRenderer{} }},
}

// NewRenderer returns the renderer of format: "markdown", "json", "csv"
// or "html".
func NewRenderer(format string) (Renderer, error) {
	for _, r := range renderers {
		if r.name == format {
			return r.new(), nil
		}
	}
	return nil, fmt.Errorf("report format %q: use one of %s", format, strings.Join(Formats(), ", "))
}

// Formats lists the format names NewRenderer accepts.
func Formats() []string {
	out := make([]string, len(renderers))
	for i, r := range renderers {
		out[i] = r.name
	}
	return out
}

var errNilReport = errors.New("render report: no report")

// renderKindOrder is the order kinds are listed in; a kind not listed comes
// after them, by name.
var renderKindOrder = []string{KindAWS, KindGCP, KindAzure, KindVault, KindGitLab, KindRegistry,
	KindPackage, KindDatabase, KindPrivateKey, KindSaaS, KindChatWebhook, KindSigning, KindOther}

var kindLabels = map[string]string{
	KindAWS:         "AWS IAM user key",
	KindGCP:         "GCP service account key",
	KindAzure:       "Azure client secret",
	KindVault:       "Vault token",
	KindGitLab:      "GitLab token",
	KindRegistry:    "Registry password",
	KindPackage:     "Package registry token",
	KindDatabase:    "Database password",
	KindPrivateKey:  "Private key",
	KindSaaS:        "SaaS API key",
	KindChatWebhook: "Chat webhook URL",
	KindSigning:     "Signing secret",
	KindOther:       "Other credential",
}

// kindLabel is the name a person reads for kind.
func kindLabel(kind string) string {
	if l, ok := kindLabels[kind]; ok {
		return l
	}
	if kind == "" {
		return "Unknown kind"
	}
	return kind
}

// renderExposureOrder lists the exposures most serious first: how far the
// credential reaches (instance, then group), then who can read it
// (unprotected refs, job logs), then the rest. Reports list a
// credential's exposures in this order, and the HTML chart counts a
// credential under the first of its exposures.
var renderExposureOrder = []string{
	ExposureInstance,
	ExposureGroup,
	ExposureUnprotected,
	ExposureUnmasked,
	ExposureKeyFile,
	ExposureAllEnvs,
	ExposureNotHidden,
}

// exposureWhy says in one line why an exposure matters.
var exposureWhy = map[string]string{
	ExposureInstance:    "every project on the instance gets it, and anyone who can run a pipeline in any of them can read it",
	ExposureGroup:       "every project of the group and its subgroups gets it, not only the jobs that need it",
	ExposureUnprotected: "jobs on unprotected branches and tags get it: anyone who can push a branch can read it",
	ExposureUnmasked:    "a job that prints it shows it in clear in the job log",
	ExposureKeyFile:     "a key file's content in an env_var variable cannot be masked and lands in every process's environment",
	ExposureAllEnvs:     "environment scope * gives it to every job, whatever environment the job deploys to",
	ExposureNotHidden:   "maintainers can read the value in the CI/CD settings and through the API",
}

// exposureNone stands for a credential with no listed exposure in
// counts and the chart.
const exposureNone = "none"

func exposureText(e string) string {
	if w, ok := exposureWhy[e]; ok {
		return w
	}
	return "see the keyless documentation"
}

// rank is the index of s in order, or len(order) when s is not listed.
func listedRank(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

func compareListed(order []string, a, b string) int {
	return cmp.Or(cmp.Compare(listedRank(order, a), listedRank(order, b)), strings.Compare(a, b))
}

// sortedExposure returns e most serious first, without duplicates.
func sortedExposure(e []string) []string {
	out := slices.Clone(e)
	slices.SortFunc(out, func(a, b string) int { return compareListed(renderExposureOrder, a, b) })
	return slices.Compact(out)
}

// worstExposure is the most serious of c's exposures, exposureNone when
// it has none.
func worstExposure(c *Credential) string {
	if e := sortedExposure(c.Exposure); len(e) > 0 {
		return e[0]
	}
	return exposureNone
}

var renderLevelOrder = []string{"instance", "group", "project"}

// byExposure orders credentials for reading, most exposed first: by
// level (instance, group, project), unprotected first, unmasked first,
// more exposures first, then by kind, owner, key, scope and ID.
func byExposure(a, b *Credential) int {
	has := func(c *Credential, e string) int {
		if slices.Contains(c.Exposure, e) {
			return 0
		}
		return 1
	}
	return cmp.Or(
		compareListed(renderLevelOrder, a.Level, b.Level),
		cmp.Compare(has(a, ExposureUnprotected), has(b, ExposureUnprotected)),
		cmp.Compare(has(a, ExposureUnmasked), has(b, ExposureUnmasked)),
		cmp.Compare(len(sortedExposure(b.Exposure)), len(sortedExposure(a.Exposure))),
		compareListed(renderKindOrder, a.Kind, b.Kind),
		strings.Compare(a.Owner, b.Owner),
		strings.Compare(a.Key, b.Key),
		strings.Compare(a.EnvironmentScope, b.EnvironmentScope),
		strings.Compare(a.ID, b.ID),
	)
}

// readingOrder returns pointers to r's credentials, most exposed first.
func readingOrder(r *Report) []*Credential {
	out := make([]*Credential, len(r.Credentials))
	for i := range r.Credentials {
		out[i] = &r.Credentials[i]
	}
	slices.SortStableFunc(out, byExposure)
	return out
}

func compareUsagePos(a, b Usage) int {
	return cmp.Or(
		strings.Compare(a.Project, b.Project),
		strings.Compare(a.File, b.File),
		cmp.Compare(a.Line, b.Line),
		strings.Compare(a.Job, b.Job),
		strings.Compare(a.Child, b.Child),
		strings.Compare(a.How, b.How),
	)
}

func compareFindingPos(a, b Finding) int {
	return cmp.Or(
		strings.Compare(a.File, b.File),
		cmp.Compare(a.Line, b.Line),
		strings.Compare(a.Rule, b.Rule),
		strings.Compare(a.Severity, b.Severity),
		strings.Compare(a.Message, b.Message),
	)
}

func sortedUsage(u []Usage) []Usage {
	out := slices.Clone(u)
	slices.SortStableFunc(out, compareUsagePos)
	return out
}

func sortedFindings(f []Finding) []Finding {
	out := slices.Clone(f)
	slices.SortStableFunc(out, compareFindingPos)
	return out
}

// usageProjects lists the projects whose jobs use c, sorted, once each.
func usageProjects(c *Credential) []string {
	var out []string
	for _, u := range c.Usage {
		out = append(out, u.Project)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// projectsByPath returns r's projects sorted by path.
func projectsByPath(r *Report) []Project {
	out := slices.Clone(r.Projects)
	slices.SortStableFunc(out, func(a, b Project) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// failed reports whether a call for p failed.
func projectFailed(p *Project) bool { return p.Status != "" && p.Status != "ok" }

// failedProjects returns the projects that could not be read, by path.
func failedProjects(r *Report) []Project {
	var out []Project
	for _, p := range projectsByPath(r) {
		if projectFailed(&p) {
			out = append(out, p)
		}
	}
	return out
}

// lintProjects returns the projects with lint findings, by path, their
// findings sorted by position.
func lintProjects(r *Report) []Project {
	var out []Project
	for _, p := range projectsByPath(r) {
		if len(p.Findings) > 0 {
			p.Findings = sortedFindings(p.Findings)
			out = append(out, p)
		}
	}
	return out
}

// sortedReportErrors returns r's errors by what failed.
func sortedReportErrors(r *Report) []Error {
	out := slices.Clone(r.Errors)
	slices.SortStableFunc(out, func(a, b Error) int {
		return cmp.Or(strings.Compare(a.What, b.What), strings.Compare(a.Status, b.Status), strings.Compare(a.Error, b.Error))
	})
	return out
}

// projectWebURLs maps project paths to their web URLs.
func projectWebURLs(r *Report) map[string]string {
	m := make(map[string]string, len(r.Projects))
	for _, p := range r.Projects {
		if p.WebURL != "" {
			m[p.Path] = p.WebURL
		}
	}
	return m
}

// scopeText names the scope in a title: "group acme, acme-labs",
// "project acme/app", "the instance".
func scopeText(s Scope) string {
	if s.Kind == "instance" || (s.Kind == "" && len(s.Paths) == 0) {
		return "the instance"
	}
	kind := s.Kind
	if len(s.Paths) > 1 {
		kind += "s"
	}
	return strings.TrimSpace(kind + " " + strings.Join(s.Paths, ", "))
}

// whereText says where a credential is stored: "group acme/platform",
// "instance".
func whereText(c *Credential) string {
	return strings.TrimSpace(c.Level + " " + c.Owner)
}

// generatedText is "2025-03-04 09:30 UTC", "" for a zero time.
func generatedText(r *Report) string {
	if r.GeneratedAt.IsZero() {
		return ""
	}
	return r.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC")
}

// kindExposureMatrix counts credentials by kind and exposure.
type kindExposureMatrix struct {
	Kinds     []string // present kinds, in renderKindOrder
	Exposures []string // present exposures, in renderExposureOrder
	// Total counts credentials per kind; Count counts them per kind and
	// exposure (a credential once per exposure it has); Worst counts them
	// per kind under their most serious exposure (exposureNone included).
	Total        map[string]int
	Count, Worst map[string]map[string]int
	ExposureSum  map[string]int
	All          int
	WorstPresent []string // exposures (and exposureNone) present in Worst, in order
}

func newKindExposureMatrix(r *Report) kindExposureMatrix {
	m := kindExposureMatrix{Total: map[string]int{}, Count: map[string]map[string]int{}, Worst: map[string]map[string]int{}, ExposureSum: map[string]int{}}
	worst := map[string]bool{}
	for i := range r.Credentials {
		c := &r.Credentials[i]
		m.All++
		m.Total[c.Kind]++
		if m.Count[c.Kind] == nil {
			m.Count[c.Kind], m.Worst[c.Kind] = map[string]int{}, map[string]int{}
		}
		for _, e := range sortedExposure(c.Exposure) {
			m.Count[c.Kind][e]++
			m.ExposureSum[e]++
		}
		w := worstExposure(c)
		m.Worst[c.Kind][w]++
		worst[w] = true
	}
	m.Kinds = slices.SortedFunc(maps.Keys(m.Total), func(a, b string) int { return compareListed(renderKindOrder, a, b) })
	m.Exposures = slices.SortedFunc(maps.Keys(m.ExposureSum), func(a, b string) int { return compareListed(renderExposureOrder, a, b) })
	withNone := append(slices.Clone(renderExposureOrder), exposureNone)
	m.WorstPresent = slices.SortedFunc(maps.Keys(worst), func(a, b string) int { return compareListed(withNone, a, b) })
	return m
}

// yesNo is "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

const noCredentials = "No long-lived credentials found"

// trustLanguage names the language of a replacement's trust text for
// syntax highlighting: "json", "hcl" or "text".
func trustLanguage(s string) string {
	t := strings.TrimSpace(s)
	if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
		return "json"
	}
	for _, p := range []string{"resource \"", "data \"", "provider \"", "variable \"", "module \"", "path \""} {
		if strings.HasPrefix(t, p) || strings.Contains(t, "\n"+p) {
			return "hcl"
		}
	}
	return "text"
}
