package bpf

import (
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
)

// TestSteerLayout checks the Go mirrors against the object's BTF: sizes,
// and the limits the Go side assumes.
func TestSteerLayout(t *testing.T) {
	spec, err := loadSteer()
	if err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]uintptr{
		"ruleset":     unsafe.Sizeof(Ruleset{}),
		"rule":        unsafe.Sizeof(Rule{}),
		"list":        unsafe.Sizeof(List{}),
		"counter_val": unsafe.Sizeof(Counter{}),
		"stats":       unsafe.Sizeof(Stats{}),
	} {
		var st *btf.Struct
		if err := spec.Types.TypeByName(name, &st); err != nil {
			t.Fatalf("struct %s: %v", name, err)
		}
		if uintptr(st.Size) != size {
			t.Errorf("struct %s: %d bytes in the object, %d in Go", name, st.Size, size)
		}
	}
	if len(Ruleset{}.Rules) != MaxRules || len(Ruleset{}.Lists) != MaxLists || MaxSlots != 2*MaxRules || ListLen != 15 {
		t.Errorf("limits: rules %d, lists %d, slots %d, list length %d", len(Ruleset{}.Rules), len(Ruleset{}.Lists), MaxSlots, ListLen)
	}
	if m := spec.Maps["rulesets"]; m == nil || m.InnerMap == nil || m.InnerMap.ValueSize != uint32(RulesetSize) {
		t.Errorf("rulesets inner map: %+v", m)
	}
}
