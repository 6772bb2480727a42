package report

import (
	"html/template"
	"io"
	"net/url"
	"strconv"
	"sync"
)

// htmlRenderer writes one self-contained HTML file: inline CSS, an
// inline SVG chart, no script and no external resource (its
// Content-Security-Policy forbids loading any). html/template escapes
// every value; the markup is also well-formed XML.
type htmlRenderer struct{}

func (htmlRenderer) Render(w io.Writer, r *Report) error {
	if r == nil {
		return errNilReport
	}
	return htmlTemplate().Execute(w, newHTMLView(r))
}

type htmlView struct {
	Title, Generated, Tool, GitLabURL string
	Shard                             *Shard
	Counts                            []htmlCount
	Matrix                            *htmlMatrix
	Chart                             *htmlChart
	Credentials                       []htmlCredential
	NoCredentials                     string
	Failed                            []htmlProject
	Errors                            []Error
	Lint                              []htmlProject
}

type htmlCount struct {
	Label string
	N     int
}

// requestCounts are the summary's rows for Summary.Requests, none when
// the run did not count its requests (issue 16).
func requestCounts(q *Requests) []htmlCount {
	if q == nil {
		return nil
	}
	return []htmlCount{
		{"GitLab API requests sent", int(q.Sent)},
		{"GitLab API requests answered 429 (rate limited)", int(q.Throttled)},
		{"GitLab API requests retried", int(q.Retried)},
	}
}

type htmlMatrix struct {
	Exposures []string
	Rows      []htmlMatrixRow
	Totals    []int
	All       int
}

type htmlMatrixRow struct {
	Kind  string
	Total int
	Cells []int
}

type htmlProject struct {
	Project
	URL      string
	Findings []Finding
}

type htmlCredential struct {
	*Credential
	Anchor, Where, Scope, KindLabel, TrustLang string
	Exposure                                   []htmlExposure
	Usage                                      []htmlUsage
}

type htmlExposure struct{ Name, Why, Color string }

type htmlUsage struct {
	Usage
	URL, FileLine string
}

// htmlChart is the stacked bar chart of credentials by kind: one bar per
// kind, one segment per exposure, each credential counted once under its
// most serious exposure so that a bar is as long as its kind's count.
type htmlChart struct {
	Width, Height int
	Bars          []htmlBar
	Legend        []htmlLegend
	Desc          string
}

type htmlBar struct {
	Kind, Label        string // Label fits the chart; Kind is in full in its title
	Total              int
	Y, TextY, CountX   string
	Segments           []htmlSegment
	LabelX, LabelWidth int
}

type htmlSegment struct {
	X, Y, W, H, TextX, TextY string
	Color, Title, TextColor  string
	N                        int
	Label                    bool // the segment is wide enough for its count
}

type htmlLegend struct {
	X, Y, TextY  string
	Color, Label string
	N            int
}

// exposureColors are the chart's colours, most serious darkest red.
var exposureColors = map[string]string{
	ExposureInstance:    "#7f1d1d",
	ExposureGroup:       "#dc2626",
	ExposureUnprotected: "#ea580c",
	ExposureUnmasked:    "#f59e0b",
	ExposureKeyFile:     "#9333ea",
	ExposureAllEnvs:     "#2563eb",
	ExposureNotHidden:   "#64748b",
	exposureNone:        "#cbd5e1",
}

// darkText are the colours a count is written on in black.
var darkText = map[string]bool{"#f59e0b": true, "#cbd5e1": true}

func exposureColor(e string) string {
	if c, ok := exposureColors[e]; ok {
		return c
	}
	return "#475569"
}

// httpURL is u when it is an absolute http(s) URL, else "".
func httpURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return u
}

