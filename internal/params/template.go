package params

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/flotilla-run/flotilla/internal/flotilla"
)

// usage is what a command template uses: the parameters it prints.
type usage struct {
	printed map[string]bool
}

// CheckTemplate checks that command (the definition's, or a launch's
// override, named by fieldName) is a template the schema can fill: see the
// package doc for what it may contain. Without a schema the command is plain
// text and nothing is checked.
func CheckTemplate(fieldName, command string, schemaRaw json.RawMessage) error {
	s, err := Parse(schemaRaw)
	if err != nil {
		return err
	}
	if s == nil {
		if name := usesParams(command); name != "" {
			return flotilla.Invalid(fieldName, "uses {{ .params.%s }} but the definition has no parameters_schema to declare it", name)
		}
		return nil
	}
	_, _, err = s.template(fieldName, command)
	return err
}

// usesParams is the first parameter a plain command names as a template
// field ({{ .params.NAME }}), "" when it names none: such a command is
// almost certainly a template whose schema is missing (or was removed).
func usesParams(command string) string {
	if !strings.Contains(command, "{{") {
		return ""
	}
	t, err := template.New("command").Parse(command)
	if err != nil || t.Tree == nil {
		return "" // plain text that merely contains braces
	}
	var found string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if found != "" || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) >= 1 && n.Ident[0] == "params" {
				found = strings.Join(append([]string{""}, n.Ident[1:]...), ".")[1:]
				if found == "" {
					found = "…"
				}
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(t.Tree.Root)
	return found
}

// template parses and checks command.
func (s *Schema) template(fieldName, command string) (*template.Template, usage, error) {
	u := usage{printed: map[string]bool{}}
	t, err := template.New("command").Option("missingkey=error").Parse(command)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: ")
		return nil, u, flotilla.Invalid(fieldName, "is not a valid template: %s", msg)
	}
	if len(t.Templates()) > 1 {
		return nil, u, flotilla.Invalid(fieldName, "must not define templates ({{ define }} or {{ block }})")
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return t, u, nil
	}
	c := &checker{s: s, used: u}
	c.list(t.Tree.Root)
	if c.err != "" {
		return nil, u, flotilla.Invalid(fieldName, "%s", c.err)
	}
	return t, u, nil
}

// checker walks a template's tree, following the shell's quoting through
// the text so it knows where each parameter lands.
type checker struct {
	s    *Schema
	used usage
	sh   shellState
	err  string
}

const allowed = "a command template may use only {{ .params.NAME }}, {{ if .params.FLAG }}…{{ else }}…{{ end }} with a boolean FLAG, and string constants such as {{ \"{{\" }}"

func (c *checker) fail(format string, args ...any) {
	if c.err == "" {
		c.err = fmt.Sprintf(format, args...)
	}
}

func (c *checker) list(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		c.node(n)
	}
}

func (c *checker) node(n parse.Node) {
	switch n := n.(type) {
	case *parse.TextNode:
		c.sh.feed(string(n.Text))
	case *parse.CommentNode:
	case *parse.ActionNode:
		arg := c.single(n.Pipe)
		switch a := arg.(type) {
		case *parse.StringNode:
			c.sh.feed(a.Text)
		case *parse.FieldNode:
			name := c.param(a)
			if name == "" {
				return
			}
			c.used.printed[name] = true
			if _, hasDefault := c.s.defaults[name]; !hasDefault && !c.s.required[name] && c.s.Types[name] != TypeBoolean {
				// Else a launch that leaves it out could not be rendered:
				// the author decides now, not each launcher later.
				c.fail("{{ .params.%s }}: a parameter the command prints must be required or have a default (\"default\": \"\" for an empty word)", name)
				return
			}
			if c.s.Types[name] != TypeString {
				c.sh.feed("0") // a number or a boolean: a plain word
				return
			}
			if where := c.sh.unsafe(); where != "" {
				c.fail("{{ .params.%s }} is %s; string parameters are rendered already single-quoted (one shell word), so put them in plain command text, without quotes around them", name, where)
				return
			}
			c.sh.feed("''")
		default:
			c.fail("%s", allowed)
		}
	case *parse.IfNode:
		f, ok := c.single(n.Pipe).(*parse.FieldNode)
		if !ok {
			c.fail("%s", allowed)
			return
		}
		name := c.param(f)
		if name == "" {
			return
		}
		if c.s.Types[name] != TypeBoolean {
			c.fail("{{ if .params.%s }}: only boolean parameters may be tested (%s is a %s)", name, name, c.s.Types[name])
			return
		}
		start := c.sh
		c.list(n.List)
		then := c.sh
		c.sh = start
		c.list(n.ElseList)
		if then.mode != c.sh.mode || then.escaped != c.sh.escaped {
			c.fail("the branches of {{ if .params.%s }} leave the command's quotes in different states; close every quote inside each branch", name)
		}
		c.sh.heredoc = c.sh.heredoc || then.heredoc
		c.sh.wordStart = c.sh.wordStart || then.wordStart
	default:
		c.fail("%s", allowed)
	}
}

