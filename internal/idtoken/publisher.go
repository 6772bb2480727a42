package idtoken

import "strings"

// Publisher is the job as the registries' GitLab trusted publishers see
// it (issue 18). PyPI and npm both match a GitLab publisher on the same
// four fields, read from these claims:
//   - namespace and project: project_path split at its last '/'
//     (warehouse/oidc/models/gitlab.py, GitLabPublisherMixin.__lookup_all__);
//   - the top-level pipeline file: ci_config_ref_uri without its
//     "HOST/PROJECT_PATH//" prefix and "@REF" suffix (the same lookup; npm's
//     "Top-level CI file path", https://docs.npmjs.com/trusted-publishers);
//   - environment, optional on the publisher's side.
type Publisher struct {
	Namespace   string
	Project     string
	CIFile      string // "" when ci_config_ref_uri is missing or of another project
	CIConfigRef string // the ref ci_config_ref_uri names, refs/heads/main
	// CIConfigHost is the host ci_config_ref_uri names: gitlab.com for
	// GitLab.com, the one host PyPI's GitLab publisher hard-codes.
	CIConfigHost string
	Environment  string
}

// GitLabPublisher reads the publisher fields from c.
func (c Claims) GitLabPublisher() Publisher {
	p := Publisher{Environment: c.Environment}
	if i := strings.LastIndexByte(c.ProjectPath, '/'); i > 0 {
		p.Namespace, p.Project = c.ProjectPath[:i], c.ProjectPath[i+1:]
	} else {
		p.Project = c.ProjectPath
	}
	host, rest, ok := strings.Cut(c.CIConfigRefURI, "/")
	if !ok {
		return p
	}
	// The file is this project's only when the URI starts with its path.
	path, file, ok := strings.Cut(rest, "//")
	if !ok || !strings.EqualFold(path, c.ProjectPath) {
		return p
	}
	if i := strings.LastIndexByte(file, '@'); i >= 0 {
		file, p.CIConfigRef = file[:i], file[i+1:]
	}
	p.CIConfigHost, p.CIFile = host, file
	return p
}
