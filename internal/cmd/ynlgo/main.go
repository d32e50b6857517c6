// Command ynlgo turns the tcptake YNL spec (uapi/tcptake.yaml) into Go
// constants, named after the C names the kernel's YNL generator gives them
// (Documentation/userspace-api/netlink/c-code-gen.rst), and a cgo package
// pairing every Go constant with the C header ynl-gen-c.py generated from
// the same spec (ci/ynl-gen.sh), which uapicheck's test compares.
//
//	go run ./internal/cmd/ynlgo -spec uapi/tcptake.yaml -go internal/tcptakeh/zconst.go \\
//		-cgocheck internal/tcptakeh/uapicheck/zuapi.go
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

type entry struct {
	Name  string
	Value *int
	Doc   string
}

// UnmarshalYAML accepts both "- name" and "- {name: x, value: 1}" entries.
func (e *entry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.Name = n.Value
		return nil
	}
	type plain entry
	return n.Decode((*plain)(e))
}

type definition struct {
	Type       string
	Name       string
	Value      int
	Doc        string
	ValueStart *int `yaml:"value-start"`
	Entries    []entry
}

type attr struct {
	Name string
	Type string
	Doc  string
}

type attrSet struct {
	Name       string
	Doc        string
	Attributes []attr
}

type op struct {
	Name string
	Doc  string
}

type spec struct {
	Name          string
	Doc           string
	Definitions   []definition
	AttributeSets []attrSet `yaml:"attribute-sets"`
	Operations    struct{ List []op }
	McastGroups   struct{ List []struct{ Name string } } `yaml:"mcast-groups"`
}

func main() {
	specPath := flag.String("spec", "uapi/tcptake.yaml", "YNL spec")
	goOut := flag.String("go", "", "write the Go constants here")
	cgoOut := flag.String("cgocheck", "", "write the cgo cross-check package here")
	flag.Parse()

	raw, err := os.ReadFile(*specPath)
	if err != nil {
		fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(raw, &s); err != nil {
		fatal(fmt.Errorf("%s: %w", *specPath, err))
	}
	for _, out := range []struct {
		path string
		gen  func(*spec, string) []byte
	}{{*goOut, genGo}, {*cgoOut, genCgoCheck}} {
		if out.path == "" {
			continue
		}
		src, err := format.Source(out.gen(&s, *specPath))
		if err != nil {
			fatal(err)
		}
		write(out.path, src)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ynlgo:", err)
	os.Exit(1)
}

func write(path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fatal(err)
	}
}

// cName is the C identifier of a spec name: "fin-wait1" -> "FIN_WAIT1".
func cName(parts ...string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.Join(parts, "_"), "-", "_"))
}

// goName is the Go identifier of spec names: "snd-una" -> "SndUna".
func goName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		for _, w := range strings.Split(p, "-") {
			if w != "" {
				b.WriteString(strings.ToUpper(w[:1]) + w[1:])
			}
		}
	}
	return b.String()
}

type value struct {
	c, goN string
	v      int
	doc    string
}

// constant is one Go constant and the C name it stands for.
type constant struct{ c, goN string }

// constants lists every generated constant with its C twin.
func constants(s *spec) []constant {
	out := []constant{{cName(s.Name, "family-version"), "FamilyVersion"}}
	for _, d := range s.Definitions {
		switch d.Type {
		case "const":
			out = append(out, constant{cName(s.Name, d.Name), goName(d.Name)})
		case "enum", "flags":
			for _, v := range entries(s, d) {
				out = append(out, constant{v.c, v.goN})
			}
		}
	}
	for _, set := range s.AttributeSets {
		pc, pg := attrPrefix(s, set.Name)
		for _, a := range set.Attributes {
			out = append(out, constant{pc + "_" + cName(a.Name), pg + goName(a.Name)})
		}
		out = append(out, constant{pc + "_MAX", pg + "Max"})
	}
	for _, o := range s.Operations.List {
		out = append(out, constant{cName(s.Name, "cmd", o.Name), "Cmd" + goName(o.Name)})
	}
	return append(out, constant{cName(s.Name, "cmd-max"), "CmdMax"})
}

// entries returns the enum or flag values of a definition: enums count up
// from value-start (0) or an explicit value, flags are bits from bit 0.
func entries(s *spec, d definition) []value {
	var out []value
	next := 0
	if d.ValueStart != nil {
		next = *d.ValueStart
	}
	for i, e := range d.Entries {
		v := next
		if e.Value != nil {
			v = *e.Value
		}
		if d.Type == "flags" {
			v = 1 << i
		}
		next = v + 1
		out = append(out, value{cName(s.Name, d.Name, e.Name), goName(d.Name, e.Name), v, e.Doc})
	}
	return out
}