func newHTMLView(r *Report) *htmlView {
	v := &htmlView{
		Title:         "Long-lived credentials in " + scopeText(r.Scope),
		Generated:     generatedText(r),
		GitLabURL:     httpURL(r.GitLabURL),
		Shard:         r.Shard,
		NoCredentials: noCredentials + ".",
	}
	if r.Tool.Name != "" {
		v.Tool = r.Tool.Name + " " + r.Tool.Version
	}
	v.Counts = []htmlCount{
		{"Credentials", len(r.Credentials)},
		{"Groups read", r.Summary.Groups},
		{"Subgroups read", r.Summary.Subgroups},
		{"Projects scanned", r.Summary.Projects},
		{"Projects that could not be read", r.Summary.ProjectsFailed},
	}
	if len(r.Errors) > 0 {
		v.Counts = append(v.Counts, htmlCount{"Other read errors", len(r.Errors)})
	}
	v.Counts = append(v.Counts, htmlCount{"Lint findings", r.Summary.Findings})
	v.Counts = append(v.Counts, requestCounts(r.Summary.Requests)...)

	m := newKindExposureMatrix(r)
	if m.All > 0 {
		hm := &htmlMatrix{Exposures: m.Exposures, All: m.All}
		for _, k := range m.Kinds {
			row := htmlMatrixRow{Kind: kindLabel(k), Total: m.Total[k]}
			for _, e := range m.Exposures {
				row.Cells = append(row.Cells, m.Count[k][e])
			}
			hm.Rows = append(hm.Rows, row)
		}
		for _, e := range m.Exposures {
			hm.Totals = append(hm.Totals, m.ExposureSum[e])
		}
		v.Matrix = hm
		v.Chart = newHTMLChart(m)
	}

	urls := projectWebURLs(r)
	for i, c := range readingOrder(r) {
		hc := htmlCredential{
			Credential: c,
			Anchor:     "credential-" + strconv.Itoa(i+1),
			Where:      whereText(c),
			Scope:      c.EnvironmentScope,
			KindLabel:  kindLabel(c.Kind),
			TrustLang:  trustLanguage(c.Replacement.Trust),
		}
		if hc.Scope == "" {
			hc.Scope = "*"
		}
		for _, e := range sortedExposure(c.Exposure) {
			hc.Exposure = append(hc.Exposure, htmlExposure{Name: e, Why: exposureText(e), Color: exposureColor(e)})
		}
		for _, u := range sortedUsage(c.Usage) {
			hc.Usage = append(hc.Usage, htmlUsage{Usage: u, URL: httpURL(urls[u.Project]), FileLine: fileLine(u.File, u.Line)})
		}
		v.Credentials = append(v.Credentials, hc)
	}
	for _, p := range failedProjects(r) {
		v.Failed = append(v.Failed, htmlProject{Project: p, URL: httpURL(p.WebURL)})
	}
	v.Errors = sortedReportErrors(r)
	for _, p := range lintProjects(r) {
		v.Lint = append(v.Lint, htmlProject{Project: p, URL: httpURL(p.WebURL), Findings: p.Findings})
	}
	return v
}

// Chart geometry, in SVG user units (CSS pixels at full size).
const (
	chartLabelWidth = 200
	chartBarWidth   = 440
	chartCountWidth = 60
	chartRow        = 30
	chartBar        = 20
	chartTop        = 8
	chartLegendRow  = 22
)

// chartLabelChars is about the most characters of 13px text that fit in
// chartLabelWidth.
const chartLabelChars = 26

