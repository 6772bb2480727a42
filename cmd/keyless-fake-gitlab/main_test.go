package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

func fetch(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

type apiVar struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Hidden bool    `json:"hidden"`
	Type   string  `json:"variable_type"`
}

// dump reads every project's variables and pipeline through the API.
func dump(t *testing.T, c Config) (Instance, string) {
	s := gitlabtest.NewServer()
	in := Build(s, c)
	if _, stop, err := s.StartAt(""); err != nil {
		t.Fatal(err)
	} else {
		defer stop()
	}
	var out strings.Builder
	for _, p := range in.ProjectPaths {
		id := strings.ReplaceAll(p, "/", "%2F")
		out.Write(fetch(t, s.URL+"/api/v4/projects/"+id+"/variables", in.AdminToken))
		out.Write(fetch(t, s.URL+"/api/v4/projects/"+id+"/repository/files/.gitlab-ci.yml/raw?ref=main", in.AdminToken))
	}
	out.Write(fetch(t, s.URL+"/api/v4/admin/ci/variables", in.AdminToken))
	return in, out.String()
}

func TestDeterministic(t *testing.T) {
	c := Config{Projects: 40, Vars: 5, Seed: 7}
	in1, a := dump(t, c)
	in2, b := dump(t, c)
	if a != b || in1.AdminToken != in2.AdminToken {
		t.Error("the same seed built different instances")
	}
	_, d := dump(t, Config{Projects: 40, Vars: 5, Seed: 8})
	if a == d {
		t.Error("another seed built the same instance")
	}
}

// TestSyntheticValues checks that every credential is shaped so that
// keyless's detectors see it, that no value is a documented placeholder,
// and that every pipeline parses.
func TestSyntheticValues(t *testing.T) {
	s := gitlabtest.NewServer()
	in := Build(s, Config{Projects: 300, Vars: 5, Seed: 1})
	if _, stop, err := s.StartAt(""); err != nil {
		t.Fatal(err)
	} else {
		defer stop()
	}
	if in.Groups != 50 || in.ProjectVars != 1500 {
		t.Errorf("instance = %+v", in)
	}
	for _, k := range []string{kAWS, kAzure, kGCP, kVault, kDocker, kGitLab} {
		if in.ProjectsByKind[k] == 0 {
			t.Errorf("no project holds a %s credential", k)
		}
	}
	seen := map[string]int{}
	for _, p := range in.ProjectPaths {
		id := strings.ReplaceAll(p, "/", "%2F")
		var vs []apiVar
		if err := json.Unmarshal(fetch(t, s.URL+"/api/v4/projects/"+id+"/variables", in.AdminToken), &vs); err != nil {
			t.Fatal(err)
		}
		if len(vs) != 5 {
			t.Errorf("%s: %d variables", p, len(vs))
		}
		keys := map[string]bool{}
		for _, v := range vs {
			if keys[v.Key] {
				t.Errorf("%s: %s twice", p, v.Key)
			}
			keys[v.Key] = true
			seen[v.Key]++
			if v.Hidden {
				if v.Value != nil {
					t.Errorf("%s: hidden %s has a value", p, v.Key)
				}
				continue
			}
			ms := detect.Scan(*v.Value, detect.Context{Key: v.Key})
			credential := !strings.HasPrefix(v.Key, "CONFIG_") && !isConfig(v.Key)
			if credential && len(ms) == 0 {
				t.Errorf("%s: %s is not detected", p, v.Key)
			}
			if !credential && len(ms) > 0 {
				t.Errorf("%s: config %s detected as %v", p, v.Key, ms)
			}
			if strings.HasPrefix(*v.Value, "AKIA") && (len(*v.Value) != 20 || strings.HasSuffix(*v.Value, "EXAMPLE")) {
				t.Errorf("%s: bad key id shape", p)
			}
		}
		src := fetch(t, s.URL+"/api/v4/projects/"+id+"/repository/files/.gitlab-ci.yml/raw?ref=main", in.AdminToken)
		pl := pipeline.Parse("", ".gitlab-ci.yml", src, pipeline.Options{})
		if len(pl.Problems) > 0 || len(pl.Jobs) < 2 {
			t.Errorf("%s: %d jobs, problems %v\n%s", p, len(pl.Jobs), pl.Problems, src)
		}
	}
	t.Logf("variables by key over 300 projects: %v", seen)
}

func isConfig(key string) bool {
	for _, c := range configVars {
		if c.key == key {
			return true
		}
	}
	return false
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	tok, url := filepath.Join(dir, "token"), filepath.Join(dir, "url")
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- run([]string{"-projects", "3", "-token-file", tok, "-url-file", url}, &stderr) }()
	var base []byte
	for range 200 {
		if base, _ = os.ReadFile(url); len(base) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fi, err := os.Stat(tok)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	token, _ := os.ReadFile(tok)
	b := fetch(t, strings.TrimSpace(string(base))+"/api/v4/user", strings.TrimSpace(string(token)))
	if !strings.Contains(string(b), `"is_admin":true`) {
		t.Errorf("user = %s", b)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGTERM) // run stops on it
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not stop on SIGTERM")
	}
	if want := fmt.Sprintf("fake GitLab at %s", strings.TrimSpace(string(base))); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q", stderr.String())
	}
}