// single is the one argument of a pipeline with no variables, no chained
// commands and no function; nil otherwise.
func (c *checker) single(p *parse.PipeNode) parse.Node {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		c.fail("%s", allowed)
		return nil
	}
	return p.Cmds[0].Args[0]
}

// param is the declared parameter a field node names; "" after failing.
func (c *checker) param(f *parse.FieldNode) string {
	if len(f.Ident) != 2 || f.Ident[0] != "params" {
		c.fail("%s is not a parameter: %s", f.String(), allowed)
		return ""
	}
	name := f.Ident[1]
	if _, ok := c.s.Types[name]; !ok {
		c.fail("{{ .params.%s }}: %s is not in parameters_schema.properties", name, name)
		return ""
	}
	return name
}

// shellState follows POSIX sh quoting through the literal text of a
// command: enough to tell whether a place is plain command text, where a
// single-quoted word stays one literal word.
type shellState struct {
	mode      byte // 0 plain, '\'' '"' '`' inside those quotes, '#' in a comment
	escaped   bool // the previous character was an unquoted backslash
	heredoc   bool // a << was seen: later lines may be here-document bodies
	wordStart bool // the next character starts a word (so # starts a comment)
	less      bool // the previous plain character was <
	dollar    bool // the previous plain character was an unquoted $
}

func (s *shellState) feed(text string) {
	for i := 0; i < len(text); i++ {
		ch := text[i]
		if s.escaped {
			s.escaped, s.wordStart, s.less, s.dollar = false, false, false, false
			continue
		}
		switch s.mode {
		case '\'':
			if ch == '\'' {
				s.mode = 0
			}
			continue
		case '"', '`':
			switch ch {
			case '\\':
				s.escaped = true
			case s.mode:
				s.mode = 0
			}
			continue
		case '#':
			if ch == '\n' {
				s.mode, s.wordStart = 0, true
			}
			continue
		}
		less := false
		switch {
		case ch == '\\':
			s.escaped, s.wordStart = true, false
		case ch == '\'' || ch == '"' || ch == '`':
			s.mode, s.wordStart = ch, false
		case ch == '#' && s.wordStart:
			s.mode = '#'
		case ch == '<':
			s.heredoc = s.heredoc || s.less
			s.wordStart, less = true, true
		case strings.IndexByte(" \t\n;&|()>", ch) >= 0:
			s.wordStart = true
		default:
			s.wordStart = false
		}
		s.less = less
		s.dollar = ch == '$'
	}
}

// unsafe says why a single-quoted word placed here would not be one
// literal word; "" when it would be.
func (s shellState) unsafe() string {
	switch {
	case s.escaped:
		return "right after a backslash"
	case s.dollar:
		// bash and busybox sh read $'…' as ANSI-C quoting, where \' does
		// not end the quote: the single-quoted value would not stay one
		// literal word.
		return "right after $ (bash reads $'…' as ANSI-C quoting)"
	case s.mode == '\'':
		return "inside single quotes"
	case s.mode == '"':
		return "inside double quotes"
	case s.mode == '`':
		return "inside backquotes"
	case s.mode == '#':
		return "in a # comment"
	case s.heredoc:
		return "after a << here-document, where quotes are not removed"
	}
	return ""
}

// Quote is s as one single-quoted sh word; each single quote inside is
// closed, escaped with a backslash and reopened.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Render fills command (a template checked with CheckTemplate) with
// resolved params (from Resolve): strings single-quoted, numbers as their
// JSON text, booleans as true or false. Without a schema the command is
// returned as it is. A parameter the command prints that has no value (not
// given, no default) is a field error params.NAME.
func Render(fieldName, command string, schemaRaw json.RawMessage, p flotilla.Params) (string, error) {
	s, err := Parse(schemaRaw)
	if err != nil {
		return "", fmt.Errorf("the definition's parameters_schema: %w", err)
	}
	if s == nil {
		return command, nil
	}
	t, u, err := s.template(fieldName, command)
	if err != nil {
		return "", err
	}
	v := &flotilla.ValidationError{}
	values := map[string]any{}
	for name, typ := range s.Types {
		x, given := p[name]
		switch {
		case !given && typ == TypeBoolean:
			values[name] = false
		case !given:
			if u.printed[name] {
				v.Add("params."+name, "is used by the command and has no default: give a value")
			}
		case typ == TypeString:
			str, _ := x.(string)
			values[name] = Quote(str)
		case typ == TypeBoolean:
			b, _ := x.(bool)
			values[name] = b
		default:
			n, ok := x.(json.Number)
			if _, err := n.Float64(); !ok || err != nil {
				v.Add("params."+name, "must be a %s", typ)
				continue
			}
			values[name] = string(n)
		}
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, map[string]any{"params": values}); err != nil {
		return "", flotilla.Invalid(fieldName, "could not be rendered: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	if b.Len() > flotilla.MaxCommandBytes {
		return "", flotilla.Invalid("params", "make the command %d bytes long; at most %d are allowed", b.Len(), flotilla.MaxCommandBytes)
	}
	return b.String(), nil
}
