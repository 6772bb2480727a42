package lint

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// The filters may say yes wrongly, never no: every substring of a text,
// in any case, may be in it; every name added may be set.
func TestFiltersHaveNoFalseNegatives(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcXYZ_$ -=/.\n01"
	var g grams
	var ns nameSet
	var text strings.Builder
	for range 200 {
		var w strings.Builder
		for range 1 + r.IntN(20) {
			w.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		g.add(w.String())
		ns.add(w.String())
		if !ns.mayHave(w.String()) {
			t.Fatalf("name %q added, not found", w.String())
		}
		text.WriteString(w.String())
		text.WriteByte('\x00') // lines are filtered one by one: no trigram spans two
	}
	for _, line := range strings.Split(text.String(), "\x00") {
		for i := 0; i < len(line); i++ {
			for j := i; j <= len(line); j++ {
				sub := line[i:j]
				for _, s := range []string{sub, strings.ToUpper(sub), strings.ToLower(sub)} {
					if !g.mayHave(s) {
						t.Fatalf("%q is in the text but the filter rules it out", s)
					}
				}
			}
		}
	}
	var none *grams
	if !none.mayHave("x") || !none.mayHaveAny([]string{"abc"}) {
		t.Error("no filter must rule nothing out")
	}
}

// A filter of a little text rules most other strings out; otherwise it
// saves nothing.
func TestGramsRuleOutWhatIsNotThere(t *testing.T) {
	var g grams
	g.add("make test && ./scripts/build.sh --release")
	for _, s := range []string{"aws sts assume-role", "vault login", "AWS_SECRET_ACCESS_KEY", "gcloud auth"} {
		if g.mayHave(s) {
			t.Errorf("%q may be in a line that does not hold it", s)
		}
	}
}

func TestHasFold(t *testing.T) {
	for _, tc := range []struct {
		s, sub string
		want   bool
	}{
		{"VAULT_SECRET_ID", "secret", true},
		{"vault_SeCrEt_id", "secret", true},
		{"TF_VAR_login_approle_secret_id", "secret", true},
		{"VAULT_ROLE_ID", "secret", false},
		{"SECRE", "secret", false},
		{"", "secret", false},
	} {
		if got := hasFold(tc.s, tc.sub); got != tc.want {
			t.Errorf("hasFold(%q, %q) = %v", tc.s, tc.sub, got)
		}
	}
}
