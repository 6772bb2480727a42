package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// GitLab's rules for a CI/CD catalog project
// (https://docs.gitlab.com/ci/components/#directory-structure,
// https://docs.gitlab.com/ci/inputs/): a component is templates/<name>.yml
// or templates/<name>/template.yml; its spec: header is a document of its
// own before ---; at most 30 components per project.
const maxComponents = 30

var componentName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestCatalogRules(t *testing.T) {
	var components []string
	err := filepath.WalkDir("../../templates", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("../../templates", path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		switch {
		case len(parts) == 1 && strings.HasSuffix(parts[0], ".yml"):
			components = append(components, strings.TrimSuffix(parts[0], ".yml"))
		case len(parts) == 2 && parts[1] == "template.yml":
			components = append(components, parts[0])
		case len(parts) == 2:
			// A file beside a directory component's template.yml.
		default:
			t.Errorf("templates/%s: GitLab reads only templates/<name>.yml or templates/<name>/template.yml (and .yaml is not read)", rel)
			return nil
		}
		if len(parts) == 1 || parts[1] == "template.yml" {
			checkComponentFile(t, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(components) == 0 || len(components) > maxComponents {
		t.Errorf("%d components: a catalog project has 1 to %d", len(components), maxComponents)
	}
	for _, c := range components {
		if !componentName.MatchString(c) {
			t.Errorf("component name %q: use letters, digits, - and _", c)
		}
		if _, err := os.Stat(filepath.Join("../../components", c, "README.md")); err != nil {
			t.Errorf("component %s has no components/%s/README.md", c, c)
		}
	}
}

// checkComponentFile checks one component's header: the first YAML
// document is spec: alone, with inputs that each have a description, and
// a second document (the jobs) follows the --- separator.
func checkComponentFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var header yaml.Node
	if err := dec.Decode(&header); err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	var body yaml.Node
	if err := dec.Decode(&body); err != nil {
		if errors.Is(err, io.EOF) {
			t.Errorf("%s: the spec: header must be followed by --- and the component's jobs", path)
		} else {
			t.Errorf("%s: the jobs after ---: %v", path, err)
		}
		return
	}
	if !bytes.HasPrefix(b, []byte("spec:")) {
		t.Errorf("%s: the file must start with its spec: header", path)
	}
	root := header.Content[0]
	if root.Kind != yaml.MappingNode || len(root.Content) != 2 || root.Content[0].Value != "spec" {
		t.Errorf("%s: the header holds spec: and nothing else", path)
		return
	}
	spec := root.Content[1]
	for i := 0; i+1 < len(spec.Content); i += 2 {
		key, val := spec.Content[i].Value, spec.Content[i+1]
		switch key {
		case "inputs":
			if val.Kind != yaml.MappingNode || len(val.Content) == 0 {
				t.Errorf("%s: spec: inputs: is empty; remove it or declare inputs", path)
				continue
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				var in struct {
					Description string `yaml:"description"`
				}
				if err := val.Content[j+1].Decode(&in); err != nil || strings.TrimSpace(in.Description) == "" {
					t.Errorf("%s: input %s has no description", path, val.Content[j].Value)
				}
			}
		case "component", "description":
		default:
			t.Errorf("%s: spec: %s is not a key GitLab knows", path, key)
		}
	}
}

// A component included as @1.2.3 runs helper 1.2.3: every image the
// templates run is tagged with the component's version, and install:
// download fetches that version.
func TestComponentsPinTheirVersion(t *testing.T) {
	templates, err := filepath.Glob("../../templates/*.yml")
	if err != nil || len(templates) == 0 {
		t.Fatalf("templates: %v %v", templates, err)
	}
	image := regexp.MustCompile(`(?m)^\s+image:\s*\n\s+name: (.+)$`)
	// On main the tag; in a release also its digest (make release-pin).
	release := regexp.MustCompile(`^\$\[\[ inputs\.image \]\]:\$\[\[ component\.version \]\](@sha256:[0-9a-f]{64})?$`)
	for _, path := range templates {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, body, _ := strings.Cut(string(b), "\n---\n")
		images := image.FindAllStringSubmatch(body, -1)
		if len(images) == 0 {
			t.Errorf("%s runs no release image", path)
		}
		for _, m := range images {
			if !release.MatchString(m[1]) {
				t.Errorf("%s: image %s is not the release image of the component's version", path, m[1])
			}
		}
		if strings.Contains(body, "KEYLESS_INSTALL") && !strings.Contains(body, "KEYLESS_RELEASE: $[[ component.version ]]") {
			t.Errorf("%s: install: download does not fetch the component's version (KEYLESS_RELEASE: $[[ component.version ]])", path)
		}
	}
}
