package gitlabapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// Limits of remote: includes.
const (
	// MaxRemoteSize bounds a remote: include. GitLab's own bound is the
	// instance's max_yaml_size_bytes (1 MiB by default).
	MaxRemoteSize = 1 << 20
	// RemoteTimeout bounds one remote: fetch (GitLab allows 10 s per
	// include; a little more here for a slow link).
	RemoteTimeout = 30 * time.Second
)

// ErrRemoteRefused is returned for a remote: include that keyless will not
// fetch (not https) or whose answer it will not read (too large).
var ErrRemoteRefused = errors.New("remote include refused")

// NewFetcher returns a pipeline.Fetcher that reads project:, template: and
// component: includes through api, and remote: includes with httpClient
// (http.DefaultClient when nil). ctx bounds every fetch. Files are read
// once per fetcher.
func NewFetcher(ctx context.Context, api API, httpClient *http.Client) pipeline.Fetcher {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	hc := *httpClient
	prev := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect to a non-https URL", ErrRemoteRefused)
		}
		if prev != nil {
			return prev(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &fetcher{ctx: ctx, api: api, http: &hc, cache: map[string]*fetchOnce{}}
}

type fetcher struct {
	ctx  context.Context
	api  API
	http *http.Client

	mu    sync.Mutex
	cache map[string]*fetchOnce // by once's key
}

type fetched struct {
	path string
	src  []byte
	err  error
}

// fetchOnce is one read, done or under way.
type fetchOnce struct {
	done chan struct{}
	r    fetched
}

// once returns what fn returns for key, calling it once per fetcher: a
// caller that asks while another reads the same key waits for that read.
// A report reads many projects at once, and they include the same files
// (issue 16).
func (f *fetcher) once(key string, fn func() fetched) fetched {
	f.mu.Lock()
	e, ok := f.cache[key]
	if !ok {
		e = &fetchOnce{done: make(chan struct{})}
		f.cache[key] = e
	}
	f.mu.Unlock()
	if ok {
		<-e.done
		return e.r
	}
	e.r = fn()
	close(e.done)
	return e.r
}

// Fetch implements pipeline.Fetcher. The path it returns names the source:
//
//	project:group/p@main:/ci/x.yml
//	template:Jobs/SAST
//	remote:https://host/x.yml (without credentials or query)
//	component:group/p/name@1.2.0 (the version read)
func (f *fetcher) Fetch(inc *pipeline.Include) (string, []byte, error) {
	loc := inc.Location
	if inc.Kind == pipeline.IncludeProject {
		loc = projectFile(loc)
	}
	key := string(inc.Kind) + "\x00" + inc.Project + "\x00" + inc.Ref + "\x00" + loc
	r := f.once(key, func() fetched {
		var r fetched
		switch inc.Kind {
		case pipeline.IncludeProject:
			r.path, r.src, r.err = f.project(inc.Project, inc.Ref, loc)
		case pipeline.IncludeTemplate:
			r.path, r.src, r.err = f.template(loc)
		case pipeline.IncludeRemote:
			r.path, r.src, r.err = f.remote(loc)
		case pipeline.IncludeComponent:
			r.path, r.src, r.err = f.component(loc)
		default:
			r.err = fmt.Errorf("include kind %q is not read through the GitLab API", inc.Kind)
		}
		return r
	})
	return r.path, r.src, r.err
}

// projectFile is an include:project file as the API reads it: from the
// repository's root, cleaned ("templates/x.yml" and "/templates/x.yml"
// are one file).
func projectFile(file string) string { return path.Clean("/" + file) }

func (f *fetcher) defaultBranch(project string) (string, error) {
	r := f.once("branch\x00"+project, func() fetched {
		p, err := f.api.Project(f.ctx, project)
		if err != nil {
			return fetched{err: err}
		}
		if p.DefaultBranch == "" {
			return fetched{err: fmt.Errorf("project %q has an empty repository: there is no default branch to read", project)}
		}
		return fetched{path: p.DefaultBranch}
	})
	return r.path, r.err
}

// project reads include:project, at the project's default branch when
// ref is empty, as GitLab does.
// https://docs.gitlab.com/ci/yaml/#includeproject
func (f *fetcher) project(project, ref, file string) (string, []byte, error) {
	if project == "" {
		return "", nil, errors.New("include:project without a project")
	}
	if ref == "" {
		b, err := f.defaultBranch(project)
		if err != nil {
			return "", nil, err
		}
		ref = b
	}
	file = projectFile(file)
	// Once per project, ref and file, whether the include names the
	// default branch or leaves the ref out.
	r := f.once("file\x00"+project+"\x00"+ref+"\x00"+file, func() fetched {
		src, err := f.api.File(f.ctx, project, file, ref)
		if err != nil {
			return fetched{err: err}
		}
		return fetched{path: "project:" + project + "@" + ref + ":" + file, src: src}
	})
	return r.path, r.src, r.err
}

// template reads include:template. The API's key is the template's name
// without ".gitlab-ci.yml": "Jobs/SAST.gitlab-ci.yml" is "Jobs/SAST".
// https://docs.gitlab.com/api/templates/gitlab_ci_ymls/
func (f *fetcher) template(name string) (string, []byte, error) {
	key := strings.TrimSuffix(name, ".gitlab-ci.yml")
	if key == "" {
		return "", nil, errors.New("include:template without a name")
	}
	src, err := f.api.CITemplate(f.ctx, key)
	if err != nil {
		return "", nil, err
	}
	return "template:" + key, src, nil
}

// displayURL is u without credentials, query or fragment, which may carry
// tokens (https://user:token@host/x.yml, ?private_token=...).
func displayURL(u *url.URL) string {
	d := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return d.String()
}

// remote reads include:remote: https only (an http include can be
// rewritten by anyone on the path), at most MaxRemoteSize bytes.
// https://docs.gitlab.com/ci/yaml/#includeremote
func (f *fetcher) remote(raw string) (string, []byte, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("include:remote is not a URL")
	}
	shown := displayURL(u)
	path := "remote:" + shown
	if u.Scheme != "https" {
		return path, nil, fmt.Errorf("%w: %q is not https: serve it over https, or copy it into the project", ErrRemoteRefused, shown)
	}
	ctx, cancel := context.WithTimeout(f.ctx, RemoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return path, nil, fmt.Errorf("reading %q: bad URL", shown)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		// *url.Error prints the full URL; say only what failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return path, nil, fmt.Errorf("reading %q: %w", shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return path, nil, fmt.Errorf("reading %q: %d %s", shown, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	src, err := io.ReadAll(io.LimitReader(resp.Body, MaxRemoteSize+1))
	if err != nil {
		return path, nil, fmt.Errorf("reading %q: %w", shown, err)
	}
	if len(src) > MaxRemoteSize {
		return path, nil, fmt.Errorf("%w: %q is larger than %d bytes", ErrRemoteRefused, shown, MaxRemoteSize)
	}
	return path, src, nil
}

// component reads include:component "host/group/project/name@version"
// from project "group/project" at the resolved version, file
// templates/name.yml or else templates/name/template.yml.
// https://docs.gitlab.com/ci/components/#use-a-component
//
// The host is not checked: the component is read from the instance of
// the API. Versions resolve as GitLab does, against the project's
// releases (catalog versions are releases): "~latest" is the highest
// semantic version released (pre-releases excluded), and "1" or "1.2" is
// the highest released 1.x.y or 1.2.y. Unlike GitLab, which fails, a
// project without releases is read at its default branch for "~latest",
// and a partial version without a match is used as a ref as written.
// Any other version (full version, tag, branch, SHA) is the ref.
func (f *fetcher) component(ref string) (string, []byte, error) {
	at := strings.LastIndexByte(ref, '@')
	if at < 0 || at == len(ref)-1 {
		return "", nil, fmt.Errorf("component %q has no version: write it as host/group/project/name@version", ref)
	}
	segs := strings.Split(ref[:at], "/")
	if len(segs) < 4 || slices.Contains(segs, "") {
		return "", nil, fmt.Errorf("component %q is not host/group/project/name@version", ref)
	}
	project := strings.Join(segs[1:len(segs)-1], "/")
	name := segs[len(segs)-1]
	version, err := f.resolveVersion(project, ref[at+1:])
	if err != nil {
		return "", nil, err
	}
	path := "component:" + project + "/" + name + "@" + version
	src, err := f.api.File(f.ctx, project, "templates/"+name+".yml", version)
	if errors.Is(err, ErrNotFound) {
		src, err = f.api.File(f.ctx, project, "templates/"+name+"/template.yml", version)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return path, nil, fmt.Errorf("component %q: neither templates/%s.yml nor templates/%s/template.yml is in project %q at %q", ref, name, name, project, version)
		}
		return path, nil, err
	}
	return path, src, nil
}

