package compile

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// jsonEncoder writes the configuration as one JSON object, keys in the
// configuration's order, indented by two spaces. Booleans, integers and
// floats are JSON's; a value JSON has no form for (a timestamp, a float
// that is infinite or not a number, a custom tag) is a string.
type jsonEncoder struct{}

func (jsonEncoder) Encode(w io.Writer, config *pipeline.Node) error {
	var b bytes.Buffer
	writeJSON(&b, config, 0)
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// jsonNumber is RFC 8259's number grammar.
var jsonNumber = lazyre.New(`^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$`)

func writeJSON(b *bytes.Buffer, n *pipeline.Node, depth int) {
	indent := func(d int) {
		b.WriteByte('\n')
		b.WriteString(strings.Repeat("  ", d))
	}
	switch {
	case n == nil || n.Kind == pipeline.Null:
		b.WriteString("null")
	case n.Kind == pipeline.Map:
		if len(n.Pairs) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, p := range n.Pairs {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			jsonString(b, p.Key)
			b.WriteString(": ")
			writeJSON(b, p.Value, depth+1)
		}
		indent(depth)
		b.WriteByte('}')
	case n.Kind == pipeline.Seq:
		if len(n.Items) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, it := range n.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			writeJSON(b, it, depth+1)
		}
		indent(depth)
		b.WriteByte(']')
	case n.Tag == "!!bool" && (n.Value == "true" || n.Value == "false"),
		(n.Tag == "!!int" || n.Tag == "!!float") && jsonNumber().MatchString(n.Value):
		b.WriteString(n.Value)
	default:
		jsonString(b, n.Value)
	}
}

func jsonString(b *bytes.Buffer, s string) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	e.Encode(s)             // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}
