package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		spec     Spec
		want     string
		wildcard bool
	}{
		{Spec{ProjectPath: "acme/web", RefType: "branch", Ref: "main"}, "project_path:acme/web:ref_type:branch:ref:main", false},
		{Spec{ProjectPath: "acme/web"}, "project_path:acme/web:ref_type:*:ref:*", true},
		{Spec{Group: "acme/apps", RefType: "tag", Ref: "v*"}, "project_path:acme/apps/*:ref_type:tag:ref:v*", true},
		{Spec{ProjectPath: "acme/web", Ref: "main", ProtectedOnly: true, SubComponents: []string{"project_path", "ref", "ref_protected"}}, "project_path:acme/web:ref:main:ref_protected:true", false},
		{Spec{ProjectPath: "acme/web", SubComponents: []string{"project_path"}}, "project_path:acme/web", false},
	} {
		got, wildcard := tc.spec.Subject()
		if got != tc.want || wildcard != tc.wildcard {
			t.Errorf("%+v: Subject() = %q, %v; want %q, %v", tc.spec, got, wildcard, tc.want, tc.wildcard)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mut  func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Issuer = "" }, "--issuer"},
		{func(s *Spec) { s.Issuer = "https://gitlab.com/" }, "ends with a slash"},
		{func(s *Spec) { s.Issuer = "gitlab.com" }, "not an http(s) URL"},
		{func(s *Spec) { s.ProjectPath = "" }, "--project PATH"},
		{func(s *Spec) { s.Group = "acme" }, "both set"},
		{func(s *Spec) { s.ProjectPath = "acme/*" }, "without wildcards"},
		{func(s *Spec) { s.ProjectID = "web" }, "--project-id"},
		{func(s *Spec) { s.RefType = "branches" }, "--ref-type"},
		{func(s *Spec) { s.SubComponents = []string{"ref", "project_path"} }, "project_path first"},
		{func(s *Spec) { s.SubComponents = []string{"project_path", "environment"} }, `"environment" is not a sub claim component`},
		{func(s *Spec) { s.SubComponents = []string{"project_path", "ref", "ref"} }, "twice"},
	} {
		s := ok
		tc.mut(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate() = %v, want an error containing %q", s, err, tc.want)
		}
	}
}

func TestComponentsOf(t *testing.T) {
	for sub, want := range map[string][]string{
		"project_path:acme/web:ref_type:branch:ref:main":                    nil, // the default
		"project_path:acme/web:ref:main:ref_type:branch":                    {"project_path", "ref", "ref_type"},
		"project_path:acme/web:ref_type:branch:ref:main:ref_protected:true": {"project_path", "ref_type", "ref", "ref_protected"},
		"project_path:acme/web":                                             {"project_path"},
		"repo:acme/web:ref:refs/heads/main":                                 nil, // not GitLab's
		"project_path:acme/web:ref:main:odd":                                nil,
	} {
		if got := ComponentsOf(sub); !cmp.Equal(got, want) {
			t.Errorf("ComponentsOf(%q) = %q, want %q", sub, got, want)
		}
	}
}