func (f *fetcher) resolveVersion(project, v string) (string, error) {
	partial, isPartial := parsePartial(v)
	if v != "~latest" && !isPartial {
		return v, nil
	}
	tags, err := f.api.ReleaseTags(f.ctx, project)
	if err != nil {
		return "", err
	}
	best, bestV := "", semver{}
	for _, t := range tags {
		sv, ok := parseSemver(t)
		if !ok || sv.pre != "" {
			continue
		}
		if isPartial && !partial.matches(sv) {
			continue
		}
		if best == "" || bestV.less(sv) {
			best, bestV = t, sv
		}
	}
	switch {
	case best != "":
		return best, nil
	case isPartial:
		return v, nil
	default:
		return f.defaultBranch(project)
	}
}

type semver struct {
	major, minor, patch int
	pre                 string
}

func (a semver) less(b semver) bool {
	if a.major != b.major {
		return a.major < b.major
	}
	if a.minor != b.minor {
		return a.minor < b.minor
	}
	return a.patch < b.patch
}

// parseSemver reads "1.2.3", "1.2.3-rc.1" or "v1.2.3" (build metadata
// ignored).
func parseSemver(s string) (semver, bool) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var v semver
	if i := strings.IndexByte(s, '-'); i >= 0 {
		v.pre, s = s[i+1:], s[:i]
		if v.pre == "" {
			return semver{}, false
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	n := [3]int{}
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return semver{}, false
		}
		n[i] = x
	}
	v.major, v.minor, v.patch = n[0], n[1], n[2]
	return v, true
}

type partialVersion struct {
	major, minor int
	hasMinor     bool
}

func (p partialVersion) matches(v semver) bool {
	return v.major == p.major && (!p.hasMinor || v.minor == p.minor)
}

// parsePartial reads "1" or "1.2".
func parsePartial(s string) (partialVersion, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return partialVersion{}, false
	}
	var n [2]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || p == "" || p[0] == '+' {
			return partialVersion{}, false
		}
		n[i] = x
	}
	return partialVersion{major: n[0], minor: n[1], hasMinor: len(parts) == 2}, true
}
