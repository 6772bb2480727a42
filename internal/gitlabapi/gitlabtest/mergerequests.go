package gitlabtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The write side keyless migrate --open-mr uses (issue 17): branches,
// commits of file updates, merge requests. Answers are shaped as
// testdata/get_branch.json, get_commit.json and get_merge_request.json;
// errors as GitLab answers them (https://docs.gitlab.com/api/rest/troubleshooting/#status-codes).

type mergeRequest struct {
	ID, IID                    int64
	ProjectID                  int64
	Title, Description         string
	SourceBranch, TargetBranch string
	State                      string
	AuthorID                   int64
	Author                     string
	WebURL                     string
}

// Commit is a commit the fake took.
type Commit struct {
	Branch  string
	Message string
	// Files are the paths the commit changed.
	Files []string
}

// MergeRequest is a merge request of the fake, as tests read it.
type MergeRequest struct {
	IID                        int64
	Title, Description         string
	SourceBranch, TargetBranch string
	State                      string
}

// Branches returns a project's branches.
func (s *Server) Branches(project string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	if p == nil {
		return nil
	}
	var out []string
	for k := range s.refs {
		if id, ref, ok := splitRefKey(k); ok && id == p.ID {
			out = append(out, ref)
		}
	}
	return out
}

func splitRefKey(k string) (int64, string, bool) {
	parts := strings.SplitN(k, "\x00", 3)
	if len(parts) != 3 || parts[2] != "" {
		return 0, "", false
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	return id, parts[1], err == nil
}

// Commits returns the commits a project took, oldest first.
func (s *Server) Commits(project string) []Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	if p == nil {
		return nil
	}
	return append([]Commit(nil), s.commits[p.ID]...)
}

// MergeRequests returns a project's merge requests, oldest first.
func (s *Server) MergeRequests(project string) []MergeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	if p == nil {
		return nil
	}
	var out []MergeRequest
	for _, mr := range s.mrs[p.ID] {
		out = append(out, MergeRequest{IID: mr.IID, Title: mr.Title, Description: mr.Description,
			SourceBranch: mr.SourceBranch, TargetBranch: mr.TargetBranch, State: mr.State})
	}
	return out
}

// FileAt returns a file's content at ref, and whether it exists.
func (s *Server) FileAt(project, ref, path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	if p == nil {
		return "", false
	}
	c, ok := s.files[fileKey(p.ID, ref, path)]
	return c, ok
}

func sha(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

func (s *Server) branchJSON(p *Project, name string) map[string]any {
	id := sha(fmt.Sprint(p.ID), name, strconv.Itoa(len(s.commits[p.ID])))
	return map[string]any{
		"name": name, "merged": false, "protected": name == p.DefaultBranch, "default": name == p.DefaultBranch,
		"developers_can_push": false, "developers_can_merge": false, "can_push": true,
		"commit": map[string]any{
			"id": id, "short_id": id[:7], "title": "keyless", "message": "keyless",
			"author_name": "gitlabtest", "author_email": "gitlabtest@example.com",
			"committer_name": "gitlabtest", "committer_email": "gitlabtest@example.com",
			"authored_date": s.clock, "committed_date": s.clock, "parent_ids": []string{},
		},
	}
}

func (s *Server) mrJSON(mr *mergeRequest) map[string]any {
	return map[string]any{
		"id": mr.ID, "iid": mr.IID, "project_id": mr.ProjectID, "title": mr.Title, "description": mr.Description,
		"state": mr.State, "source_branch": mr.SourceBranch, "target_branch": mr.TargetBranch,
		"source_project_id": mr.ProjectID, "target_project_id": mr.ProjectID,
		"author":  map[string]any{"id": mr.AuthorID, "username": mr.Author},
		"web_url": mr.WebURL, "created_at": s.clock, "updated_at": s.clock, "draft": false,
	}
}

// body decodes a JSON body, or a form, as client-go and curl send them.
func decodeBody(r *http.Request, body []byte, v any) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || (len(body) > 0 && body[0] == '{') {
		return json.Unmarshal(body, v)
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return err
	}
	m := map[string]string{}
	for k := range q {
		m[k] = q.Get(k)
	}
	b, _ := json.Marshal(m)
	return json.Unmarshal(b, v)
}

