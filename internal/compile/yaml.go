package compile

import (
	"io"

	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// yamlEncoder writes YAML that GitLab's reader (Psych, YAML 1.1) and
// YAML 1.2 readers read back to the same values: a string that either
// would read as something else ("on", "1:20", "1e5", "null") is quoted,
// a multi-line string is a literal block, floats are written as YAML
// spells them (.inf, not Ruby's Infinity). Key order is the
// configuration's; there are no anchors, aliases or comments.
type yamlEncoder struct{}

func (yamlEncoder) Encode(w io.Writer, config *pipeline.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(toYAML(config)); err != nil {
		return err
	}
	return enc.Close()
}

func toYAML(n *pipeline.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	switch n.Kind {
	case pipeline.Map:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: make([]*yaml.Node, 0, 2*len(n.Pairs))}
		for _, p := range n.Pairs {
			m.Content = append(m.Content, str(p.Key), toYAML(p.Value))
		}
		return m
	case pipeline.Seq:
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: make([]*yaml.Node, 0, len(n.Items))}
		if n.Tag != "" && n.Tag != "!!seq" {
			// A tag left unresolved (a !reference that points nowhere):
			// kept as written.
			s.Tag, s.Style = n.Tag, yaml.FlowStyle
		}
		for _, it := range n.Items {
			s.Content = append(s.Content, toYAML(it))
		}
		return s
	case pipeline.Scalar:
		switch n.Tag {
		case "!!str":
			return str(n.Value)
		case "!!float":
			// Value is Ruby's Float#to_s; these three are not YAML.
			v := map[string]string{"Infinity": ".inf", "-Infinity": "-.inf", "NaN": ".nan"}[n.Value]
			if v == "" {
				v = n.Value
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: v}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: n.Value}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// str is a string scalar, double-quoted when GitLab would read it
// unquoted as something else; yaml.v3 adds quotes for YAML 1.2's reasons
// (and a literal block for several lines) itself.
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if pipeline.PlainTag(s) != "!!str" {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}
