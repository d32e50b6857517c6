// Command ynlgo turns the tcptake YNL spec (uapi/tcptake.yaml) into the C
// uapi header and the Go constants, following the naming rules of the
// kernel's YNL C generator (Documentation/userspace-api/netlink/c-code-gen.rst)
// for protocol "genetlink".
//
//	go run ./internal/cmd/ynlgo -spec uapi/tcptake.yaml -c uapi/linux/tcptake.h -go internal/tcptakeh/zconst.go
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
	cOut := flag.String("c", "", "write the C uapi header here")
	goOut := flag.String("go", "", "write the Go constants here")
	flag.Parse()

	raw, err := os.ReadFile(*specPath)
	if err != nil {
		fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(raw, &s); err != nil {
		fatal(fmt.Errorf("%s: %w", *specPath, err))
	}
	if *cOut != "" {
		write(*cOut, genC(&s, *specPath))
	}
	if *goOut != "" {
		src, err := format.Source(genGo(&s, *specPath))
		if err != nil {
			fatal(err)
		}
		write(*goOut, src)
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

func comment(doc string) string {
	doc = strings.TrimSpace(doc)
	if doc == "" {
		return ""
	}
	return strings.ReplaceAll(doc, "\n", " ")
}

func genC(s *spec, specPath string) []byte {
	var b bytes.Buffer
	guard := "_UAPI_LINUX_" + cName(s.Name) + "_H"
	fmt.Fprintf(&b, "/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */\n")
	fmt.Fprintf(&b, "/* Do not edit directly, auto-generated from: */\n/*\t%s */\n", specPath)
	fmt.Fprintf(&b, "/* YNL-GEN uapi header */\n/* To regenerate run: make generate */\n\n")
	fmt.Fprintf(&b, "#ifndef %s\n#define %s\n\n", guard, guard)
	fmt.Fprintf(&b, "#define %s_FAMILY_NAME\t\"%s\"\n#define %s_FAMILY_VERSION\t1\n\n", cName(s.Name), s.Name, cName(s.Name))
	for _, d := range s.Definitions {
		switch d.Type {
		case "const":
			fmt.Fprintf(&b, "#define %s\t%d\n", cName(s.Name, d.Name), d.Value)
		case "enum", "flags":
			b.WriteString("\n")
			if c := comment(d.Doc); c != "" {
				fmt.Fprintf(&b, "/* %s */\n", c)
			}
			fmt.Fprintf(&b, "enum %s_%s {\n", strings.ToLower(cName(s.Name)), strings.ReplaceAll(d.Name, "-", "_"))
			for _, v := range entries(s, d) {
				fmt.Fprintf(&b, "\t%s = %d,\n", v.c, v.v)
			}
			b.WriteString("};\n")
		}
	}
	for _, set := range s.AttributeSets {
		pc, _ := attrPrefix(s, set.Name)
		b.WriteString("\nenum {\n")
		for i, a := range set.Attributes {
			if i == 0 {
				fmt.Fprintf(&b, "\t%s_%s = 1,\n", pc, cName(a.Name))
			} else {
				fmt.Fprintf(&b, "\t%s_%s,\n", pc, cName(a.Name))
			}
		}
		fmt.Fprintf(&b, "\n\t__%s_MAX,\n\t%s_MAX = (__%s_MAX - 1)\n};\n", pc, pc, pc)
	}
	b.WriteString("\nenum {\n")
	for i, o := range s.Operations.List {
		if i == 0 {
			fmt.Fprintf(&b, "\t%s_CMD_%s = 1,\n", cName(s.Name), cName(o.Name))
		} else {
			fmt.Fprintf(&b, "\t%s_CMD_%s,\n", cName(s.Name), cName(o.Name))
		}
	}
	fmt.Fprintf(&b, "\n\t__%s_CMD_MAX,\n\t%s_CMD_MAX = (__%s_CMD_MAX - 1)\n};\n\n", cName(s.Name), cName(s.Name), cName(s.Name))
	for _, g := range s.McastGroups.List {
		fmt.Fprintf(&b, "#define %s_MCGRP_%s\t\"%s\"\n", cName(s.Name), cName(g.Name), g.Name)
	}
	fmt.Fprintf(&b, "\n#endif /* %s */\n", guard)
	return b.Bytes()
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