// writeRoute answers the branch, commit and merge request endpoints;
// ok is false for another route.
func (s *Server) writeRoute(r *http.Request, u *user, p *Project, rest []string, q url.Values, body []byte) (resp, bool) {
	if s.commits == nil {
		s.commits = map[int64][]Commit{}
		s.mrs = map[int64][]*mergeRequest{}
	}
	get, post, put := r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodPut
	switch {
	// https://docs.gitlab.com/api/branches/#get-single-repository-branch
	case get && len(rest) == 3 && rest[0] == "repository" && rest[1] == "branches":
		if !s.refExists(p.ID, rest[2]) {
			return message(http.StatusNotFound, "404 Branch Not Found"), true
		}
		return jsonResp(http.StatusOK, s.branchJSON(p, rest[2])), true
	// https://docs.gitlab.com/api/branches/#create-repository-branch
	case post && len(rest) == 2 && rest[0] == "repository" && rest[1] == "branches":
		var in struct{ Branch, Ref string }
		if err := decodeBody(r, body, &in); err != nil || in.Branch == "" {
			in.Branch, in.Ref = q.Get("branch"), q.Get("ref")
		}
		if in.Branch == "" || in.Ref == "" {
			return jsonResp(http.StatusBadRequest, map[string]string{"error": "branch is missing, ref is missing"}), true
		}
		if s.refExists(p.ID, in.Branch) {
			return message(http.StatusBadRequest, "Branch already exists"), true
		}
		if !s.refExists(p.ID, in.Ref) {
			return message(http.StatusBadRequest, "Invalid reference name: "+in.Ref), true
		}
		prefix := fileKey(p.ID, in.Ref, "")
		for k, v := range s.files {
			if strings.HasPrefix(k, prefix) && k != prefix {
				s.files[fileKey(p.ID, in.Branch, strings.TrimPrefix(k, prefix))] = v
			}
		}
		s.refs[fileKey(p.ID, in.Branch, "")] = true
		return jsonResp(http.StatusCreated, s.branchJSON(p, in.Branch)), true
	// https://docs.gitlab.com/api/commits/#create-a-commit-with-multiple-files-and-actions
	case post && len(rest) == 2 && rest[0] == "repository" && rest[1] == "commits":
		var in struct {
			Branch        string `json:"branch"`
			CommitMessage string `json:"commit_message"`
			Actions       []struct {
				Action   string `json:"action"`
				FilePath string `json:"file_path"`
				Content  string `json:"content"`
			} `json:"actions"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Branch == "" || in.CommitMessage == "" || len(in.Actions) == 0 {
			return jsonResp(http.StatusBadRequest, map[string]string{"error": "branch, commit_message, actions are missing"}), true
		}
		if !s.refExists(p.ID, in.Branch) {
			return message(http.StatusBadRequest, "You can only create or edit files when you are on a branch"), true
		}
		c := Commit{Branch: in.Branch, Message: in.CommitMessage}
		for _, a := range in.Actions {
			k := fileKey(p.ID, in.Branch, a.FilePath)
			_, exists := s.files[k]
			switch {
			case a.Action == "update" && !exists:
				return message(http.StatusBadRequest, "A file with this name doesn't exist"), true
			case a.Action == "create" && exists:
				return message(http.StatusBadRequest, "A file with this name already exists"), true
			case a.Action != "update" && a.Action != "create":
				return message(http.StatusBadRequest, "action does not have a valid value"), true
			}
			s.files[k] = a.Content
			c.Files = append(c.Files, a.FilePath)
		}
		s.commits[p.ID] = append(s.commits[p.ID], c)
		id := sha(fmt.Sprint(p.ID), in.Branch, strconv.Itoa(len(s.commits[p.ID])))
		title, _, _ := strings.Cut(in.CommitMessage, "\n")
		return jsonResp(http.StatusCreated, map[string]any{
			"id": id, "short_id": id[:11], "title": title, "message": in.CommitMessage,
			"author_name": u.Username, "author_email": u.Username + "@example.com",
			"committer_name": u.Username, "committer_email": u.Username + "@example.com",
			"parent_ids": []string{}, "status": nil, "project_id": p.ID,
			"stats": map[string]any{"additions": 0, "deletions": 0, "total": 0},
		}), true
	// https://docs.gitlab.com/api/merge_requests/#list-project-merge-requests
	case get && len(rest) == 1 && rest[0] == "merge_requests":
		var items []any
		for _, mr := range s.mrs[p.ID] {
			if st := q.Get("state"); st != "" && st != "all" && mr.State != st {
				continue
			}
			if b := q.Get("source_branch"); b != "" && mr.SourceBranch != b {
				continue
			}
			if b := q.Get("target_branch"); b != "" && mr.TargetBranch != b {
				continue
			}
			items = append(items, s.mrJSON(mr))
		}
		if items == nil {
			items = []any{}
		}
		return s.offset(r, items, q), true
	// https://docs.gitlab.com/api/merge_requests/#create-mr
	case post && len(rest) == 1 && rest[0] == "merge_requests":
		var in struct {
			Title        string `json:"title"`
			Description  string `json:"description"`
			SourceBranch string `json:"source_branch"`
			TargetBranch string `json:"target_branch"`
		}
		if err := decodeBody(r, body, &in); err != nil || in.Title == "" || in.SourceBranch == "" || in.TargetBranch == "" {
			return jsonResp(http.StatusBadRequest, map[string]string{"error": "title, source_branch, target_branch are missing"}), true
		}
		if !s.refExists(p.ID, in.SourceBranch) || !s.refExists(p.ID, in.TargetBranch) {
			return message(http.StatusNotFound, "404 Branch Not Found"), true
		}
		for _, mr := range s.mrs[p.ID] {
			if mr.State == "opened" && mr.SourceBranch == in.SourceBranch && mr.TargetBranch == in.TargetBranch {
				return jsonResp(http.StatusConflict, map[string]any{"message": []string{fmt.Sprintf("Another open merge request already exists for this source branch: !%d", mr.IID)}}), true
			}
		}
		s.nextID++
		iid := int64(len(s.mrs[p.ID]) + 1)
		mr := &mergeRequest{ID: s.nextID, IID: iid, ProjectID: p.ID, Title: in.Title, Description: in.Description,
			SourceBranch: in.SourceBranch, TargetBranch: in.TargetBranch, State: "opened", AuthorID: u.ID, Author: u.Username,
			WebURL: fmt.Sprintf("%s/%s/-/merge_requests/%d", s.URL, p.PathWithNamespace, iid)}
		s.mrs[p.ID] = append(s.mrs[p.ID], mr)
		return jsonResp(http.StatusCreated, s.mrJSON(mr)), true
	// https://docs.gitlab.com/api/merge_requests/#update-mr
	case put && len(rest) == 2 && rest[0] == "merge_requests":
		iid, _ := strconv.ParseInt(rest[1], 10, 64)
		for _, mr := range s.mrs[p.ID] {
			if mr.IID != iid {
				continue
			}
			var in map[string]any
			if err := decodeBody(r, body, &in); err != nil {
				return jsonResp(http.StatusBadRequest, map[string]string{"error": "bad body"}), true
			}
			if t, ok := in["title"].(string); ok {
				mr.Title = t
			}
			if d, ok := in["description"].(string); ok {
				mr.Description = d
			}
			return jsonResp(http.StatusOK, s.mrJSON(mr)), true
		}
		return message(http.StatusNotFound, "404 Not found"), true
	}
	return resp{}, false
}
