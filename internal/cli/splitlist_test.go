package cli

import (
	"reflect"
	"testing"
)

// splitList is the one list syntax of every flag and KEYLESS_* variable
// that takes a list (issue 14): commas and newlines, items trimmed, empties
// dropped, repeated flags flattened in order.
func TestSplitList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"empty input", []string{""}, nil},
		{"only separators", []string{" , \n,\n "}, nil},
		{"one", []string{"a"}, []string{"a"}},
		{"commas", []string{"a, b ,c"}, []string{"a", "b", "c"}},
		// A component input written as a YAML | block: one item a line.
		{"newlines", []string{"DB=secret/db#password\nAPI=secret/api#key\n"}, []string{"DB=secret/db#password", "API=secret/api#key"}},
		{"CRLF and tabs trimmed", []string{"\ta\r\n b \r\n"}, []string{"a", "b"}},
		{"both", []string{"a,b\nc"}, []string{"a", "b", "c"}},
		{"empties dropped", []string{",a,,b,"}, []string{"a", "b"}},
		{"repeated flag", []string{"a,b", "c", "", "d\ne"}, []string{"a", "b", "c", "d", "e"}},
		// Spaces inside an item are part of it (a file path, a Vault path).
		{"spaces kept inside", []string{"x=/tmp/my dir/f"}, []string{"x=/tmp/my dir/f"}},
	} {
		if got := splitList(tc.in...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: splitList(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
