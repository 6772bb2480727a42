package gitlabapi_test

import (
	"errors"
	"io"
	"io/fs"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

func TestProjectFS(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/app")
	s.AddFile("g/app", "main", "ci/deploy.yml", "deploy:\n  script: [aws s3 ls]\n")
	c, _ := newClient(t, s)
	fsys := gitlabapi.NewProjectFS(t.Context(), c, "g/app", "main")

	b, err := fsys.ReadFile("ci/deploy.yml")
	if err != nil || string(b) != "deploy:\n  script: [aws s3 ls]\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	f, err := fsys.Open("ci/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Name() != "deploy.yml" || st.Size() != int64(len(b)) || st.IsDir() {
		t.Errorf("Stat = %s %d %v", st.Name(), st.Size(), st.IsDir())
	}
	if all, err := io.ReadAll(f); err != nil || string(all) != string(b) {
		t.Errorf("Read = %q, %v", all, err)
	}
	if _, err := fsys.ReadFile("missing.yml"); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, gitlabapi.ErrNotFound) {
		t.Errorf("missing file: %v, want fs.ErrNotExist and ErrNotFound", err)
	}
	if _, err := fsys.ReadFile("../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("invalid path: %v, want fs.ErrInvalid", err)
	}
}