func TestSpecFromClaims(t *testing.T) {
	c, err := ParseClaims([]byte(`{"iss": "https://gitlab.example.com", "aud": "sts.amazonaws.com",
		"sub": "project_path:acme/web:ref_type:branch:ref:main:ref_protected:true",
		"project_path": "acme/web", "project_id": "42", "namespace_id": "7", "ref": "main", "ref_type": "branch",
		"ref_protected": "true", "environment": "production"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := SpecFromClaims(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{Issuer: "https://gitlab.example.com", Audience: "sts.amazonaws.com", ProjectPath: "acme/web", ProjectID: "42", NamespaceID: "7",
		Ref: "main", RefType: "branch", ProtectedOnly: true, Environment: "production",
		SubComponents: []string{"project_path", "ref_type", "ref", "ref_protected"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("SpecFromClaims (-want +got):\n%s", d)
	}
	if sub, _ := got.Subject(); sub != "project_path:acme/web:ref_type:branch:ref:main:ref_protected:true" {
		t.Errorf("the spec's subject %q is not the token's", sub)
	}
	if _, err := SpecFromClaims(Claims{"iss": "https://gitlab.com", "sub": "x"}, nil); err == nil || !strings.Contains(err.Error(), "project_path") {
		t.Errorf("claims without project_path: %v", err)
	}
}

func TestClaims(t *testing.T) {
	c, err := ParseClaims([]byte(`{"s": "x", "n": 42, "b": true, "l": ["a", "b"], "o": {"k": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"s": `"x"`, "n": `"42"`, "b": `"true"`, "l": `["a", "b"]`, "o": "(not a string)", "none": "(absent)"} {
		if got := c.Display(name); got != want {
			t.Errorf("Display(%q) = %s, want %s", name, got, want)
		}
	}
	for _, bad := range []string{"", "[]", "null", `"s"`, "{"} {
		if _, err := ParseClaims([]byte(bad)); err == nil {
			t.Errorf("ParseClaims(%q) accepted it", bad)
		}
	}
}

func TestWarnings(t *testing.T) {
	ids := func(s Spec) []string {
		var out []string
		for _, w := range s.Warnings() {
			out = append(out, w.ID)
		}
		return out
	}
	for _, tc := range []struct {
		spec Spec
		want []string
	}{
		{Spec{ProjectPath: "a/b", Ref: "main", RefType: "branch"}, nil},
		{Spec{ProjectPath: "a/b"}, []string{"any-ref"}},
		{Spec{Group: "a", Ref: "main", Production: true}, []string{"group-wildcard-production"}},
		{Spec{ProjectPath: "a/b", Ref: "release/*"}, []string{"ref-wildcard"}},
		{Spec{ProjectPath: "a/b", Ref: "release/*", ProtectedOnly: true}, nil},
	} {
		if got := ids(tc.spec); !cmp.Equal(got, tc.want) {
			t.Errorf("%+v: warnings %q, want %q", tc.spec, got, tc.want)
		}
	}
}

// fakeProvider owns the audiences with its prefix; an empty prefix owns none
// (and does not implement AudienceOwner).
type fakeProvider struct {
	Provider
	prefix string
}

type owningProvider struct{ fakeProvider }

func (p owningProvider) OwnsAudience(aud string) bool { return strings.HasPrefix(aud, p.prefix) }

// A token with several audiences (an id_tokens: aud list) gives each
// provider its own one.
func TestChooseAudience(t *testing.T) {
	aws, gcp := owningProvider{fakeProvider{prefix: "sts."}}, owningProvider{fakeProvider{prefix: "https://iam."}}
	vault := fakeProvider{}
	all := []Provider{aws, gcp, vault}
	auds := []string{"https://iam.example/p", "sts.amazonaws.com", "https://vault.example.com"}
	for _, tc := range []struct {
		p    Provider
		want string
	}{{aws, "sts.amazonaws.com"}, {gcp, "https://iam.example/p"}, {vault, "https://vault.example.com"}} {
		s := Spec{TokenAudiences: auds}
		s.ChooseAudience(tc.p, all)
		if s.Audience != tc.want {
			t.Errorf("%v: Audience = %q, want %q", tc.p, s.Audience, tc.want)
		}
	}
	s := Spec{Audience: "set", TokenAudiences: auds}
	if s.ChooseAudience(vault, all); s.Audience != "set" {
		t.Errorf("an audience already set was replaced: %q", s.Audience)
	}
	c, _ := ParseClaims([]byte(`{"iss": "https://gitlab.com", "project_path": "a/b", "aud": ["x", "y"], "sub": "project_path:a/b:ref_type:branch:ref:main"}`))
	if spec, err := SpecFromClaims(c, nil); err != nil || spec.Audience != "" || len(spec.TokenAudiences) != 2 {
		t.Errorf("SpecFromClaims with two audiences: %+v %v", spec, err)
	}
}