// shorten cuts s to n characters, the last an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func px(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func newHTMLChart(m kindExposureMatrix) *htmlChart {
	most := 0
	for _, k := range m.Kinds {
		most = max(most, m.Total[k])
	}
	ch := &htmlChart{
		Width: chartLabelWidth + chartBarWidth + chartCountWidth,
		Desc: strconv.Itoa(m.All) + " credentials in " + strconv.Itoa(len(m.Kinds)) + " kinds. " +
			"Each bar is one kind; each segment counts the credentials whose most serious exposure it is.",
	}
	for i, k := range m.Kinds {
		y := float64(chartTop + i*chartRow)
		bar := htmlBar{
			Kind:       kindLabel(k),
			Label:      shorten(kindLabel(k), chartLabelChars),
			Total:      m.Total[k],
			Y:          px(y),
			TextY:      px(y + chartBar/2 + 5),
			LabelX:     chartLabelWidth - 8,
			LabelWidth: chartLabelWidth,
		}
		x := float64(chartLabelWidth)
		for _, e := range m.WorstPresent {
			n := m.Worst[k][e]
			if n == 0 {
				continue
			}
			w := float64(n) / float64(most) * chartBarWidth
			color := exposureColor(e)
			seg := htmlSegment{
				X: px(x), Y: px(y), W: px(w), H: px(chartBar),
				TextX: px(x + w/2), TextY: px(y + chartBar/2 + 5),
				Color: color, N: n, Label: w >= 18, TextColor: "#ffffff",
				Title: kindLabel(k) + ", most serious exposure " + e + ": " + strconv.Itoa(n),
			}
			if darkText[color] {
				seg.TextColor = "#111827"
			}
			bar.Segments = append(bar.Segments, seg)
			x += w
		}
		bar.CountX = px(x + 6)
		ch.Bars = append(ch.Bars, bar)
	}
	legendTop := chartTop + len(m.Kinds)*chartRow + 12
	for i, e := range m.WorstPresent {
		n := 0
		for _, k := range m.Kinds {
			n += m.Worst[k][e]
		}
		y := float64(legendTop + i*chartLegendRow)
		ch.Legend = append(ch.Legend, htmlLegend{
			X: px(chartLabelWidth), Y: px(y), TextY: px(y + 12),
			Color: exposureColor(e), Label: e, N: n,
		})
	}
	ch.Height = legendTop + len(m.WorstPresent)*chartLegendRow + chartTop
	return ch
}

// htmlTemplate is parsed on first use: parsing it at init took 0.3 ms
// of every keyless command's start-up (GODEBUG=inittrace=1), and only
// the HTML report needs it.
var htmlTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{"fileLine": fileLine}).Parse(htmlSource))
})

