package report

import (
	"fmt"
	"html"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// issueDescriptionLimit is the most characters the markdown report may
// have: GitLab refuses an issue description over 1,048,576 characters
// (https://docs.gitlab.com/user/project/issues/managing_issues/); the
// margin leaves room for an edit by hand.
const issueDescriptionLimit = 1_000_000

// markdownRenderer writes the report as GitLab Flavored Markdown, for an
// issue description (--publish-issue). Data is escaped so that it stays
// text: no HTML, no emphasis, no table cell split, no GitLab reference
// (@user, #1, !1, ~label) made from a value.
type markdownRenderer struct {
	// maxChars bounds the output; per-credential sections (least exposed
	// first), then other items, are left out with a note past it.
	maxChars int
}

// mdSection is a part of the markdown report whose items may be left
// out, from the last, to keep the report under the limit.
type mdSection struct {
	head  string
	items []string
	// more says that n items were left out.
	more func(n int) string
	tail string
	keep int // items written
}

func (m markdownRenderer) Render(w io.Writer, r *Report) error {
	if r == nil {
		return errNilReport
	}
	head, sections := markdownSections(r)
	limit := m.maxChars
	if limit <= 0 {
		limit = issueDescriptionLimit
	}
	fitSections(limit-runeLen(head), sections)
	var b strings.Builder
	b.WriteString(head)
	for _, s := range sections {
		b.WriteString(s.head)
		for _, it := range s.items[:s.keep] {
			b.WriteString(it)
		}
		if n := len(s.items) - s.keep; n > 0 {
			b.WriteString(s.more(n))
		}
		b.WriteString(s.tail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// noteReserve is room kept for each section's "n more" note.
const noteReserve = 400

// fitSections sets how many items of each section fit in budget
// characters: all when everything fits; else the sections after the
// first (projects not read, errors, lint findings) get up to a fifth of
// the budget, the first (credentials) what is left, and the others what
// the credentials did not use.
func fitSections(budget int, sections []*mdSection) {
	total := 0
	for _, s := range sections {
		total += runeLen(s.head) + runeLen(s.tail)
		for _, it := range s.items {
			total += runeLen(it)
		}
	}
	if total <= budget {
		for _, s := range sections {
			s.keep = len(s.items)
		}
		return
	}
	left := budget
	for _, s := range sections {
		left -= runeLen(s.head) + runeLen(s.tail) + noteReserve
	}
	// grow adds items to s while they fit in max characters; it returns
	// the characters used.
	grow := func(s *mdSection, max int) int {
		used := 0
		for s.keep < len(s.items) {
			n := runeLen(s.items[s.keep])
			if used+n > max {
				break
			}
			used += n
			s.keep++
		}
		return used
	}
	share := left / 5
	for _, s := range sections[1:] {
		u := grow(s, share)
		share -= u
		left -= u
	}
	left -= grow(sections[0], left)
	for _, s := range sections[1:] {
		left -= grow(s, left)
	}
}

func markdownSections(r *Report) (string, []*mdSection) {
	var h strings.Builder
	fmt.Fprintf(&h, "# Long-lived credentials in %s\n\n", mdText(scopeText(r.Scope)))
	var meta []string
	if d := generatedText(r); d != "" {
		meta = append(meta, "Generated "+d)
	}
	if r.Tool.Name != "" {
		meta = append(meta, "by "+mdText(strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version)))
	}
	if r.GitLabURL != "" {
		meta = append(meta, "from "+mdLink(r.GitLabURL, r.GitLabURL))
	}
	if len(meta) > 0 {
		h.WriteString(strings.Join(meta, " ") + ".\n\n")
	}
	if r.Shard != nil {
		fmt.Fprintf(&h, "**Partial report:** shard %d of %d. Combine the shards with `keyless report merge`.\n\n", r.Shard.Index, r.Shard.Total)
	}
	h.WriteString("Each credential below is stored in a CI/CD variable and lives until someone rotates it. " +
		"Its replacement is a short-lived token exchanged for the job's ID token: no stored secret.\n\n")

	h.WriteString("## Summary\n\n| What | Count |\n|---|---:|\n")
	fmt.Fprintf(&h, "| Credentials | %d |\n", len(r.Credentials))
	fmt.Fprintf(&h, "| Groups read | %d |\n", r.Summary.Groups)
	fmt.Fprintf(&h, "| Subgroups read | %d |\n", r.Summary.Subgroups)
	fmt.Fprintf(&h, "| Projects scanned | %d |\n", r.Summary.Projects)
	fmt.Fprintf(&h, "| Projects that could not be read | %d |\n", r.Summary.ProjectsFailed)
	if len(r.Errors) > 0 {
		fmt.Fprintf(&h, "| Other read errors | %d |\n", len(r.Errors))
	}
	fmt.Fprintf(&h, "| Lint findings | %d |\n", r.Summary.Findings)
	for _, c := range requestCounts(r.Summary.Requests) {
		fmt.Fprintf(&h, "| %s | %d |\n", c.Label, c.N)
	}
	h.WriteString("\n")
	if m := newKindExposureMatrix(r); m.All > 0 {
		h.WriteString("Credentials by kind and exposure (a credential counts once under each exposure it has):\n\n| Kind | Credentials |")
		for _, e := range m.Exposures {
			h.WriteString(" " + mdText(e) + " |")
		}
		h.WriteString("\n|---|---:|" + strings.Repeat("---:|", len(m.Exposures)) + "\n")
		for _, k := range m.Kinds {
			fmt.Fprintf(&h, "| %s | %d |", mdText(kindLabel(k)), m.Total[k])
			for _, e := range m.Exposures {
				fmt.Fprintf(&h, " %d |", m.Count[k][e])
			}
			h.WriteString("\n")
		}
		fmt.Fprintf(&h, "| **All kinds** | **%d** |", m.All)
		for _, e := range m.Exposures {
			fmt.Fprintf(&h, " **%d** |", m.ExposureSum[e])
		}
		h.WriteString("\n\n")
	}

	urls := projectWebURLs(r)
	creds := &mdSection{
		head: "## Credentials\n\n",
		more: func(n int) string {
			return fmt.Sprintf("> **%d more credentials are not shown:** GitLab limits an issue description to %s characters. "+
				"The full report is in the job's artifact (the HTML or JSON report).\n\n", n, thousands(issueDescriptionLimit))
		},
	}
	if len(r.Credentials) == 0 {
		creds.head += noCredentials + ".\n\n"
	} else {
		creds.head += "Most exposed first.\n\n"
	}
	for _, c := range readingOrder(r) {
		creds.items = append(creds.items, mdCredential(c, urls))
	}

	failedSec := &mdSection{
		head: "## Projects that could not be read\n\n",
		more: func(n int) string {
			return fmt.Sprintf("\n%d more projects could not be read; the full report lists them.\n\n", n)
		},
	}
	if fp := failedProjects(r); len(fp) == 0 {
		failedSec.head += "None: every project was read.\n\n"
	} else {
		failedSec.head += "Their credentials and jobs are missing from this report: give the token Maintainer access and run it again.\n\n" +
			"| Project | Status | Error |\n|---|---|---|\n"
		for _, p := range fp {
			failedSec.items = append(failedSec.items, fmt.Sprintf("| %s | %s | %s |\n", mdLink(p.Path, p.WebURL), mdText(p.Status), mdText(p.Error)))
		}
		failedSec.tail = "\n"
	}

	sections := []*mdSection{creds, failedSec}
	if errs := sortedReportErrors(r); len(errs) > 0 {
		s := &mdSection{
			head: "## Other read errors\n\n| What | Status | Error |\n|---|---|---|\n",
			more: func(n int) string { return fmt.Sprintf("\n%d more errors; the full report lists them.\n\n", n) },
			tail: "\n",
		}
		for _, e := range errs {
			s.items = append(s.items, fmt.Sprintf("| %s | %s | %s |\n", mdText(e.What), mdText(e.Status), mdText(e.Error)))
		}
		sections = append(sections, s)
	}

	lint := &mdSection{
		head: "## Lint findings per project\n\n",
		more: func(n int) string {
			return fmt.Sprintf("%d more projects have lint findings; the full report lists them, and `keyless lint` shows them in each project.\n\n", n)
		},
	}
	if lp := lintProjects(r); len(lp) == 0 {
		lint.head += "None.\n\n"
	} else {
		for _, p := range lp {
			lint.items = append(lint.items, mdLintProject(&p))
		}
	}
	sections = append(sections, lint)
	return h.String(), sections
}

func mdCredential(c *Credential, urls map[string]string) string {
	var b strings.Builder
	scope := c.EnvironmentScope
	if scope == "" {
		scope = "*"
	}
	fmt.Fprintf(&b, "### %s (%s, scope %s)\n\n", mdText(c.Key), mdText(whereText(c)), mdText(scope))
	fmt.Fprintf(&b, "- **Kind:** %s (%s), confidence %s\n", mdText(kindLabel(c.Kind)), mdText(c.Kind), mdText(c.Confidence))
	if c.Evidence != "" {
		fmt.Fprintf(&b, "- **Evidence:** %s\n", mdText(c.Evidence))
	}
	fmt.Fprintf(&b, "- **Variable:** type %s; protected %s, masked %s, hidden %s, raw %s\n",
		mdText(c.Type), yesNo(c.Protected), yesNo(c.Masked), yesNo(c.Hidden), yesNo(c.Raw))
	if c.Description != "" {
		fmt.Fprintf(&b, "- **Description:** %s\n", mdText(c.Description))
	}
	fmt.Fprintf(&b, "- **ID:** %s\n\n", mdText(c.ID))

	b.WriteString("**Exposure**\n\n")
	exp := sortedExposure(c.Exposure)
	if len(exp) == 0 {
		b.WriteString("- None of the exposures keyless checks: the variable is protected, masked, hidden and scoped.\n")
	}
	for _, e := range exp {
		fmt.Fprintf(&b, "- **%s**: %s\n", mdText(e), mdText(exposureText(e)))
	}
	b.WriteString("\n")

	usage := sortedUsage(c.Usage)
	if len(usage) == 0 {
		b.WriteString("**Used by:** no job of the projects read uses it. Check the projects that could not be read before you delete it.\n\n")
	} else {
		fmt.Fprintf(&b, "**Used by** %d %s:\n\n| Project | Job | File:line | How |\n|---|---|---|---|\n", len(usage), pluralize(len(usage), "job", "jobs"))
		for _, u := range usage {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdLink(u.Project, urls[u.Project]), mdText(u.Where()), mdText(fileLine(u.File, u.Line)), mdText(u.How))
		}
		b.WriteString("\n")
	}

	rp := c.Replacement
	b.WriteString("**Replacement**\n\n")
	if rp.Component != "" {
		fmt.Fprintf(&b, "The keyless **%s** component exchanges the job's ID token for short-lived credentials.\n\n", mdText(rp.Component))
	} else {
		b.WriteString("No keyless component replaces this credential: retire it by hand.\n\n")
	}
	if rp.Include != "" {
		b.WriteString("Add to the pipeline:\n\n" + mdFence(rp.Include, "yaml"))
	}
	if rp.Trust != "" {
		b.WriteString("Create the trust:\n\n" + mdFence(rp.Trust, trustLanguage(rp.Trust)))
	}
	if len(rp.Steps) > 0 {
		b.WriteString("Retire the key:\n\n")
		for i, s := range rp.Steps {
			fmt.Fprintf(&b, "%d. %s\n", i+1, mdText(s))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func mdLintProject(p *Project) string {
	var b strings.Builder
	// <details> is raw HTML; only escaped text goes in it.
	fmt.Fprintf(&b, "<details>\n<summary>%s: %d %s</summary>\n\n", html.EscapeString(oneLine(p.Path)), len(p.Findings), pluralize(len(p.Findings), "finding", "findings"))
	b.WriteString("| Severity | Rule | File:line | Message |\n|---|---|---|---|\n")
	for _, f := range p.Findings {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdText(f.Severity), mdText(f.Rule), mdText(fileLine(f.File, f.Line)), mdText(f.Message))
	}
	b.WriteString("\n</details>\n\n")
	return b.String()
}

func fileLine(file string, line int) string {
	if line > 0 {
		return file + ":" + strconv.Itoa(line)
	}
	return file
}

func pluralize(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// thousands writes n with commas: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// oneLine replaces line breaks and other control characters with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// mdEscaped are the characters mdText escapes with a backslash: markdown
// syntax (emphasis, code, links, HTML, tables, strikethrough), HTML
// entities, and GitLab references and inline diffs (@user, #1, !1,
// ~label, %milestone, $snippet, &epic, {+ +}). GitLab leaves a
// backslash-escaped reference as text.
const mdEscaped = "\\`*_[]<>|~@#!%$&{}"

// mdText makes s inline markdown text that renders as s, on one line:
// safe in a paragraph, a list item, a heading and a table cell.
func mdText(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' && intraword(s, i):
			// An underscore inside a word never starts emphasis; keeping it
			// bare keeps AWS_ACCESS_KEY_ID readable in the source.
		case strings.ContainsRune(mdEscaped, r):
			b.WriteByte('\\')
		case i == 0 && (r == '-' || r == '+' || r == '='):
			// A list marker or setext underline at the start of a list item.
			b.WriteByte('\\')
		case (r == '.' || r == ')') && i > 0 && isDigits(s[:i]):
			// "1." or "1)" at the start would begin an ordered list.
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// intraword reports whether the byte at i has a letter or digit on both
// sides (an underscore run counts as part of the word).
func intraword(s string, i int) bool {
	j := i
	for j > 0 && s[j-1] == '_' {
		j--
	}
	k := i
	for k < len(s) && s[k] == '_' {
		k++
	}
	if j == 0 || k == len(s) {
		return false
	}
	before, _ := utf8.DecodeLastRuneInString(s[:j])
	after, _ := utf8.DecodeRuneInString(s[k:])
	return isWordRune(before) && isWordRune(after)
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// mdLink is a link to u with text, or the text alone when u is not an
// http(s) URL.
func mdLink(text, u string) string {
	d := mdURL(u)
	if d == "" {
		return mdText(text)
	}
	return "[" + mdText(text) + "](" + d + ")"
}

// mdURL is u as a link destination, "" when u is not an absolute http(s)
// URL. Characters that would end the destination or a table cell are
// percent-encoded.
func mdURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	var b strings.Builder
	for _, c := range []byte(p.String()) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("<>()[]|\\\"'`{}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// mdFence is s in a fenced code block of lang; the fence is longer than
// any run of backticks in s, so that s cannot close it.
func mdFence(s, lang string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	return fence + lang + "\n" + s + fence + "\n\n"
}
