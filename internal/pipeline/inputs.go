package pipeline

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// interp interpolates $[[ inputs.name ]] and $[[ component.x ]] in the
// scalars of a file body that has a spec:inputs header
// (https://docs.gitlab.com/ci/inputs/). GitLab's own implementation has
// moved between interpolating the parsed hash and the text before parsing;
// this follows the hash form: a scalar that is exactly one placeholder
// without functions takes the input's type (so an array input becomes a YAML
// sequence), anything else is a string. The result keeps the scalar's
// position; Raw keeps the text with the placeholder.
type interp struct {
	l         *loader
	inputs    map[string]*Node // nil value: required input without a value
	component map[string]string
	reported  map[string]bool
}

var blockRe = regexp.MustCompile(`\$\[\[\s*(.*?)\s*\]\]`)

func (ip *interp) expand(text string, pos Pos) *Node {
	locs := blockRe.FindAllStringSubmatchIndex(text, 64)
	if locs == nil {
		return nil
	}
	if len(locs) == 1 && locs[0][0] == 0 && locs[0][1] == len(text) {
		expr := text[locs[0][2]:locs[0][3]]
		if !strings.Contains(expr, "|") {
			if v, ok := ip.value(expr, pos); ok && v.Kind != Scalar {
				return retype(v, pos, text)
			} else if ok {
				return &Node{Kind: Scalar, Tag: v.Tag, Value: v.Value, Raw: text, Pos: pos}
			}
			return nil
		}
	}
	var b strings.Builder
	last := 0
	changed := false
	for _, loc := range locs {
		b.WriteString(text[last:loc[0]])
		last = loc[1]
		s, ok := ip.eval(text[loc[2]:loc[3]], pos)
		if !ok {
			b.WriteString(text[loc[0]:loc[1]])
			continue
		}
		changed = true
		b.WriteString(s)
	}
	if !changed {
		return nil
	}
	b.WriteString(text[last:])
	return &Node{Kind: Scalar, Tag: "!!str", Value: b.String(), Raw: text, Pos: pos}
}

// retype copies an input's value to the place where it is interpolated.
func retype(v *Node, pos Pos, raw string) *Node {
	c := *v
	c.Pos = pos
	c.Raw = raw
	c.style = 0 // the text is not written at pos: Pipeline.At keeps pos
	if v.Kind == Seq {
		c.Items = make([]*Node, len(v.Items))
		for i, it := range v.Items {
			c.Items[i] = retype(it, pos, it.Raw)
		}
	}
	if v.Kind == Map {
		c.Pairs = make([]Pair, len(v.Pairs))
		for i, p := range v.Pairs {
			c.Pairs[i] = Pair{Key: p.Key, KeyPos: pos, Value: retype(p.Value, pos, p.Value.Raw)}
		}
	}
	return &c
}

// value looks up "inputs.name" or "component.name".
func (ip *interp) value(expr string, pos Pos) (*Node, bool) {
	ctx, name, ok := strings.Cut(strings.TrimSpace(expr), ".")
	name = strings.TrimSpace(name)
	switch {
	case ok && ctx == "inputs":
		v, known := ip.inputs[name]
		if !known {
			ip.report(pos, "unknown:"+name, fmt.Sprintf("$[[ inputs.%s ]] names an input that spec:inputs does not declare; declare it or fix the name", name))
			return nil, false
		}
		if v == nil {
			return nil, false // reported where the input is missing
		}
		return v, true
	case ok && ctx == "component":
		if s, ok := ip.component[name]; ok {
			return strAt(s, pos), true
		}
		return nil, false
	}
	ip.report(pos, "expr:"+expr, fmt.Sprintf("unknown interpolation $[[ %s ]]: only inputs.<name> and component.<field> are interpolated", expr))
	return nil, false
}

// eval interpolates one block into text, applying its functions.
func (ip *interp) eval(expr string, pos Pos) (string, bool) {
	parts := strings.Split(expr, "|")
	v, ok := ip.value(parts[0], pos)
	if !ok {
		return "", false
	}
	s := inputText(v)
	for _, f := range parts[1:] {
		f = strings.TrimSpace(f)
		switch {
		case f == "posix_escape":
			s = posixEscape(s)
		case strings.HasPrefix(f, "truncate(") && strings.HasSuffix(f, ")"):
			a, b, _ := strings.Cut(f[len("truncate("):len(f)-1], ",")
			off, err1 := strconv.Atoi(strings.TrimSpace(a))
			n, err2 := strconv.Atoi(strings.TrimSpace(b))
			if err1 == nil && err2 == nil && off >= 0 && n >= 0 {
				s = truncateRunes(s, off, n)
			}
		default:
			// expand_vars needs the project's variables; unknown
			// functions keep the value as is.
		}
	}
	return s, true
}

