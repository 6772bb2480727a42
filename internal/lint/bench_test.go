package lint

import (
	"context"
	"testing"
)

// BenchmarkLintCorpus is keyless lint -r over the real corpus
// (testdata/corpus): what make bench-lint times against gitleaks, in
// process, for a profile (go test -bench LintCorpus -cpuprofile).
func BenchmarkLintCorpus(b *testing.B) {
	for b.Loop() {
		rep, err := Lint(context.Background(), Request{Paths: []string{"../../testdata/corpus"}, Recursive: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Findings) == 0 {
			b.Fatal("no findings on the corpus")
		}
	}
}
