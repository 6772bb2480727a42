// Package gitlabapi is keyless's narrow view of the GitLab REST API: the few
// calls that `keyless lint --online` and `keyless report` make, behind one
// interface (API), implemented over gitlab.com/gitlab-org/api/client-go
// (Client) and faked for tests by the gitlabtest package.
//
// Nothing outside this package imports client-go. Variable values leave it
// only as secret.Token, so a value cannot reach a log, an error or a file
// by accident; errors never contain the access token.
package gitlabapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// API is what keyless asks of GitLab. Every method honours ctx (its
// deadline bounds retries and rate-limit waits too). Projects and groups
// are named by full path ("group/sub/project") or numeric ID.
type API interface {
	// CurrentUser returns the token's user: it checks the token and tells
	// whether instance-level calls (InstanceVariables, AllProjects of a
	// whole instance) can succeed.
	CurrentUser(ctx context.Context) (User, error)
	// Project returns one project.
	Project(ctx context.Context, project string) (Project, error)
	// Group returns one group.
	Group(ctx context.Context, group string) (Group, error)
	// AllGroups calls fn for every group the token can see, subgroups
	// and groups without projects included: every group of the instance
	// for an administrator. minRole > 0 keeps only the groups where the
	// token's user has at least that role (RoleMaintainer: the groups
	// whose CI/CD variables it may read).
	AllGroups(ctx context.Context, minRole Role, fn func(Group) error) error
	// DescendantGroups calls fn for every subgroup of group, at any depth.
	DescendantGroups(ctx context.Context, group string, fn func(Group) error) error
	// GroupProjects calls fn for every project of group (and of its
	// subgroups when includeSubgroups), archived ones included.
	GroupProjects(ctx context.Context, group string, includeSubgroups bool, fn func(Project) error) error
	// AllProjects calls fn for every project the token can see: the whole
	// instance for an administrator.
	AllProjects(ctx context.Context, fn func(Project) error) error
	// ProjectVariables lists a project's CI/CD variables.
	ProjectVariables(ctx context.Context, project string) ([]Variable, error)
	// GroupVariables lists a group's own CI/CD variables (not inherited ones).
	GroupVariables(ctx context.Context, group string) ([]Variable, error)
	// InstanceVariables lists the instance's CI/CD variables (administrators
	// only).
	InstanceVariables(ctx context.Context) ([]Variable, error)
	// File returns a repository file's raw content at ref (the default
	// branch when ref is empty).
	File(ctx context.Context, project, path, ref string) ([]byte, error)
	// CITemplate returns a GitLab CI/CD template by its API key, the
	// template name without ".gitlab-ci.yml" ("Jobs/SAST").
	CITemplate(ctx context.Context, key string) ([]byte, error)
	// ReleaseTags lists the tag names of a project's releases, newest
	// release first.
	ReleaseTags(ctx context.Context, project string) ([]string, error)
	// UpsertIssue finds the open issue of project whose title is exactly
	// title and whose author is the token's user and replaces its
	// description with body; when there is none it creates one.
	UpsertIssue(ctx context.Context, project, title, body string) (Issue, error)
}

// User is the token's user.
type User struct {
	ID       int64
	Username string
	IsAdmin  bool
}

// Project is a GitLab project.
type Project struct {
	ID                int64
	PathWithNamespace string
	DefaultBranch     string // empty for an empty repository
	// CIConfigPath is the project's CI/CD configuration file as set in its
	// settings; empty means the default, .gitlab-ci.yml. It can name a
	// file in another project ("ci.yml@group/other") or a URL.
	CIConfigPath string
	Archived     bool
	WebURL       string
	// IDTokenSubClaimComponents are the claims that make up the sub of the
	// project's ID tokens (ci_id_token_sub_claim_components; GitLab's
	// default is project_path and ref_type then ref).
	IDTokenSubClaimComponents []string
}

// Group is a GitLab group.
type Group struct {
	ID       int64
	FullPath string
	ParentID int64 // 0 for a top-level group
	WebURL   string
}

// Ancestors returns the full paths of g's ancestors, the top-level group
// first ("a", "a/b" for "a/b/c").
func (g Group) Ancestors() []string {
	var out []string
	for i := 0; i < len(g.FullPath); i++ {
		if g.FullPath[i] == '/' {
			out = append(out, g.FullPath[:i])
		}
	}
	return out
}

// Role is a member's role (access level) in a group or project.
// https://docs.gitlab.com/api/members/#roles
type Role int

// Roles of the members API.
const (
	RoleGuest      Role = 10
	RoleReporter   Role = 20
	RoleDeveloper  Role = 30
	RoleMaintainer Role = 40
	RoleOwner      Role = 50
)

// VariableType is how a job receives a variable.
type VariableType string

// The variable types of the CI/CD variables API.
const (
	EnvVar VariableType = "env_var"
	File   VariableType = "file"
)

// Variable is a CI/CD variable of a project, a group or the instance.
type Variable struct {
	Key              string
	Type             VariableType
	Protected        bool
	Masked           bool
	Hidden           bool // masked and hidden: GitLab never returns the value
	Raw              bool // not expanded
	EnvironmentScope string
	Description      string
	// Value is the variable's value; empty for a hidden variable.
	Value secret.Token
}

// Issue is an issue written by UpsertIssue.
type Issue struct {
	IID     int64
	WebURL  string
	Created bool // false when an existing issue was updated
}

// Sentinel errors, matched with errors.Is.
var (
	// ErrUnauthorized: the token is missing, wrong, expired or revoked (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the token lacks a scope or its user a role (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the resource does not exist or the token cannot see it
	// (404; GitLab answers 404 rather than 403 for what a user may not see).
	ErrNotFound = errors.New("not found")
	// ErrRateLimited: GitLab still answered 429 after the retries, or asked
	// for a wait longer than the context allows.
	ErrRateLimited = errors.New("rate limited")
	// ErrServer: GitLab still answered 5xx after the retries.
	ErrServer = errors.New("server error")
)

// Error is a failed API call. Its message names the operation and the
// resource, GitLab's status, and what to do about it; it never contains
// the token or a variable value.
type Error struct {
	// Op is what was being done: `reading project variables of "g/p"`.
	Op string
	// Status is the HTTP status (0 when there was no response).
	Status int
	// Fix says what to do next; may be empty.
	Fix string
	// Err is one of the sentinels above or a transport error.
	Err error
}

func (e *Error) Error() string {
	msg := e.Op
	switch {
	case e.Status != 0:
		msg += fmt.Sprintf(": %d %s", e.Status, http.StatusText(e.Status))
	case e.Err != nil:
		msg += ": " + e.Err.Error()
	}
	if e.Fix != "" {
		msg += ": " + e.Fix
	}
	return msg
}

// Unwrap returns the sentinel or transport error.
func (e *Error) Unwrap() error { return e.Err }
