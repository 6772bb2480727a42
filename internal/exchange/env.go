package exchange

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteEnv prints POSIX shell lines for `eval "$(keyless env)"`: an unset
// line for every competing variable, then an export line for each value,
// single-quoted so that no value is ever interpreted by the shell.
func WriteEnv(w io.Writer, c *Credentials) error {
	bw := bufio.NewWriter(w)
	for _, u := range c.Unset {
		fmt.Fprintf(bw, "unset %s\n", u)
	}
	for _, v := range c.Vars {
		fmt.Fprintf(bw, "export %s=%s\n", v.Name, ShellQuote(v.Value.Reveal()))
	}
	return bw.Flush()
}

// WriteEnvJSON prints the variables as one JSON object, name to value.
func WriteEnvJSON(w io.Writer, c *Credentials) error {
	m := make(map[string]string, len(c.Vars))
	for _, v := range c.Vars {
		m[v.Name] = v.Value.Reveal()
	}
	return WriteJSON(w, m)
}

// WriteJSON prints v as every --format json does: indented by two spaces,
// with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ShellQuote quotes s for a POSIX shell: single quotes, with each embedded
// single quote written as '\”.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