// attrPrefix follows YNL: the set named like the family is "<family>-a-",
// every other set "<family>-a-<set>-".
func attrPrefix(s *spec, set string) (c, g string) {
	if set == s.Name {
		return cName(s.Name, "a"), "A"
	}
	return cName(s.Name, "a", set), "A" + goName(set)
}

// genCgoCheck writes package uapicheck: every Go constant next to the
// value the C header gives its C name (compiled by cgo), for
// uapicheck's test to compare.
func genCgoCheck(s *spec, specPath string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/cmd/ynlgo from %s. DO NOT EDIT.\n\n", specPath)
	b.WriteString("//go:build cgo\n\npackage uapicheck\n\n")
	b.WriteString("// #cgo CFLAGS: -I${SRCDIR}/../../../uapi\n// #include <linux/tcptake.h>\nimport \"C\"\n\n")
	b.WriteString("import \"github.com/tcptake/tcptake/internal/tcptakeh\"\n\n")
	b.WriteString("// Strings pairs the Go string constants with the header's.\n")
	b.WriteString("var Strings = []struct{ Name, Go, C string }{\n")
	fmt.Fprintf(&b, "\t{\"FamilyName\", tcptakeh.FamilyName, C.%s_FAMILY_NAME},\n", cName(s.Name))
	for _, g := range s.McastGroups.List {
		fmt.Fprintf(&b, "\t{\"Mcgrp%s\", tcptakeh.Mcgrp%s, C.%s_MCGRP_%s},\n", goName(g.Name), goName(g.Name), cName(s.Name), cName(g.Name))
	}
	b.WriteString("}\n\n// Ints pairs the Go integer constants with the header's.\n")
	b.WriteString("var Ints = []struct {\n\tName  string\n\tGo, C int64\n}{\n")
	for _, c := range constants(s) {
		fmt.Fprintf(&b, "\t{%q, tcptakeh.%s, C.%s},\n", c.goN, c.goN, c.c)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func comment(doc string) string {
	doc = strings.TrimSpace(doc)
	if doc == "" {
		return ""
	}
	return strings.ReplaceAll(doc, "\n", " ")
}

func genGo(s *spec, specPath string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/cmd/ynlgo from %s. DO NOT EDIT.\n\n", specPath)
	fmt.Fprintf(&b, "package tcptakeh\n\n")
	fmt.Fprintf(&b, "// Family identity.\nconst (\n\tFamilyName = %q\n\tFamilyVersion = 1\n)\n\n", s.Name)
	for _, g := range s.McastGroups.List {
		fmt.Fprintf(&b, "// Mcgrp%s is a multicast group name.\nconst Mcgrp%s = %q\n\n", goName(g.Name), goName(g.Name), g.Name)
	}
	for _, d := range s.Definitions {
		switch d.Type {
		case "const":
			fmt.Fprintf(&b, "// %s: %s\nconst %s = %d\n\n", goName(d.Name), comment(d.Doc), goName(d.Name), d.Value)
		case "enum", "flags":
			fmt.Fprintf(&b, "// %s %s: %s\nconst (\n", goName(d.Name), d.Type, comment(d.Doc))
			for _, v := range entries(s, d) {
				if c := comment(v.doc); c != "" {
					fmt.Fprintf(&b, "\t// %s: %s\n", v.goN, c)
				}
				fmt.Fprintf(&b, "\t%s = %d\n", v.goN, v.v)
			}
			b.WriteString(")\n\n")
		}
	}
	for _, set := range s.AttributeSets {
		_, pg := attrPrefix(s, set.Name)
		fmt.Fprintf(&b, "// Attribute set %q: %s\nconst (\n", set.Name, comment(set.Doc))
		for i, a := range set.Attributes {
			fmt.Fprintf(&b, "\t%s%s = %d // %s\n", pg, goName(a.Name), i+1, comment(a.Doc))
		}
		fmt.Fprintf(&b, "\t%sMax = %d\n)\n\n", pg, len(set.Attributes))
	}
	b.WriteString("// Commands.\nconst (\n")
	for i, o := range s.Operations.List {
		fmt.Fprintf(&b, "\tCmd%s = %d\n", goName(o.Name), i+1)
	}
	fmt.Fprintf(&b, "\tCmdMax = %d\n)\n", len(s.Operations.List))
	return b.Bytes()
}
