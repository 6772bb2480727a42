package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// Every component's README documents its inputs in a table that is the
// spec's inputs, in order: name, default (*(required)* without one, `""` for
// the empty string) and description, with whitespace collapsed. On a
// mismatch the error prints the table to paste. Every input has a
// description, as the CI/CD Catalog shows them.
func TestComponentREADMEInputsMatchSpec(t *testing.T) {
	templates, err := filepath.Glob("../../templates/*.yml")
	if err != nil || len(templates) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, templatePath := range templates {
		name := strings.TrimSuffix(filepath.Base(templatePath), ".yml")
		t.Run(name, func(t *testing.T) {
			readmeInputsMatchSpec(t, templatePath, filepath.Join("../../components", name, "README.md"))
		})
	}
}

func readmeInputsMatchSpec(t *testing.T, templatePath, readmePath string) {
	f, err := os.Open(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var spec struct {
		Spec struct {
			Inputs yaml.Node `yaml:"inputs"`
		} `yaml:"spec"`
	}
	if err := yaml.NewDecoder(f).Decode(&spec); err != nil { // the first document only
		t.Fatalf("%s: %v", templatePath, err)
	}
	in := spec.Spec.Inputs
	if in.Kind != yaml.MappingNode || len(in.Content) == 0 {
		t.Fatalf("%s: spec.inputs is not a mapping", templatePath)
	}
	var want [][3]string
	for i := 0; i < len(in.Content); i += 2 {
		var input struct {
			Default     *string `yaml:"default"`
			Description string  `yaml:"description"`
		}
		if err := in.Content[i+1].Decode(&input); err != nil {
			t.Fatalf("%s: input %s: %v", templatePath, in.Content[i].Value, err)
		}
		if strings.TrimSpace(input.Description) == "" {
			t.Errorf("%s: input %s has no description", templatePath, in.Content[i].Value)
		}
		def := "*(required)*"
		switch {
		case input.Default == nil:
		case *input.Default == "":
			def = "`\"\"`"
		default:
			def = "`" + *input.Default + "`"
		}
		want = append(want, [3]string{"`" + in.Content[i].Value + "`", def, strings.Join(strings.Fields(input.Description), " ")})
	}

	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inputsTable(string(readme))
	if err != nil {
		t.Fatalf("%s: %v", readmePath, err)
	}
	if d := cmp.Diff(want, got); d != "" {
		var b strings.Builder
		b.WriteString("| Input | Default | Description |\n| --- | --- | --- |\n")
		for _, r := range want {
			b.WriteString("| " + strings.Join(r[:], " | ") + " |\n")
		}
		t.Errorf("%s's inputs table differs from %s's spec (-spec +README):\n%s\nThe table to paste:\n\n%s", readmePath, templatePath, d, b.String())
	}
}

// inputsTable returns the rows of the first table under "## Inputs".
func inputsTable(md string) ([][3]string, error) {
	_, after, ok := strings.Cut(md, "\n## Inputs\n")
	if !ok {
		return nil, errors.New(`no "## Inputs" section`)
	}
	var rows [][3]string
	inTable := false
	for _, line := range strings.Split(after, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "## ") {
			break
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			return nil, errors.New("inputs table row without 3 cells: " + line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[0] == "Input" || strings.Trim(cells[0], "-: ") == "" {
			continue // header and rule
		}
		rows = append(rows, [3]string{cells[0], cells[1], cells[2]})
	}
	if len(rows) == 0 {
		return nil, errors.New(`no table under "## Inputs"`)
	}
	return rows, nil
}

// Components combine in one job (extends: [.keyless-aws, .keyless-gcp]):
// extends replaces arrays, so the job runs the before_script and
// after_script of the last one listed, and the pipeline gets the
// keyless:install of the last include. They must be the same in every
// component, or the order of extends: would decide which credentials a job
// gets and which are cleaned up.
func TestComponentsShareInstallAndScripts(t *testing.T) {
	templates, err := filepath.Glob("../../templates/*.yml")
	if err != nil || len(templates) < 2 {
		t.Fatalf("templates: %v %v", templates, err)
	}
	compared := 0
	defer func() {
		if compared < 4 {
			t.Errorf("compared %d credential components, want every one of aws, gcp, azure, vault, sts", compared+1)
		}
	}()
	type hidden struct {
		BeforeScript []string `yaml:"before_script"`
		AfterScript  []string `yaml:"after_script"`
	}
	var first string
	var firstInstall yaml.Node
	var firstJob hidden
	for _, path := range templates {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		var spec, body map[string]yaml.Node
		err = errors.Join(dec.Decode(&spec), dec.Decode(&body))
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		hiddenNode, ok := body["$[[ inputs.as ]]"]
		if !ok {
			continue // not a credential component (lint)
		}
		install, ok := body["keyless:install"]
		if !ok {
			t.Fatalf("%s has no keyless:install job", path)
		}
		var job hidden
		if err := hiddenNode.Decode(&job); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !strings.Contains(strings.Join(job.AfterScript, "\n"), "keyless cleanup") {
			t.Errorf("%s: after_script does not run keyless cleanup", path)
		}
		if first == "" {
			first, firstInstall, firstJob = path, install, job
			continue
		}
		compared++
		a, _ := yaml.Marshal(&firstInstall)
		b, _ := yaml.Marshal(&install)
		if d := cmp.Diff(string(a), string(b)); d != "" {
			t.Errorf("keyless:install differs between %s and %s:\n%s", first, path, d)
		}
		if d := cmp.Diff(firstJob, job); d != "" {
			t.Errorf("before_script or after_script differs between %s and %s:\n%s", first, path, d)
		}
	}
}