func truncateRunes(s string, off, n int) string {
	if utf8.RuneCountInString(s) <= off {
		return ""
	}
	r := []rune(s)[off:]
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// posixEscape quotes s as Ruby's Shellwords.escape does.
func posixEscape(s string) string {
	if s == "" {
		return "''"
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString("'\n'")
		case r < utf8.RuneSelf && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,:+/@", r)):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// inputText is an input's value as text in a larger string.
func inputText(v *Node) string {
	switch v.Kind {
	case Scalar:
		return v.Value
	case Null:
		return ""
	}
	return v.String()
}

func (ip *interp) report(pos Pos, key, msg string) {
	if ip.reported == nil {
		ip.reported = make(map[string]bool)
	}
	if ip.reported[key] {
		return
	}
	ip.reported[key] = true
	ip.l.problem(pos, "inputs", msg)
}

// inputSpec is one spec:inputs entry.
type inputSpec struct {
	name    string
	pos     Pos
	typ     string
	def     *Node
	options *Node
	regex   string
}

// specInputs reads the header's spec:inputs and computes every input's
// value from given (an include's inputs:, or --input for the main file) or
// its default. where is the include entry (or the spec) for problems.
func (l *loader) specInputs(file string, header *Node, given map[string]*Node, where Pos, main bool) (*interp, map[string]string) {
	ip := &interp{l: l, inputs: map[string]*Node{}}
	var specs []inputSpec
	for _, p := range header.Lookup("spec", "inputs").pairsOrNil() {
		s := inputSpec{name: p.Key, pos: p.KeyPos, typ: "string"}
		if p.Value.Kind == Map {
			s.def = p.Value.Get("default")
			s.options = p.Value.Get("options")
			if t := p.Value.Get("type"); t != nil && t.Kind == Scalar {
				s.typ = t.Value
			}
			if r := p.Value.Get("regex"); r != nil && r.Kind == Scalar {
				s.regex = r.Value
			}
		}
		specs = append(specs, s)
	}
	declared := map[string]bool{}
	for _, s := range specs {
		declared[s.name] = true
	}
	var unknown []string
	for k := range given {
		if !declared[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		l.problem(where, "inputs", fmt.Sprintf("input %q is given to %s but its spec:inputs does not declare it; remove it or declare it", k, file))
	}
	values := map[string]string{}
	for _, s := range specs {
		v := given[s.name]
		if v != nil && v.Kind == Null {
			v = nil
		}
		if v == nil {
			v = s.def
		}
		if v == nil {
			how := "pass it in the include's inputs:"
			if main {
				how = "pass it with --input " + s.name + "=VALUE"
			}
			l.problem(where, "inputs", fmt.Sprintf("input %q of %s is required and has no value; %s or give it a default", s.name, file, how))
			ip.inputs[s.name] = nil
			continue
		}
		if !typeOK(s.typ, v) {
			l.problem(v.Pos, "inputs", fmt.Sprintf("input %q of %s must be of type %s, got %s", s.name, file, s.typ, v.String()))
		} else if s.options != nil && s.options.Kind == Seq && !inOptions(v, s.options) {
			l.problem(v.Pos, "inputs", fmt.Sprintf("input %q of %s is %q, which is not one of its options %s", s.name, file, v.String(), s.options.String()))
		} else if s.regex != "" && s.typ == "string" {
			if re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(s.regex, "/"), "/")); err == nil && !re.MatchString(v.Value) {
				l.problem(v.Pos, "inputs", fmt.Sprintf("input %q of %s is %q, which does not match its regex %s", s.name, file, v.Value, s.regex))
			}
		}
		ip.inputs[s.name] = v
		values[s.name] = inputText(v)
	}
	return ip, values
}

func (n *Node) pairsOrNil() []Pair {
	if n == nil || n.Kind != Map {
		return nil
	}
	return n.Pairs
}

func typeOK(typ string, v *Node) bool {
	switch typ {
	case "string":
		return v.Kind == Scalar && v.Tag == "!!str"
	case "number":
		return v.Kind == Scalar && (v.Tag == "!!int" || v.Tag == "!!float")
	case "boolean":
		return v.Kind == Scalar && v.Tag == "!!bool"
	case "array":
		return v.Kind == Seq
	}
	return true
}

func inOptions(v *Node, opts *Node) bool {
	for _, o := range opts.Items {
		if o.Kind == v.Kind && o.Value == v.Value {
			return true
		}
	}
	return false
}

// cliInputs types --input values by their spec type: numbers, booleans and
// arrays are read as YAML (an array as a flow sequence such as [a, b]).
func (l *loader) cliInputs(header *Node, in map[string]string, pos Pos) map[string]*Node {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]*Node, len(in))
	for k, s := range in {
		typ := "string"
		if t := header.Lookup("spec", "inputs", k, "type"); t != nil {
			typ = t.Value
		}
		pos := pos
		for _, p := range header.Lookup("spec", "inputs").pairsOrNil() {
			if p.Key == k {
				pos = p.KeyPos // a --input value is reported at its declaration
			}
		}
		v := strAt(s, pos)
		if typ != "string" {
			var yn yaml.Node
			if err := yaml.Unmarshal([]byte(s), &yn); err == nil {
				c := &conv{l: l, file: pos.File}
				if n, _, _ := c.node(&yn, 0); n.Kind != Null {
					v = retype(n, pos, s)
				}
			}
		}
		out[k] = v
	}
	return out
}