const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'" />
<meta name="generator" content="{{.Tool}}" />
<title>{{.Title}}</title>
<style>
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; background: #ffffff; max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; margin-top: 2.2rem; border-bottom: 2px solid #e5e7eb; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 0 0 .5rem; }
.meta { color: #4b5563; margin: 0 0 1rem; }
.partial { background: #fef3c7; border-left: 4px solid #f59e0b; padding: .5rem .8rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d1d5db; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
tbody tr:nth-child(even) td { background: #f9fafb; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .87rem; }
pre { background: #f6f8fa; border: 1px solid #e5e7eb; border-radius: 4px; padding: .6rem .8rem; overflow-x: auto; white-space: pre; }
.credential { border: 1px solid #d1d5db; border-radius: 6px; padding: 1rem 1.2rem; margin: 1.2rem 0; break-inside: avoid-page; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0 0 .8rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .35em; vertical-align: baseline; }
ul.exposure { padding-left: 1.2rem; }
.chart { max-width: 100%; height: auto; }
.chart text { font: 13px system-ui, sans-serif; fill: #111827; }
.chart .segment-count { font-weight: 600; }
figure { margin: 1rem 0; }
figcaption { color: #4b5563; font-size: .9rem; }
details { margin: .5rem 0; }
summary { cursor: pointer; font-weight: 600; }
.none { color: #4b5563; }
a { color: #1d4ed8; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid-page; }
  pre { white-space: pre-wrap; }
  .credential { border-color: #9ca3af; }
}
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="meta">{{with .Generated}}Generated {{.}} {{end}}{{with .Tool}}by {{.}} {{end}}{{with .GitLabURL}}from <a href="{{.}}">{{.}}</a>{{end}}</p>
{{- with .Shard}}
<p class="partial"><strong>Partial report:</strong> shard {{.Index}} of {{.Total}}. Combine the shards with <code>keyless report merge</code>.</p>
{{- end}}
<p>Each credential below is stored in a CI/CD variable and lives until someone rotates it. Its replacement is a short-lived token exchanged for the job's ID token: no stored secret.</p>
</header>
<main>
<section id="summary">
<h2>Summary</h2>
<table>
<thead><tr><th>What</th><th class="n">Count</th></tr></thead>
<tbody>
{{- range .Counts}}
<tr><td>{{.Label}}</td><td class="n">{{.N}}</td></tr>
{{- end}}
</tbody>
</table>
{{- with .Chart}}
<figure>
<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}">
<title id="chart-title">Credentials by kind and most serious exposure</title>
<desc id="chart-desc">{{.Desc}}</desc>
{{- range .Bars}}
<g class="bar">
<title>{{.Kind}}: {{.Total}}</title>
<text x="{{.LabelX}}" y="{{.TextY}}" text-anchor="end">{{.Label}}</text>
{{- range .Segments}}
<rect class="segment" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Color}}"><title>{{.Title}}</title></rect>
{{- if .Label}}
<text class="segment-count" x="{{.TextX}}" y="{{.TextY}}" text-anchor="middle" style="fill: {{.TextColor}}" aria-hidden="true">{{.N}}</text>
{{- end}}
{{- end}}
<text x="{{.CountX}}" y="{{.TextY}}">{{.Total}}</text>
</g>
{{- end}}
<g class="legend">
{{- range .Legend}}
<rect x="{{.X}}" y="{{.Y}}" width="14" height="14" fill="{{.Color}}"><title>{{.Label}}</title></rect>
<text x="{{.X}}" dx="20" y="{{.TextY}}">{{.Label}}: {{.N}}</text>
{{- end}}
</g>
</svg>
<figcaption>Credentials by kind. Each credential is counted once, under its most serious exposure (instance-level first, then group-level, unprotected, unmasked, key file, all environments, not hidden); the table below counts every exposure.</figcaption>
</figure>
{{- end}}
{{- with .Matrix}}
<table>
<caption>Credentials by kind and exposure (a credential counts once under each exposure it has)</caption>
<thead><tr><th>Kind</th><th class="n">Credentials</th>{{range .Exposures}}<th class="n">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr><td>{{.Kind}}</td><td class="n">{{.Total}}</td>{{range .Cells}}<td class="n">{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
<tfoot><tr><td>All kinds</td><td class="n">{{.All}}</td>{{range .Totals}}<td class="n">{{.}}</td>{{end}}</tr></tfoot>
</table>
{{- end}}
</section>

<section id="credentials">
<h2>Credentials</h2>
{{- if not .Credentials}}
<p class="none">{{.NoCredentials}}</p>
{{- else}}
<p>Most exposed first.</p>
<table>
<thead><tr><th>Key</th><th>Stored in</th><th>Scope</th><th>Kind</th><th>Exposure</th><th class="n">Jobs</th><th>Component</th></tr></thead>
<tbody>
{{- range .Credentials}}
<tr><td><a href="#{{.Anchor}}">{{.Key}}</a></td><td>{{.Where}}</td><td>{{.Scope}}</td><td>{{.KindLabel}}</td><td>{{range $i, $e := .Exposure}}{{if $i}}, {{end}}{{$e.Name}}{{end}}</td><td class="n">{{len .Usage}}</td><td>{{.Replacement.Component}}</td></tr>
{{- end}}
</tbody>
</table>
{{- range .Credentials}}
<article class="credential" id="{{.Anchor}}">
<h3>{{.Key}} ({{.Where}}, scope {{.Scope}})</h3>
<dl class="facts">
<dt>Kind</dt><dd>{{.KindLabel}} (<code>{{.Kind}}</code>), confidence {{.Confidence}}</dd>
{{- with .Evidence}}
<dt>Evidence</dt><dd>{{.}}</dd>
{{- end}}
<dt>Variable</dt><dd>type {{.Type}}; protected {{if .Protected}}yes{{else}}no{{end}}, masked {{if .Masked}}yes{{else}}no{{end}}, hidden {{if .Hidden}}yes{{else}}no{{end}}, raw {{if .Raw}}yes{{else}}no{{end}}</dd>
{{- with .Description}}
<dt>Description</dt><dd>{{.}}</dd>
{{- end}}
<dt>ID</dt><dd><code>{{.ID}}</code></dd>
</dl>
<h4>Exposure</h4>
{{- if .Exposure}}
<ul class="exposure">
{{- range .Exposure}}
<li><span class="swatch" style="background: {{.Color}}"></span><strong>{{.Name}}</strong>: {{.Why}}</li>
{{- end}}
</ul>
{{- else}}
<p class="none">None of the exposures keyless checks: the variable is protected, masked, hidden and scoped.</p>
{{- end}}
<h4>Used by</h4>
{{- if .Usage}}
<table>
<thead><tr><th>Project</th><th>Job</th><th>File:line</th><th>How</th></tr></thead>
<tbody>
{{- range .Usage}}
<tr><td>{{if .URL}}<a href="{{.URL}}">{{.Project}}</a>{{else}}{{.Project}}{{end}}</td><td>{{.Where}}</td><td><code>{{.FileLine}}</code></td><td>{{.How}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="none">No job of the projects read uses it. Check the projects that could not be read before you delete it.</p>
{{- end}}
<h4>Replacement</h4>
{{- with .Replacement}}
{{- if .Component}}
<p>The keyless <strong>{{.Component}}</strong> component exchanges the job's ID token for short-lived credentials.</p>
{{- else}}
<p>No keyless component replaces this credential: retire it by hand.</p>
{{- end}}
{{- with .Include}}
<p>Add to the pipeline:</p>
<pre><code class="language-yaml">{{.}}</code></pre>
{{- end}}
{{- end}}
{{- if .Replacement.Trust}}
<p>Create the trust:</p>
<pre><code class="language-{{.TrustLang}}">{{.Replacement.Trust}}</code></pre>
{{- end}}
{{- with .Replacement.Steps}}
<p>Retire the key:</p>
<ol>
{{- range .}}
<li>{{.}}</li>
{{- end}}
</ol>
{{- end}}
</article>
{{- end}}
{{- end}}
</section>

<section id="not-read">
<h2>Projects that could not be read</h2>
{{- if .Failed}}
<p>Their credentials and jobs are missing from this report: give the token Maintainer access and run it again.</p>
<table>
<thead><tr><th>Project</th><th>Status</th><th>Error</th></tr></thead>
<tbody>
{{- range .Failed}}
<tr><td>{{if .URL}}<a href="{{.URL}}">{{.Path}}</a>{{else}}{{.Path}}{{end}}</td><td>{{.Status}}</td><td>{{.Error}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="none">None: every project was read.</p>
{{- end}}
</section>
{{- if .Errors}}

<section id="errors">
<h2>Other read errors</h2>
<table>
<thead><tr><th>What</th><th>Status</th><th>Error</th></tr></thead>
<tbody>
{{- range .Errors}}
<tr><td>{{.What}}</td><td>{{.Status}}</td><td>{{.Error}}</td></tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}

<section id="lint">
<h2>Lint findings per project</h2>
{{- if .Lint}}
{{- range .Lint}}
<details open="open">
<summary>{{.Path}}: {{len .Findings}} {{if eq (len .Findings) 1}}finding{{else}}findings{{end}}</summary>
{{- if .URL}}
<p><a href="{{.URL}}">{{.URL}}</a></p>
{{- end}}
<table>
<thead><tr><th>Severity</th><th>Rule</th><th>File:line</th><th>Message</th></tr></thead>
<tbody>
{{- range .Findings}}
<tr><td>{{.Severity}}</td><td><code>{{.Rule}}</code></td><td><code>{{fileLine .File .Line}}</code></td><td>{{.Message}}</td></tr>
{{- end}}
</tbody>
</table>
</details>
{{- end}}
{{- else}}
<p class="none">None.</p>
{{- end}}
</section>
</main>
</body>
</html>
`
